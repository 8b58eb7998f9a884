"""Gymnasium's vector info convention, built column-wise: per-key arrays plus ``_key`` masks.

Why: :class:`~searchgym.envs.vector.BatchedSearchQAVectorEnv` merges the infos of every sub-env
on every step, and Gymnasium's ``VectorEnv._add_info`` is called once per sub-env info and
touches every key each time (new mask arrays, type tests); gathering each key's values first
allocates one value array and one mask per key per step. The result is what ``_add_info`` over
the same infos in order gives: same keys, key order, dtypes, masks, nested dicts and
``final_obs`` object array (tested against ``_add_info``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["merge_infos"]


def merge_infos(num_envs: int, env_infos: Sequence[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """The vector info of ``(sub-env index, info)`` pairs, in order."""
    env_nums = [env_num for env_num, _ in env_infos]
    dicts = [info for _, info in env_infos]
    # The sub-envs' infos come in a few shapes (a step's, a reset's): a key every shape has is
    # gathered by one lookup per info, in order; the others by a membership test per info.
    signatures = dict.fromkeys([tuple(info) for info in dicts])  # first seen first: key order
    keys: Iterable[str] = dict.fromkeys([key for signature in signatures for key in signature])
    everywhere = set(keys).intersection(*signatures) if len(signatures) > 1 else set(keys)
    every_env = list(range(num_envs))
    whole_step = env_nums == every_env  # every sub-env once, in order (the common case)
    all_set = np.ones(num_envs, dtype=np.bool_)  # copied per key: ndarray.copy is cheaper than np.ones
    infos: dict[str, Any] = {}
    for key in keys:
        if key in everywhere:
            nums, values, whole = env_nums, [info[key] for info in dicts], whole_step
        else:
            present = [(env_num, info[key]) for env_num, info in env_infos if key in info]
            nums, values = [env_num for env_num, _ in present], [value for _, value in present]
            whole = nums == every_env
        first = values[0]
        if key != "final_obs" and isinstance(first, dict):
            infos[key] = merge_infos(num_envs, list(zip(nums, values)))
        else:
            infos[key] = _info_column(num_envs, key, first, nums, values, whole)
        if whole:
            infos[f"_{key}"] = all_set.copy()
        else:
            mask = np.zeros(num_envs, dtype=np.bool_)
            mask[nums] = True
            infos[f"_{key}"] = mask
    return infos


def _info_column(num_envs: int, key: str, first: Any, nums: list[int], values: list[Any], whole: bool) -> np.ndarray:
    """One key's batch array, ``values`` at sub-envs ``nums``, in the dtype Gymnasium's
    ``_add_info`` allocates for a key whose first value is ``first``, with the same casts."""
    kind = type(first)
    if key != "final_obs":
        if kind is int or kind is float or kind is bool or issubclass(kind, np.number):
            if whole:  # one conversion instead of zeros and an assignment
                return np.array(values, dtype=kind)
            array = np.zeros(num_envs, dtype=kind)
            array[nums] = values  # one numpy assignment, the same casts as one by one
            return array
        if isinstance(first, np.ndarray):
            array = np.zeros((num_envs, *first.shape), dtype=first.dtype)
            if whole:
                array[:] = values
            else:
                array[nums] = values
            return array
    array = np.empty(num_envs, dtype=object)  # None in every slot, as np.full(..., None) gives
    for env_num, value in zip(nums, values):  # element by element: a list value stays one object
        array[env_num] = value
    return array
