"""A world's "targets of X under r" and "sources of Y under r" look-ups, in two layouts.

:class:`DictLinks` is two dicts keyed by ``(entity, relation)``: ~650 B per entity, a look-up
in ~0.15 µs. It serves a world built in this process, whose corpus writing and task generation
ask millions of look-ups (every relation of every entity, both ways, then the solution counts
of every candidate question).

:class:`ArrayLinks` keeps the column file's int32 edge columns and adds ~23 B per entity
(measured with ``benchmarks/bench_world_memory.py``): edges are stored grouped by source (the
world's sorted order), so a node's out-edges are one run given by its start and end; its
in-edges are one run of a stable argsort by target. A look-up slices the run and filters it by
relation code with numpy (a few µs), and the last :data:`MEMO_ENTRIES` answers are memoised
(a fixed ~15 MB at most, whatever the world's size), so a walk that comes back (an audit
re-measuring tasks on a loaded world) pays the dict's price the second time. It serves a world
read from its column file: an env's grader and simulated engines ask few look-ups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from itertools import groupby
from operator import itemgetter

import numpy as np

MEMO_ENTRIES = 1 << 16
"""Look-up answers an :class:`ArrayLinks` keeps (oldest dropped first)."""


class DictLinks:
    """Look-ups from the world's sorted edge list, as dicts (see the module docstring)."""

    __slots__ = ("_targets", "_sources")

    def __init__(self, edges: list[tuple[str, str, str]]) -> None:
        # Sorted edges come grouped by (source, relation): each group is one targets list.
        self._targets: dict[tuple[str, str], list[str]] = {
            key: [target for _, _, target in group] for key, group in groupby(edges, itemgetter(0, 1))
        }
        sources: dict[tuple[str, str], list[str]] = defaultdict(list)
        for source, relation, target in edges:
            sources[(target, relation)].append(source)
        self._sources = dict(sources)

    def targets(self, entity_id: str, relation: str) -> list[str]:
        return list(self._targets.get((entity_id, relation), ()))

    def sources(self, entity_id: str, relation: str) -> list[str]:
        return list(self._sources.get((entity_id, relation), ()))


class ArrayLinks:
    """Look-ups from int32 edge columns in the world's sorted order (see the module docstring).

    ``row_of`` maps a node id to its row (None for an unknown id) and ``id_of`` back; edges
    are ``(sources[i], relations[i], targets[i])`` as rows and codes into ``relation_names``.
    """

    def __init__(
        self,
        node_count: int,
        sources: np.ndarray,
        relation_codes: np.ndarray,
        relation_names: Sequence[str],
        targets: np.ndarray,
        row_of: Callable[[str], int | None],
        id_of: Callable[[int], str],
    ) -> None:
        self._row_of, self._id_of = row_of, id_of
        self._codes = {name: code for code, name in enumerate(relation_names)}
        self._sources, self._relations, self._targets = sources, relation_codes, targets
        self._out_start = np.zeros(node_count, dtype=np.int32)
        self._out_end = np.zeros(node_count, dtype=np.int32)
        if len(sources):
            starts = np.flatnonzero(np.r_[True, sources[1:] != sources[:-1]])
            if len(np.unique(sources[starts])) != len(starts):
                raise ValueError("edges are not grouped by source")
            self._out_start[sources[starts]] = starts
            self._out_end[sources[starts]] = np.r_[starts[1:], len(sources)]
        self._in_order = np.argsort(targets, kind="stable").astype(np.int32)
        self._in_bounds = np.searchsorted(targets[self._in_order], np.arange(node_count + 1)).astype(np.int32)
        self._memo: dict[tuple[str, str, bool], list[str]] = {}

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_memo": {}}

    def targets(self, entity_id: str, relation: str) -> list[str]:
        return list(self._walk(entity_id, relation, True))

    def sources(self, entity_id: str, relation: str) -> list[str]:
        return list(self._walk(entity_id, relation, False))

    def _walk(self, entity_id: str, relation: str, forward: bool) -> list[str]:
        key = (entity_id, relation, forward)
        found = self._memo.get(key)
        if found is None:
            row, code = self._row_of(entity_id), self._codes.get(relation)
            if row is None or code is None:
                return []
            if forward:  # a source's out-edges are one run of the edge columns
                low, high, ends = int(self._out_start[row]), int(self._out_end[row]), self._targets
            else:  # a target's in-edges are one run of the argsort by target
                low, high, ends = int(self._in_bounds[row]), int(self._in_bounds[row + 1]), self._sources
            if low == high:  # no edge that way at all: nothing to slice (most look-ups)
                return []
            edges = slice(low, high) if forward else self._in_order[low:high]
            rows = ends[edges][self._relations[edges] == code]
            found = [self._id_of(node) for node in rows.tolist()]
            memo = self._memo
            if len(memo) >= MEMO_ENTRIES:
                try:  # the oldest first (dicts keep insertion order)
                    memo.pop(next(iter(memo)), None)
                except (RuntimeError, StopIteration):  # another thread changed it meanwhile
                    pass
            memo[key] = found
        return found
