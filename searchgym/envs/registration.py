"""Register every bundled env spec with Gymnasium on ``import searchgym``.

Each spec in ``envs/*.toml`` becomes ``<id>`` and ``searchgym/<id>`` (namespaced, so it cannot
clash with another package's ids). Entry points are strings, so registration also works in
spawned vector-env workers and Ray actors that import searchgym.
"""

from __future__ import annotations

import gymnasium as gym

from searchgym.envs.config import load_spec, spec_files

ENTRY_POINT = "searchgym.envs.search_qa:SearchQAEnv"
VECTOR_ENTRY_POINT = "searchgym.envs.vector:BatchedSearchQAVectorEnv"


def _vector_entry_point() -> str | None:
    try:
        import searchgym.envs.vector  # noqa: F401
    except ImportError:
        return None
    return VECTOR_ENTRY_POINT


def register_envs() -> list[str]:
    """Register all bundled specs (idempotent); returns the ids registered."""
    registered = []
    vector_entry = _vector_entry_point()
    for env_id in spec_files():
        config = load_spec(env_id)
        for full_id in (env_id, f"searchgym/{env_id}"):
            if full_id in gym.registry:
                continue
            gym.register(
                id=full_id,
                entry_point=ENTRY_POINT,
                vector_entry_point=vector_entry,
                kwargs={"spec": env_id},
                nondeterministic=config.nondeterministic,
                disable_env_checker=False,
            )
            registered.append(full_id)
    return registered
