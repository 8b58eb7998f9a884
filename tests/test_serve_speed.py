"""The server's speed settings: no batch wait when idle, batches still formed under load, the
loaded heap frozen out of the garbage collector, torch's threads sized. Real BM25 engine."""

from __future__ import annotations

import asyncio
import gc
import sys
import time

import pytest

from searchgym.search.bm25 import BM25Engine
from searchgym.serve.batcher import QueryBatcher
from searchgym.serve.runner import freeze_heap, size_torch_threads
from searchgym.types import Passage


@pytest.fixture(scope="module")
def engine() -> BM25Engine:
    words = "river castle comet glacier marble forest harbor lantern meadow summit".split()
    passages = [Passage(doc_id=f"p{i}", title=words[i % 10], text=" ".join(words[(i * 3 + j) % 10] for j in range(6)))
                for i in range(40)]
    return BM25Engine(passages, cache=None, show_progress=False)


def test_a_lone_request_does_not_wait_for_the_window(engine) -> None:
    """With a 5 s window, a request on an idle server is still answered at once."""

    async def scenario() -> tuple[float, list, dict]:
        batcher = QueryBatcher(engine, window_ms=5000.0)
        try:
            started = time.monotonic()
            hits = await batcher.search(["river castle"], 3)
            return time.monotonic() - started, hits, batcher.stats.to_dict()
        finally:
            await batcher.aclose()

    seconds, hits, stats = asyncio.run(scenario())
    assert hits == engine.search(["river castle"], 3)
    assert seconds < 2.5, f"an idle server made a lone request wait {seconds:.2f}s"
    assert stats["engine_calls"] == 1


def test_requests_waiting_together_share_one_engine_call(engine) -> None:
    async def scenario() -> tuple[list, dict]:
        batcher = QueryBatcher(engine, window_ms=50.0)
        try:
            queries = [["river"], ["comet glacier"], ["marble"], ["summit forest"]]
            answers = await asyncio.gather(*(batcher.search(q, 2) for q in queries))
            return answers, batcher.stats.to_dict()
        finally:
            await batcher.aclose()

    answers, stats = asyncio.run(scenario())
    assert answers == [engine.search(q, 2) for q in (["river"], ["comet glacier"], ["marble"], ["summit forest"])]
    assert stats["engine_calls"] == 1 and stats["largest_batch"] == 4


def test_freeze_heap_moves_live_objects_out_of_the_collector() -> None:
    keep = [[index] for index in range(1000)]  # lists: containers the collector tracks
    try:
        frozen = freeze_heap()
        # The permanent generation shrinks as frozen objects die (other threads free some),
        # so compare against what we hold, not against the count returned a moment ago.
        assert frozen >= len(keep) and gc.get_freeze_count() >= len(keep)
        tracked = {id(obj) for obj in gc.get_objects()}
        assert not any(id(item) in tracked for item in keep)
        assert gc.collect() >= 0  # collections still run for new objects
    finally:
        gc.unfreeze()


def test_torch_threads_are_sized_only_when_torch_is_loaded(monkeypatch) -> None:
    if "torch" not in sys.modules:
        assert size_torch_threads() is None
    import torch

    before = torch.get_num_threads()
    try:
        assert size_torch_threads(1) == 1 and torch.get_num_threads() == 1
        assert size_torch_threads() >= 1
    finally:
        torch.set_num_threads(before)
