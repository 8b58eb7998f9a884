"""Gymnasium's vector info convention, built column-wise: per-key arrays plus ``_key`` masks.

Why: :class:`~searchgym.envs.vector.BatchedSearchQAVectorEnv` merges the infos of every sub-env
on every step, and Gymnasium's ``VectorEnv._add_info`` is called once per sub-env info and
touches every key each time (new mask arrays, type tests); gathering each key's values first
allocates one value array and one mask per key per step. The result is what ``_add_info`` over
the same infos in order gives: same keys, key order, dtypes, masks, nested dicts and
``final_obs`` object array (tested against ``_add_info``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["merge_infos"]


def merge_infos(num_envs: int, env_infos: Sequence[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """The vector info of ``(sub-env index, info)`` pairs, in order."""
    columns: dict[str, tuple[list[int], list[Any]]] = {}
    for env_num, info in env_infos:
        for key, value in info.items():
            column = columns.get(key)
            if column is None:
                columns[key] = column = ([], [])
            column[0].append(env_num)
            column[1].append(value)
    infos: dict[str, Any] = {}
    every_env = list(range(num_envs))
    all_set = np.ones(num_envs, dtype=np.bool_)  # copied per key: ndarray.copy is cheaper than np.ones
    for key, (env_nums, values) in columns.items():
        first = values[0]
        whole = env_nums == every_env  # every sub-env once, in order (the common case): slices, no index
        if key != "final_obs" and isinstance(first, dict):
            infos[key] = merge_infos(num_envs, list(zip(env_nums, values)))
        else:
            array = _info_array(num_envs, key, first)
            if array.dtype == object:  # element by element: a list value must stay one object
                for env_num, value in zip(env_nums, values):
                    array[env_num] = value
            elif whole:
                array[:] = values
            else:
                array[env_nums] = values  # one numpy assignment, the same casts as one by one
            infos[key] = array
        if whole:
            infos[f"_{key}"] = all_set.copy()
        else:
            mask = np.zeros(num_envs, dtype=np.bool_)
            mask[env_nums] = True
            infos[f"_{key}"] = mask
    return infos


def _info_array(num_envs: int, key: str, first: Any) -> np.ndarray:
    """The batch array Gymnasium's ``_add_info`` allocates for a key whose first value is ``first``."""
    kind = type(first)
    if key != "final_obs":
        if kind is int or kind is float or kind is bool or issubclass(kind, np.number):
            return np.zeros(num_envs, dtype=kind)
        if isinstance(first, np.ndarray):
            return np.zeros((num_envs, *first.shape), dtype=first.dtype)
    return np.empty(num_envs, dtype=object)  # None in every slot, as np.full(..., None) gives
