"""searchgym: Gymnasium environments for LLM search agents on synthetic, solvable worlds.

Importing the package registers its envs (``SearchQA-v0`` and friends) with Gymnasium::

    import gymnasium as gym
    import searchgym  # noqa: F401

    env = gym.make("SearchQA-v0")
"""

__version__ = "0.1.0"

import importlib.util as _importlib_util
from typing import Any as _Any

from searchgym.envs.registration import register_envs as _register_envs

_register_envs()

# ``vf-eval searchgym`` imports this package and takes the verifiers ``Taskset`` and ``Harness``
# subclasses named in ``__all__``; they load lazily (and only where verifiers is installed), so
# ``import searchgym`` stays light.
_VERIFIERS_EXPORTS = ("SearchGymTaskset", "SearchGymHarness")
__all__ = list(_VERIFIERS_EXPORTS) if _importlib_util.find_spec("verifiers") is not None else []


def __getattr__(name: str) -> _Any:
    if name in _VERIFIERS_EXPORTS:
        from searchgym.integrations import verifiers as _verifiers

        return getattr(_verifiers, name)
    raise AttributeError(f"module 'searchgym' has no attribute {name!r}")
