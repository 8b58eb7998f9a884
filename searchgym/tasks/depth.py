"""Measured task depth: the fewest searches a knowledge-free agent needs to gather the evidence.

A hop label is a claim; this module measures it, with the env's own engine and top-k. The
*knowledge-free agent* knows only what it has read: it may search the question text and the
names of entities it has seen (in the question or in earlier results), and open the page of any
article a result passage belongs to (the env's ``<access>``, which shows the article's first
:data:`~searchgym.corpus.page.PAGE_MAX_PASSAGES` passages); it has found a gold fact when a
passage it retrieved states it (as the env's evidence recall counts it). Every search and every
open is one retrieval call, and ``min_searches`` is the number of calls of the smallest plan
that covers every evidence unit of the task. Opens are query nodes like names: a search
*reveals* the names its results mention and the pages they belong to.

How it is computed, and why it is exact where it claims to be:

* every entity name is searched once (batched) and its top-k rows kept: that gives, per name,
  the passages it retrieves and the names and pages those passages *reveal* (a sparse reveal
  graph), and, per passage, which queries (name searches, page opens) retrieve it;
* a multi-source BFS from the question's names (plus the question-text query) over the reveal
  graph gives ``delta(q)``, the searches needed before ``q`` can be asked; a unit is covered at
  the earliest ``delta(q) + 1`` over the queries ``q`` that retrieve one of its passages. The
  largest of these is a lower bound (LB) on ``min_searches``; a BFS-tree path to each chosen
  query, merged, is a plan and so an upper bound (UB);
* when LB < UB, an IDA* search over plans (:mod:`searchgym.tasks.depth_search`) finds the
  exact minimum within a node budget; beyond it the task keeps UB with ``exact = False`` and
  LB as its bound. Deep tasks (10-20 units, where IDA* never fits) ask instead for the
  integer program of :mod:`searchgym.tasks.plan_milp` (``DepthQuery.prove``) on the sub-graph
  a plan of at most UB queries can use: its optimum is the minimum, and where its node limit
  stops it first, its dual bound is still a proven LB.

For an honest k-hop chain LB == UB == k and no search is needed. The BFS runs on index arrays
(numpy gathers over CSR rows) and stops as soon as every unit is reached, so one task costs a
few array operations per level — which is what lets depth be measured for 100k-entity worlds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from searchgym.corpus.corpus import Corpus
from searchgym.corpus.page import page_passages
from searchgym.search.grounding import Grounder
from searchgym.tasks.depth_graph import FAR, MAX_DEPTH, Csr
from searchgym.tasks.depth_packing import packing_bound
from searchgym.tasks.depth_search import exact_search
from searchgym.tasks.plan_milp import DEFAULT_NODE_LIMIT, PlanGraph, solve_min_plan
from searchgym.world.world import World

__all__ = ["MAX_DEPTH", "OPEN", "QUESTION", "Depth", "DepthMeter", "DepthQuery", "packing_bound"]

QUESTION = "\0question"  # the question-text query, as it appears in a plan
OPEN = "open:"  # a plan step opening the page of the entity whose id follows
DEFAULT_NODE_BUDGET = 20_000


@dataclass(frozen=True)
class DepthQuery:
    """What depth is measured for: the question and its evidence units (passage ids per unit)."""

    question: str
    units: tuple[tuple[str, ...], ...]
    needed: int = 0  # a lower bound below this rejects the task anyway: skip the exact search
    # Further texts the agent may search at once (an obfuscated question's local descriptions,
    # "a painter born in the late 1950s"): merged into the question query, so they cost nothing,
    # which can only make the measured depth smaller (the claim stays a lower bound).
    parts: tuple[str, ...] = ()
    # Also bound by packing: units no single query covers together need a query each.
    packing: bool = False
    # Where the bounds differ, prove with the integer program of plan_milp (deep tasks of 10-20
    # units, beyond the IDA* search) whether min_searches >= prove (exact when it is less), or
    # 0: no integer program. The cost grows with ``prove``: set it to the depth a label needs.
    prove: int = 0


@dataclass(frozen=True)
class Depth:
    """``min_searches`` (``None`` when no knowledge-free plan reaches every unit), its lower
    bound, whether it is exact, and whether the question-text search alone retrieves each unit."""

    min_searches: int | None
    lower_bound: int | None
    exact: bool
    question_covers: tuple[bool, ...]
    plan: tuple[str, ...] = ()  # queries of a minimal (or the UB) plan: entity ids or QUESTION
    question_names: frozenset[str] = frozenset()  # entities named by the question search's results


class DepthMeter:
    """Measures depth for many tasks of one corpus with one engine and top-k."""

    def __init__(
        self,
        world: World,
        corpus: Corpus,
        engine: object,
        top_k: int,
        *,
        node_budget: int = DEFAULT_NODE_BUDGET,
        batch_size: int = 4096,
        open_pages: bool = True,
        milp_node_limit: int = DEFAULT_NODE_LIMIT,
    ) -> None:
        self.world, self.corpus, self.engine, self.top_k = world, corpus, engine, int(top_k)
        self.node_budget, self.milp_node_limit = node_budget, milp_node_limit
        self.grounder = Grounder(world, max_edit_distance=0)
        self.row_of = {passage.doc_id: row for row, passage in enumerate(corpus.passages)}
        self.entity_ids = list(world.entities)
        self.index_of = {e: i for i, e in enumerate(self.entity_ids)}
        self.passage_mentions = Csr(
            [sorted(self.index_of[m] for m in p.mentions if m in self.index_of) for p in corpus.passages]
        )
        # query nodes: one name search per entity, then (with open_pages) one page open per article
        names = [world.name(e) for e in self.entity_ids]
        self.opened = [e for e in self.entity_ids if corpus.pages.get(e)] if open_pages else []
        self.node_count = len(self.entity_ids) + len(self.opened)
        open_node = {e: len(self.entity_ids) + j for j, e in enumerate(self.opened)}
        self.open_of_row = np.full(len(corpus.passages), -1, dtype=np.int32)
        for passage, row in zip(corpus.passages, range(len(corpus.passages))):
            if passage.kind == "page" and passage.entity_id in open_node:
                self.open_of_row[row] = open_node[passage.entity_id]
        results: list[list[int]] = []
        for start in range(0, len(names), batch_size):
            for row_hits in engine.search(names[start : start + batch_size], self.top_k):  # type: ignore[attr-defined]
                results.append([self.row_of[h.doc_id] for h in row_hits if h.doc_id in self.row_of])
        search_rows = len(results)
        results += [[self.row_of[d] for d in page_passages(corpus, e)] for e in self.opened]
        self.results = Csr(results)
        self.reveal = Csr(
            [
                self._revealed(np.asarray(rows, dtype=np.int64), opens=query < search_rows).tolist()
                for query, rows in enumerate(results)
            ]
        )
        retrieved_by: list[list[int]] = [[] for _ in corpus.passages]
        revealed_by: list[list[int]] = [[] for _ in range(self.node_count)]
        for query, rows in enumerate(results):
            for row in rows:
                retrieved_by[row].append(query)
            for other in self.reveal.row(query):
                revealed_by[int(other)].append(query)
        self.retrieved_by = Csr(retrieved_by)
        self.revealed_by = Csr(revealed_by)

    def _revealed(self, rows: np.ndarray, *, opens: bool) -> np.ndarray:
        """What retrieving ``rows`` lets the agent ask next: the names they mention and, for
        search results, the pages they belong to (a result can be opened; an open page's own
        passages open nothing new)."""
        names = self.passage_mentions.gather(rows)
        if not opens:
            return np.unique(names)
        pages = self.open_of_row[rows] if len(rows) else np.empty(0, dtype=np.int32)
        return np.unique(np.concatenate([names, pages[pages >= 0]]).astype(np.int32))

    # -- public -------------------------------------------------------------------------------
    def measure_many(self, queries: Sequence[DepthQuery], batch_size: int = 4096) -> list[Depth]:
        """Depth of every query (question searches batched)."""
        out: list[Depth] = []
        for start in range(0, len(queries), batch_size):
            chunk = queries[start : start + batch_size]
            texts = [q.question for q in chunk] + [part for q in chunk for part in q.parts]
            hits = self.engine.search(texts, self.top_k)  # type: ignore[attr-defined]
            extra = len(chunk)
            for index, query in enumerate(chunk):
                row_hits = [h for hits_of in (hits[index], *hits[extra : extra + len(query.parts)]) for h in hits_of]
                extra += len(query.parts)
                rows = (
                    np.asarray(
                        sorted({self.row_of[h.doc_id] for h in row_hits if h.doc_id in self.row_of}), dtype=np.int64
                    )
                    if query.parts
                    else np.asarray(
                        [self.row_of[h.doc_id] for h in row_hits if h.doc_id in self.row_of], dtype=np.int64
                    )
                )
                out.append(self._measure(query, rows))
        return out

    def known_names(self, question: str) -> list[int]:
        """The entities a reader of the question knows by name (as indexes)."""
        return sorted({self.index_of[m.entity_id] for m in self.grounder.mentions(question)})

    # -- one task -------------------------------------------------------------------------------
    def _measure(self, query: DepthQuery, question_rows: np.ndarray) -> Depth:
        units = [
            np.asarray(sorted({self.row_of[d] for d in unit if d in self.row_of}), dtype=np.int64)
            for unit in query.units
        ]
        question_reveal = self._revealed(question_rows, opens=True)
        question_names = frozenset(self.entity_ids[int(i)] for i in question_reveal if i < len(self.entity_ids))
        question_covers = tuple(bool(np.isin(unit, question_rows).any()) for unit in units)
        covers = [np.unique(self.retrieved_by.gather(unit)) for unit in units]
        known = np.asarray(self.known_names(query.question), dtype=np.int64)
        delta = self._forward(known, question_reveal, covers, question_covers)
        costs: list[int] = []
        reachable: list[np.ndarray] = []
        for cover, by_question in zip(covers, question_covers):
            reached = cover[delta[cover] < FAR]
            cost = int(delta[reached].min()) + 1 if len(reached) else int(FAR)
            if by_question:
                cost = 1
            if cost >= FAR:
                return Depth(None, None, True, question_covers, (), question_names)
            costs.append(cost)
            # the queries that cover the unit at that cost (-1: the question itself)
            ties = reached[delta[reached] == cost - 1] if len(reached) else reached
            reachable.append(np.concatenate([[-1], ties]) if by_question else ties)
        lower = max(costs)
        if query.packing:
            lower = max(lower, packing_bound(covers, question_covers, costs))
        plan = self._plan(costs, reachable, delta, known, question_reveal)
        upper = len(plan)
        if lower == upper:
            return Depth(lower, lower, True, question_covers, self._names(plan), question_names)
        if query.prove:
            lower, plan = self._proven(known, question_reveal, covers, question_covers, lower, plan, query.prove)
            return Depth(len(plan), lower, lower == len(plan), question_covers, self._names(plan), question_names)
        if lower < query.needed:
            return Depth(upper, lower, False, question_covers, self._names(plan), question_names)
        if lower == 1:  # one search suffices only if one askable query covers every unit
            if all(question_covers):
                return Depth(1, 1, True, question_covers, (QUESTION,), question_names)
            common = set(known.tolist()).intersection(*(set(c.tolist()) for c in covers))
            if common:
                return Depth(1, 1, True, question_covers, self._names({min(common)}), question_names)
            lower = 2
            if upper == 2:
                return Depth(2, 2, True, question_covers, self._names(plan), question_names)
        found = exact_search(self, known, question_rows, question_reveal, units, covers, lower, upper)
        if found is None:
            return Depth(upper, lower, False, question_covers, self._names(plan), question_names)
        return Depth(found[0], found[0], True, question_covers, self._names(found[1] or plan), question_names)

    def _names(self, plan: Sequence[int] | set[int]) -> tuple[str, ...]:
        return tuple(sorted(self.node_name(q) for q in plan))

    def node_name(self, node: int) -> str:
        """A plan step: :data:`QUESTION`, an entity id (search its name) or ``open:<entity id>``."""
        if node < 0:
            return QUESTION
        if node < len(self.entity_ids):
            return self.entity_ids[node]
        return OPEN + self.opened[node - len(self.entity_ids)]

    def _forward(
        self,
        known: np.ndarray,
        question_reveal: np.ndarray,
        covers: list[np.ndarray],
        question_covers: tuple[bool, ...],
        levels: int = 0,
    ) -> np.ndarray:
        """``delta``: searches needed before each name can be asked (0 for the question's names;
        the question query is askable at once), by levels, until every unit is reached (and at
        least ``levels`` levels are done)."""
        delta = np.full(self.node_count, FAR, dtype=np.int32)
        delta[known] = 0
        pending = [c for c, by_q in zip(covers, question_covers) if not by_q]
        frontier, level = known, 0
        while level < max(MAX_DEPTH, levels):
            pending = [c for c in pending if not (delta[c] < FAR).any()]
            if not pending and level >= levels:
                break
            revealed = self.reveal.gather(frontier)
            if level == 0:
                revealed = np.concatenate([revealed, question_reveal.astype(np.int32)])
            fresh = np.unique(revealed[delta[revealed] == FAR])
            if len(fresh) == 0:
                break
            delta[fresh] = level + 1
            frontier, level = fresh.astype(np.int64), level + 1
        return delta

    def _plan(
        self,
        costs: list[int],
        reachable: list[np.ndarray],
        delta: np.ndarray,
        known: np.ndarray,
        question_reveal: np.ndarray,
    ) -> set[int]:
        """A plan through BFS-tree paths to a cheapest covering query of each unit, grown
        greedily (deepest unit first; among tied queries and parents, the ones sharing most of
        the plan so far) — an upper bound on the minimum, equal to it for honest chains."""
        plan: set[int] = set()
        known_set = set(known.tolist())
        revealed_by_question = set(question_reveal.tolist())

        def path(node: int) -> list[int]:
            nodes: list[int] = []
            while node not in plan and node not in nodes:
                nodes.append(node)
                if node < 0 or node in known_set:
                    break
                level = int(delta[node])
                parents = self.revealed_by.row(node)
                parents = parents[delta[parents] == level - 1]
                shared = [int(p) for p in parents if int(p) in plan]
                if shared:
                    node = min(shared)
                elif len(parents):
                    node = int(parents.min())
                elif level == 1 and node in revealed_by_question:
                    node = -1
                else:  # pragma: no cover - the BFS that set delta guarantees a parent
                    raise AssertionError(f"no BFS parent for entity {node} at level {level}")
            return nodes

        for index in sorted(range(len(costs)), key=lambda i: -costs[i]):
            options = [path(int(q)) for q in reachable[index][:64]]
            shortest = min(options, key=lambda nodes: (len(nodes), nodes))
            plan.update(shortest)
        return plan

    # -- exact minimum (only when the bounds differ) -----------------------------------------------
    @cached_property
    def dominated(self) -> np.ndarray:
        """Page opens a plan never needs: the name search of the same entity retrieves every
        passage the open shows, reveals all it reveals, and is revealed by all that reveal the
        open (a plan opening the page may search the name instead, or drop the open). On
        1,000-entity worlds every open is dominated (pages are short); this halves the graph
        the integer program sees."""
        out = np.zeros(self.node_count, dtype=bool)
        for j, entity in enumerate(self.opened):
            node, name = len(self.entity_ids) + j, self.index_of[entity]
            out[node] = (
                np.isin(self.results.row(node), self.results.row(name)).all()
                and np.isin(self.reveal.row(node), np.append(self.reveal.row(name), name)).all()
                and np.isin(self.revealed_by.row(node), self.revealed_by.row(name)).all()
            )
        return out

    def _proven(
        self,
        known: np.ndarray,
        question_reveal: np.ndarray,
        covers: list[np.ndarray],
        question_covers: tuple[bool, ...],
        lower: int,
        plan: set[int],
        limit: int,
    ) -> tuple[int, set[int]]:
        """The integer program's proven bound (up to ``limit``) and its plan where smaller, on the
        sub-graph a plan of ``upper = min(len(plan), limit) - 1`` or fewer queries can use: a
        query ``v`` with ``delta(v) + back_u(v) <= upper`` for some unit ``u``, less the
        dominated opens (see :mod:`searchgym.tasks.plan_milp`; local node 0 is the question)."""
        upper = min(len(plan), limit) - 1
        delta = self._forward(known, question_reveal, covers, question_covers, levels=upper)
        backward = np.stack([self.backward(cover, upper) for cover in covers])
        keep = np.flatnonzero((delta.astype(np.int64) + backward.min(axis=0) <= upper) & ~self.dominated)
        local = np.full(self.node_count, -1, dtype=np.int64)
        local[keep] = np.arange(1, len(keep) + 1)

        def inside(nodes: np.ndarray) -> tuple[int, ...]:
            found = local[nodes]
            return tuple(int(i) for i in np.unique(found[found > 0]))

        reveals = (inside(question_reveal), *(inside(self.reveal.row(int(v))) for v in keep))
        unit_covers = tuple((0,) * by_question + inside(cover) for cover, by_question in zip(covers, question_covers))
        graph = PlanGraph(len(keep) + 1, (0, *inside(known)), reveals, unit_covers)
        bound = solve_min_plan(graph, upper, self.milp_node_limit)
        if bound.plan is not None and len(bound.plan) < len(plan):
            plan = {int(keep[i - 1]) if i else -1 for i in bound.plan}
        return min(max(lower, bound.lower), len(plan)), plan

    def backward(self, cover: np.ndarray, depth: int) -> np.ndarray:
        """``b[q]``: searches needed to cover the unit when ``q`` is the next query."""
        distance = np.full(self.node_count, FAR, dtype=np.int32)
        distance[cover] = 1
        frontier = cover
        for level in range(1, depth):
            revealers = self.revealed_by.gather(frontier.astype(np.int64))
            fresh = np.unique(revealers[distance[revealers] == FAR])
            if len(fresh) == 0:
                break
            distance[fresh] = level + 1
            frontier = fresh
        return distance
