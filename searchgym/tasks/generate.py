"""Generate verified tasks from a world and its corpus: unique answers, stated evidence, measured depth.

Every task passes, in order:

1. a unique answer by graph traversal (:mod:`searchgym.tasks.candidates`);
2. provenance: every evidence unit is stated by some passage (a counting list completely by one);
3. measured depth (:mod:`searchgym.tasks.depth`) with the generation engine (BM25) at the
   spec's top-k: a knowledge-free agent can reach every unit, and a task of ``h >= 2`` hops
   needs at least ``h`` searches and is not answered by one search of its question text;
4. prior balancing (:mod:`searchgym.tasks.select`): no answer dominates its question form,
   comparison winners alternate position, counts spread over their range.

Tasks come in strata (a type and a hop count; chains get one stratum per hop count), each
filled up to ``per_type`` tasks. All tasks of a world share one split: the validation and test
splits are other worlds (see :mod:`searchgym.bundle`). Task keys hash the world and the
question, never the answer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from searchgym.answer_forms import ABSTENTION_NOTE
from searchgym.cache import content_hash
from searchgym.corpus.corpus import Corpus
from searchgym.tasks.candidates import Candidate, CandidateMaker
from searchgym.tasks.deep import DEEP_TASK_TYPES, ObfuscatedMaker
from searchgym.tasks.depth import Depth, DepthMeter, DepthQuery
from searchgym.tasks.depth_graph import MAX_DEPTH
from searchgym.tasks.open_forms import OPEN_TASK_TYPES, FalsePremiseMaker, ListMaker
from searchgym.tasks.profiles import PROFILE_TASK_TYPES, ProfileMaker
from searchgym.tasks.questions import WordingExhausted
from searchgym.tasks.select import Balancer, accept_deep, accept_depth
from searchgym.tasks.taskset import TaskSet
from searchgym.tasks.tiers import TOP_TIER_DEPTH, tier
from searchgym.types import HopStep, Task
from searchgym.world.world import World

TASK_TYPES = ("chain", "comparison", "bridge_comparison", "intersection", "counting")
NEW_TASK_TYPES = DEEP_TASK_TYPES + OPEN_TASK_TYPES + PROFILE_TASK_TYPES  # opt-in families (task_types)
ALL_TASK_TYPES = TASK_TYPES + NEW_TASK_TYPES
SPLITS = ("train", "validation", "test")
TASK_FORMAT_VERSION = 7  # bump whenever generation changes: it keys the bundle cache (and seeds the tasks)
DEEP_FORMAT_VERSION = 2  # bump whenever the deep families' generation changes (keys only their bundles)
# 2: deep tasks' tiers rest on the depth proven by the integer program (tasks/plan_milp.py)
_ROUNDS = 6


@dataclass(frozen=True)
class TaskOptions:
    """How many tasks of each kind to generate, for which split, measured how.

    ``per_type`` tasks are made for each stratum: each task type, and for chains each hop count
    1..``max_hops``. ``split`` names the split every task of this world belongs to.
    ``depth_top_k`` is the top-k of the generation engine that measures depth (the spec's);
    ``depth_open_pages`` whether the knowledge-free agent may open pages (the spec's
    ``allow_access``: an open is one retrieval call).
    ``obfuscated_relations``: one obfuscated stratum per relation count (the subgraph's edges);
    ``max_constraints`` the most descriptors an obfuscated question stacks (at least 3);
    ``min_tier`` drops tasks of a lower difficulty tier (:mod:`searchgym.tasks.tiers`).
    ``unanswerable_share``: the share of false-premise tasks among all (type ``unanswerable``,
    one stratum per obfuscated relation count; every question then says how to abstain).
    ``profile_hops``: one profile stratum per description length (1: the subject is named;
    h >= 2: it is described by a path of h - 1 relations from a named entity).
    ``candidate_factor`` bounds how many candidates a stratum may draw per missing task and round
    (rounds after the first draw as many as the stratum's acceptance rate predicts).
    """

    per_type: int = 200
    max_hops: int = 4
    types: tuple[str, ...] = TASK_TYPES
    max_count: int = 8
    split: str = "train"
    depth_top_k: int = 3
    candidate_factor: int = 8
    depth_open_pages: bool = True
    obfuscated_relations: tuple[int, ...] = (8, 10, 12)
    max_constraints: int = 8
    min_tier: int = 1
    unanswerable_share: float = 0.0
    profile_hops: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        unknown = set(self.types) - set(ALL_TASK_TYPES)
        if unknown:
            raise ValueError(f"unknown task types {sorted(unknown)}; valid: {ALL_TASK_TYPES}")
        if not self.obfuscated_relations or not all(1 <= r <= 16 for r in self.obfuscated_relations):
            raise ValueError("obfuscated_relations must be a non-empty list of integers in [1, 16]")
        if not 3 <= self.max_constraints <= 12:
            raise ValueError("max_constraints must be in [3, 12]")
        if not 1 <= self.min_tier <= 5:
            raise ValueError("min_tier must be in [1, 5]")
        if not 0.0 <= self.unanswerable_share <= 0.4:
            raise ValueError("unanswerable_share must be in [0, 0.4]")
        if ("unanswerable" in self.types) != (self.unanswerable_share > 0):
            raise ValueError(
                "unanswerable tasks need unanswerable_share > 0, and a share needs the 'unanswerable' type"
            )
        hops = self.profile_hops
        if not hops or len(set(hops)) < len(hops) or not all(type(h) is int and 1 <= h <= 4 for h in hops):
            raise ValueError("profile_hops must be a non-empty list of distinct integers in [1, 4]")
        if not 1 <= self.max_hops <= 6:
            raise ValueError("max_hops must be in [1, 6]")
        if self.per_type < 0:
            raise ValueError("per_type must be non-negative")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if not 1 <= self.depth_top_k <= 100:
            raise ValueError("depth_top_k must be in [1, 100]")
        if not 2 <= self.max_count <= 12:
            raise ValueError("max_count must be in [2, 12]")

    @property
    def deep(self) -> bool:
        """Whether a deep family is asked for (which needs the schema's deep-research wording)."""
        return bool(set(self.types) & set(NEW_TASK_TYPES)) or self.min_tier > 1

    def key(self) -> str:
        classic = (
            self.per_type,
            self.max_hops,
            self.types,
            self.max_count,
            self.split,
            self.depth_top_k,
            self.candidate_factor,
            self.depth_open_pages,
            TASK_FORMAT_VERSION,
        )
        if not self.deep:  # the classic specs keep their keys, hence their tasks
            return content_hash(repr(classic))
        deep: tuple[object, ...] = (self.obfuscated_relations, self.max_constraints, self.min_tier, DEEP_FORMAT_VERSION)
        if self.unanswerable_share:
            deep += (self.unanswerable_share,)
        if self.profile_hops != (1,):  # specs without described profiles keep their keys
            deep += (self.profile_hops,)
        return content_hash(repr((*classic, *deep)))

    def strata(self) -> list[tuple[str, int]]:
        out = []
        for task_type in self.types:
            if task_type == "chain":
                out += [("chain", h) for h in range(1, self.max_hops + 1)]
            elif task_type in ("obfuscated", "unanswerable"):
                out += [(task_type, r) for r in self.obfuscated_relations]
            elif task_type == "profile":
                out += [("profile", h) for h in self.profile_hops]
            else:
                out.append((task_type, {"bridge_comparison": 2}.get(task_type, 1)))
        return out


def _depth_engine(corpus: Corpus, cache: Any) -> Any:
    from searchgym.search.factory import make_engine

    return make_engine("bm25", corpus.passages, show_progress=False, cache=cache)


class TaskGenerator:
    def __init__(
        self, world: World, corpus: Corpus, options: TaskOptions, engine: Any = None, cache: Any = None
    ) -> None:
        self.world = world
        self.corpus = corpus
        self.options = options
        self.rng = np.random.default_rng(int(content_hash(world.world_id, "tasks", options.key()), 16))
        self.maker = CandidateMaker(world, self.rng, options.max_count)
        self.engine = engine if engine is not None else _depth_engine(corpus, cache)
        self._meter: DepthMeter | None = None
        self._deep_maker: ObfuscatedMaker | None = None
        self.rejections: Counter[str] = Counter()
        self._winner_first: Counter[tuple[str, bool]] = Counter()

    @property
    def meter(self) -> DepthMeter:
        if self._meter is None:
            self._meter = DepthMeter(
                self.world, self.corpus, self.engine, self.options.depth_top_k, open_pages=self.options.depth_open_pages
            )
        return self._meter

    # -- candidates -----------------------------------------------------------------------------
    def quota(self, stratum: tuple[str, int]) -> int:
        """Tasks to make for a stratum: ``per_type``, or for a false-premise stratum its share of
        the answerable tasks (``share / (1 - share)`` of them, spread over its strata)."""
        if stratum[0] != "unanswerable":
            return self.options.per_type
        strata = self.options.strata()
        false_premise = sum(1 for s in strata if s[0] == "unanswerable")
        answerable = (len(strata) - false_premise) * self.options.per_type
        share = self.options.unanswerable_share
        return math.ceil(answerable * share / (1 - share) / false_premise)

    def _maker_for(self, task_type: str, hops: int) -> Callable[[], Candidate | None]:
        if task_type in NEW_TASK_TYPES:
            if self._deep_maker is None:
                self._deep_maker = ObfuscatedMaker(self.world, self.rng, max_constraints=self.options.max_constraints)
            deep_maker = self._deep_maker
            if task_type == "list":
                return ListMaker(self.world, self.rng, deep_maker).candidate
            if task_type == "profile":
                profiles = ProfileMaker(self.world, self.rng, deep_maker)
                return lambda: profiles.candidate(hops)
            if task_type == "unanswerable":
                premise = FalsePremiseMaker(self.world, self.rng, deep_maker)
                return lambda: premise.candidate(hops)
            return lambda: deep_maker.candidate(hops)
        if task_type == "chain":
            topics = list(self.world.entities)
            return lambda: self.maker.chain(topics, hops)
        if task_type in ("comparison", "bridge_comparison"):
            make = self.maker.comparison if task_type == "comparison" else self.maker.bridge_comparison
            drawn = [0]

            def compare() -> Candidate | None:  # the winner is named first in every other draw
                drawn[0] += 1
                return make(drawn[0] % 2 == 1)

            return compare
        return getattr(self.maker, task_type)

    def _evidence(self, candidate: Candidate) -> tuple[tuple[str, ...], ...] | None:
        """Per unit, the passages stating every fact of the unit; None if a unit is unstated."""
        units = []
        for fact_ids in candidate.units:
            stating = set(self.corpus.passages_stating(fact_ids[0]))
            for fact_id in fact_ids[1:]:
                stating &= set(self.corpus.passages_stating(fact_id))
            if not stating:
                return None
            order = {doc_id: i for i, doc_id in enumerate(self.corpus.passages_stating(fact_ids[0]))}
            units.append(tuple(sorted(stating, key=order.__getitem__)))
        return tuple(units)

    # -- driver -----------------------------------------------------------------------------------
    def generate(self) -> TaskSet:
        chosen: dict[tuple[str, int], list[tuple[Candidate, tuple[tuple[str, ...], ...], Depth]]] = {
            stratum: [] for stratum in self.options.strata()
        }
        seen: set[str] = set()
        balancer = Balancer()
        makers = {stratum: self._maker_for(*stratum) for stratum in chosen}
        drawn: Counter[tuple[str, int]] = Counter()
        for round_index in range(_ROUNDS):
            batch: list[tuple[tuple[str, int], Candidate, tuple[tuple[str, ...], ...]]] = []
            for stratum, tasks in chosen.items():
                missing = self.quota(stratum) - len(tasks)
                make = makers[stratum]
                for _ in range(self._draws(round_index, missing, drawn[stratum], len(tasks))):
                    drawn[stratum] += 1
                    try:
                        candidate = make()
                    except WordingExhausted:
                        self.rejections["wording"] += 1
                        continue
                    if candidate is None:
                        continue
                    if self.options.unanswerable_share:  # every question says how to abstain
                        candidate.question = f"{candidate.question} {ABSTENTION_NOTE}"
                    if candidate.question in seen:
                        continue
                    seen.add(candidate.question)
                    evidence = self._evidence(candidate)
                    if evidence is None:
                        self.rejections["evidence not stated"] += 1
                        continue
                    batch.append((stratum, candidate, evidence))
            if not batch:
                break
            # the integer program's proof is the costly step: batch the cheap bounds, then prove
            # only the candidates every other check accepts (one by one, while quotas last)
            queries = [self._depth_query(c, e) for _, c, e in batch]
            depths = self.meter.measure_many([replace(query, prove=0) for query in queries])
            for (stratum, candidate, evidence), query, depth in zip(batch, queries, depths):
                if len(chosen[stratum]) >= self.quota(stratum):
                    continue
                reason = self._accept(candidate, depth)
                if reason is None and not balancer.allows(candidate):
                    reason = "answer prior"
                if reason is None and "winner_first" in candidate.meta:
                    side = candidate.meta["winner_first"]
                    first = self._winner_first
                    if first[(candidate.task_type, side)] > first[(candidate.task_type, not side)]:
                        reason = "winner position"  # keeps 'the first-named option' at chance
                if reason is None and query.prove:
                    (depth,) = self.meter.measure_many([query])
                    reason = self._tier_check(candidate, depth)
                if reason is not None:
                    self.rejections[reason] += 1
                    continue
                balancer.add(candidate)
                if "winner_first" in candidate.meta:
                    self._winner_first[(candidate.task_type, candidate.meta["winner_first"])] += 1
                chosen[stratum].append((candidate, evidence, depth))
            if all(len(tasks) >= self.quota(stratum) for stratum, tasks in chosen.items()):
                break
        selected = [self._task(c, e, d) for stratum in chosen for c, e, d in chosen[stratum]]
        return TaskSet(self.world.world_id, selected)

    @staticmethod
    def _depth_query(candidate: Candidate, evidence: tuple[tuple[str, ...], ...]) -> DepthQuery:
        return depth_query(
            candidate.task_type, candidate.question, evidence, candidate.hops, tuple(candidate.meta.get("queries", ()))
        )

    def _accept(self, candidate: Candidate, depth: Depth) -> str | None:
        revealed = self._answer_revealed(candidate, depth)
        if candidate.task_type == "profile":  # a named subject: its depth is measured, not claimed
            if candidate.hops < 2:
                return "unreachable" if depth.min_searches is None else None
            # a described subject: at least its path's length, and not surfaced by the question
            return accept_depth(candidate, depth, candidate.meta["subject"] in depth.question_names)
        if candidate.task_type == "list":  # a named 1-hop list is one search by design
            if depth.min_searches is None:
                return "unreachable"
            return accept_depth(candidate, depth, revealed) if candidate.hops >= 2 else None
        if candidate.task_type not in DEEP_TASK_TYPES + ("unanswerable",):
            return accept_depth(candidate, depth, revealed)
        return accept_deep(candidate, depth, revealed)  # its tier is checked once proven

    def _tier_check(self, candidate: Candidate, depth: Depth) -> str | None:
        """A deep candidate's tier, from its proven depth (not a plan), against ``min_tier``."""
        candidate.meta["tier"] = tier(
            int(depth.lower_bound or 0), candidate.meta["constraints"] + candidate.meta["relations"]
        )
        return "below the minimum tier" if candidate.meta["tier"] < self.options.min_tier else None

    def _draws(self, round_index: int, missing: int, drawn: int, accepted: int) -> int:
        """Candidates to draw for a stratum this round: twice the missing tasks at first, then
        as many as its acceptance rate so far predicts (measuring depth is the costly step, so
        strata that accept almost everything are not drawn eight times over)."""
        if missing <= 0:
            return 0
        if round_index == 0 or drawn == 0:
            return 2 * missing
        rate = max(accepted / drawn, 1.0 / self.options.candidate_factor / 4)
        return min(int(missing / rate * 1.3) + 1, missing * self.options.candidate_factor * 4)

    @staticmethod
    def _answer_revealed(candidate: Candidate, depth: Depth) -> bool:
        entity = candidate.meta.get("answer_entity")
        named = entity in candidate.topic_entities  # a comparison's answer is one of its options
        return candidate.hops >= 2 and isinstance(entity, str) and not named and entity in depth.question_names

    def _task(self, candidate: Candidate, evidence: tuple[tuple[str, ...], ...], depth: Depth) -> Task:
        canonical = []
        for fact_ids, doc_ids in zip(candidate.units, evidence):
            subject = fact_ids[0].split("|", 1)[0]
            own = [d for d in doc_ids if self.corpus[d].entity_id == subject]
            canonical.append((own or list(doc_ids))[0])
        question_hash = content_hash(self.world.world_id, candidate.question, length=12)
        key = f"{self.world.world_id}/{candidate.task_type}/{question_hash}"
        meta = dict(candidate.meta)
        meta.update(
            form=candidate.form,
            options=candidate.options,
            answer_units=list(candidate.answer_units),
            depth_exact=depth.exact,
            depth_lower_bound=depth.lower_bound,
            question_covers=list(depth.question_covers),
        )
        return Task(
            task_key=key,
            task_type=candidate.task_type,
            question=candidate.question,
            answer=candidate.answer,
            aliases=candidate.aliases,
            hops=candidate.hops,
            chain=tuple(HopStep(f.subject, f.relation, f.object, f.fact_id) for f in candidate.facts),
            topic_entities=candidate.topic_entities,
            evidence=evidence,
            gold_passages=tuple(dict.fromkeys(canonical)),
            split=self.options.split,
            world_id=self.world.world_id,
            min_searches=int(depth.min_searches or 0),
            meta=meta,
        )


def depth_query(
    task_type: str, question: str, evidence: tuple[tuple[str, ...], ...], hops: int, queries: tuple[str, ...] = ()
) -> DepthQuery:
    """What depth is measured for a task, at generation and by the audit alike.

    Obfuscated and false-premise questions: their local descriptions are searchable too, their
    many units get the packing bound, and the minimum is proven by the integer program of
    :mod:`searchgym.tasks.plan_milp` (the IDA* search never fits its node budget at 10-20
    units). Lists and profiles (up to 13 units, mostly on one or two pages): the packing bound,
    and the exact search only where the bounds still differ. Classic tasks: the exact search,
    skipped when the lower bound already fails the hop label."""
    if task_type in DEEP_TASK_TYPES or task_type == "unanswerable":
        # needed above any depth: the cheap pass (prove=0) stops at the bounds, never running the
        # IDA* search, which spends its whole node budget on 10-20 units and finds nothing
        return DepthQuery(question, evidence, MAX_DEPTH + 1, queries, packing=True, prove=TOP_TIER_DEPTH)
    if task_type in ("list", "profile"):
        return DepthQuery(question, evidence, hops if hops >= 2 else 0, packing=True)
    return DepthQuery(question, evidence, hops if hops >= 2 else 0)


def generate_tasks(
    world: World, corpus: Corpus, options: TaskOptions | None = None, *, engine: Any = None, cache: Any = None
) -> TaskSet:
    """Verified tasks for ``world``; deterministic given the world, corpus and options.

    ``engine`` measures depth (default: BM25 over the corpus, its index kept in ``cache``).
    """
    if corpus.world_id != world.world_id:
        raise ValueError(f"corpus of {corpus.world_id} does not belong to world {world.world_id}")
    return TaskGenerator(world, corpus, options or TaskOptions(), engine, cache).generate()
