"""searchgym: Gymnasium environments for LLM search agents on synthetic, solvable worlds.

Importing the package registers its envs (``SearchQA-v0`` and friends) with Gymnasium::

    import gymnasium as gym
    import searchgym  # noqa: F401

    env = gym.make("SearchQA-v0")
"""

__version__ = "0.1.0"

from searchgym.envs.registration import register_envs as _register_envs

_register_envs()
