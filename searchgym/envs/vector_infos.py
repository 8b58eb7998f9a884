"""Gymnasium's vector info convention, built column-wise: per-key arrays plus ``_key`` masks.

Why: :class:`~searchgym.envs.vector.BatchedSearchQAVectorEnv` merges the infos of every sub-env
on every step, and Gymnasium's ``VectorEnv._add_info`` is called once per sub-env info and
touches every key each time (new mask arrays, type tests); gathering each key's values first
allocates one value array and one mask per key per step. Keys held by the same info shapes are
read together (one ``itemgetter`` per info and a ``zip`` to transpose them) instead of by a
lookup per key per info; what remains is numpy's cost per column and mask. The result is what
``_add_info`` over the same infos in order gives: same keys, key order, dtypes, masks, nested
dicts and ``final_obs`` object array (tested against ``_add_info``).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import numpy as np

__all__ = ["merge_infos"]


def merge_infos(num_envs: int, env_infos: Sequence[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """The vector info of ``(sub-env index, info)`` pairs, in order."""
    env_nums = [env_num for env_num, _ in env_infos]
    dicts = [info for _, info in env_infos]
    # The sub-envs' infos come in a few shapes (a step's, a reset's). Keys held by the same
    # shapes are held at the same positions: each such group of keys is read off its infos by
    # one ``itemgetter`` per info and transposed by ``zip`` (a lookup per key per info in
    # Python cost ~1 µs a key a step), and its sub-envs and mask are worked out once.
    shapes: dict[tuple[str, ...], list[int]] = {}  # first seen first: Gymnasium's key order
    for position, info in enumerate(dicts):
        shapes.setdefault(tuple(info), []).append(position)
    keys = list(dict.fromkeys([key for shape in shapes for key in shape]))
    groups = list(shapes.values())
    holders: dict[tuple[int, ...], list[str]]  # the shapes that hold them -> keys
    if len(shapes) == 1:
        holders = {(0,): keys} if keys else {}
    else:
        shape_sets = [set(shape) for shape in shapes]
        everywhere = set(keys).intersection(*shape_sets)
        every_shape = tuple(range(len(shapes)))
        holders = {}
        for key in keys:
            owners = every_shape if key in everywhere else tuple(s for s, held in enumerate(shape_sets) if key in held)
            holders.setdefault(owners, []).append(key)
    every_env = list(range(num_envs))
    columns: dict[str, tuple[np.ndarray | dict[str, Any], np.ndarray]] = {}
    for owners, held_keys in holders.items():
        if len(owners) == len(shapes):
            positions = list(range(len(dicts)))
        else:
            positions = sorted(p for s in owners for p in groups[s])
        nums = [env_nums[p] for p in positions]
        whole = nums == every_env  # every sub-env once, in order (the common case)
        if whole:
            mask = np.ones(num_envs, dtype=np.bool_)
        else:
            mask = np.zeros(num_envs, dtype=np.bool_)
            mask[nums] = True
        held_infos = [dicts[p] for p in positions]
        if len(held_keys) == 1:
            values_of: list[Sequence[Any]] = [[info[held_keys[0]] for info in held_infos]]
        else:
            values_of = list(zip(*map(itemgetter(*held_keys), held_infos)))
        for key, values in zip(held_keys, values_of):
            first = values[0]
            if key != "final_obs" and isinstance(first, dict):
                column: np.ndarray | dict[str, Any] = merge_infos(num_envs, list(zip(nums, values)))
            else:
                column = _info_column(num_envs, key, first, nums, values, whole)
            columns[key] = column, mask
    infos: dict[str, Any] = {}
    for key in keys:
        column, mask = columns[key]
        infos[key] = column
        infos[f"_{key}"] = mask.copy()  # ndarray.copy is cheaper than a new np.ones
    return infos


def _info_column(
    num_envs: int, key: str, first: Any, nums: list[int], values: Sequence[Any], whole: bool
) -> np.ndarray:
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
    if whole:  # each value one object, as the loop below stores it (a list stays a list)
        return np.fromiter(values, dtype=object, count=num_envs)
    array = np.empty(num_envs, dtype=object)  # None in every slot, as np.full(..., None) gives
    if len(set(nums)) == len(nums):  # one assignment; a sub-env set twice takes the later value below
        array[nums] = np.fromiter(values, dtype=object, count=len(values))
        return array
    for env_num, value in zip(nums, values):  # element by element: a list value stays one object
        array[env_num] = value
    return array
