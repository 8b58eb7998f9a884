"""Measured depth: min_searches is exact, honest for chains, and detects shortcuts."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from searchgym.corpus import Corpus
from searchgym.search.bm25 import BM25Engine
from searchgym.corpus.page import page_passages
from searchgym.tasks.depth import QUESTION, DepthMeter, DepthQuery


@pytest.fixture(scope="module")
def meter(small_bundle):
    engine = BM25Engine(small_bundle.corpus.passages, cache=None, show_progress=False)
    return DepthMeter(small_bundle.world, small_bundle.corpus, engine, 3)


def _brute_force(meter: DepthMeter, query: DepthQuery, cap: int) -> int | None:
    """The minimum by exhaustive breadth-first search over sets of asked queries (no bounds,
    no heuristic): an independent check of the meter's exactness."""
    engine = meter.engine
    rows_of_question = [meter.row_of[h.doc_id] for h in engine.search([query.question], meter.top_k)[0]]
    units = [{meter.row_of[d] for d in unit} for unit in query.units]
    known0 = frozenset(meter.known_names(query.question))

    corpus, names = meter.corpus, len(meter.entity_ids)
    opens = {entity: names + j for j, entity in enumerate(meter.opened)}

    def rows(q: int) -> set[int]:
        if q < 0:
            return set(rows_of_question)
        if q >= names:  # open a page: the passages the env shows for it
            return {meter.row_of[d] for d in page_passages(corpus, meter.opened[q - names])}
        return {meter.row_of[h.doc_id] for h in engine.search([meter.world.name(meter.entity_ids[q])], meter.top_k)[0]}

    def reveal(q: int) -> set[int]:
        out = set()
        for row in rows(q):
            passage = corpus.passages[row]
            out.update(meter.index_of[m] for m in passage.mentions if m in meter.index_of)
            if q < names and passage.kind == "page" and passage.entity_id in opens:
                out.add(opens[passage.entity_id])  # a search result's page can be opened next
        return out

    states = {(frozenset(), known0)}
    for depth in range(1, cap + 1):
        nxt = set()
        for asked, known in states:
            for q in [-1, *sorted(known)]:
                if q in asked:
                    continue
                now = asked | {q}
                covered = set().union(*(rows(a) for a in now))
                if all(unit & covered for unit in units):
                    return depth
                nxt.add((now, known | frozenset(reveal(q))))
        states = nxt
    return None


def _sample(small_bundle, task_type: str, hops: int, count: int):
    tasks = [t for t in small_bundle.tasks if t.task_type == task_type and t.hops == hops]
    return tasks[:count]


@pytest.mark.parametrize(("task_type", "hops", "count"), [
    ("chain", 1, 4), ("chain", 2, 4), ("chain", 3, 2), ("comparison", 1, 4), ("intersection", 1, 4),
    ("counting", 1, 4), ("bridge_comparison", 2, 2),
])
def test_min_searches_equals_an_exhaustive_search(small_bundle, meter, task_type, hops, count):
    tasks = _sample(small_bundle, task_type, hops, count)
    assert tasks
    for task in tasks:
        query = DepthQuery(task.question, task.evidence)
        (depth,) = meter.measure_many([query])
        assert depth.exact and depth.min_searches == task.min_searches
        assert _brute_force(meter, query, depth.min_searches) == depth.min_searches


def test_chain_labels_are_honest(small_bundle):
    chains = [t for t in small_bundle.tasks if t.task_type == "chain" and t.hops >= 2]
    assert chains
    assert all(t.min_searches >= t.hops for t in chains)
    assert all(t.meta["depth_exact"] for t in small_bundle.tasks)


def test_a_passage_stating_two_hops_is_measured_as_a_shortcut(small_bundle):
    """Write the corpus defect the layout avoids (one passage naming the topic and stating both
    hops of a 2-hop chain): the meter must measure the chain as a 1-search task."""
    corpus, world = small_bundle.corpus, small_bundle.world
    task = next(t for t in small_bundle.tasks if t.task_type == "chain" and t.hops == 2)
    first, second = task.chain
    text = (f"{world.name(first.subject)} and {world.name(str(first.object))}: a note. "
            f"{world.name(first.subject)} {world.name(str(first.object))} {world.name(first.subject)}.")
    shortcut = dataclasses.replace(corpus.passages[0], doc_id="dshortcut000", title=world.name(first.subject),
                                   text=text, entity_id=None, kind="distractor",
                                   facts=(first.fact_id, second.fact_id),
                                   mentions=(first.subject, str(first.object)))
    patched = Corpus(corpus.world_id, [*corpus.passages, shortcut])
    engine = BM25Engine(patched.passages, cache=None, show_progress=False)
    meter = DepthMeter(world, patched, engine, 3)
    evidence = tuple((*unit, "dshortcut000") for unit in task.evidence)
    (depth,) = meter.measure_many([DepthQuery(task.question, evidence)])
    assert depth.min_searches == 1 and depth.exact
    assert depth.plan in ((world.entity(first.subject).id,), (QUESTION,))


def test_unreachable_evidence_has_no_depth(small_bundle, meter):
    task = next(t for t in small_bundle.tasks if t.task_type == "chain" and t.hops == 1)
    (depth,) = meter.measure_many([DepthQuery(task.question, (("no-such-passage",),))])
    assert depth.min_searches is None


def test_tasks_and_scores_are_bit_identical_across_processes_and_hash_seeds(tmp_path):
    script = ("import hashlib, sys\n"
              "from searchgym.bundle import build_bundle\n"
              "from searchgym.tasks import TaskOptions\n"
              "from searchgym.search.bm25 import BM25Engine\n"
              "b = build_bundle('default', 160, 21, task_options=TaskOptions(per_type=8), cache=False)\n"
              "engine = BM25Engine(b.corpus.passages, cache=None, show_progress=False)\n"
              "scores = repr([[h.score for h in hits] for hits in engine.search([t.question for t in b.tasks], 10)])\n"
              "print(hashlib.sha256((b.corpus.to_jsonl() + b.tasks.to_jsonl() + scores).encode()).hexdigest())\n")
    digests = set()
    for hash_seed in ("0", "12345", "777"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "SEARCHGYM_CACHE_DIR": str(tmp_path)}
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip().splitlines()[-1])
    assert len(digests) == 1
