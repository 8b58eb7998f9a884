"""Micro-batching of concurrent search requests into single engine calls.

Why: RL rollouts hit the retriever with many small concurrent requests (SkyRL sends one query per
request), while every engine is much faster on one batch than on a loop. The
:class:`QueryBatcher` runs ``engine.search(all_queries, max_k)`` once in a worker thread for a
batch of requests and hands each request its own slice, trimmed to its own ``k``.

The window is adaptive. A lone request, with nothing else waiting, is answered at once: an
idle server adds no delay (a fixed window made every request of a single client wait the whole
2 ms). When others are already waiting, the batch takes all of them and stays open for late
arrivals until ``window_ms`` after its *oldest* request arrived, or until ``max_batch`` queries.
Under load the oldest request has usually waited a whole engine call already, so the batch
leaves at once with everything that queued up meanwhile.

All engine calls (``search`` and, through :meth:`QueryBatcher.run`, ``access``) go through one
single-thread executor: engines are not required to be thread-safe, and a CPU-bound engine would
not gain from parallel calls under the GIL anyway. While one batch runs, the next one fills up.

A failing batch never kills the loop. When a combined call raises, each request of the batch is
retried alone, so only the requests whose own queries make the engine fail get the error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from searchgym.search.base import SearchEngine
from searchgym.types import Hit

logger = logging.getLogger(__name__)

T = TypeVar("T")


class EngineFailure(RuntimeError):
    """The engine raised (or answered malformed results) for this request's queries."""


@dataclass
class BatcherStats:
    """Counters shown in ``/health``: ``engine_calls < requests`` proves batching happened."""

    requests: int = 0
    queries: int = 0
    engine_calls: int = 0
    batches: int = 0
    failed_requests: int = 0
    largest_batch: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _Pending:
    queries: list[str]
    k: int
    future: asyncio.Future[list[list[Hit]]]
    arrived: float  # time.monotonic() when queued


class QueryBatcher:
    """Collects queries from concurrent requests and answers them with one engine call.

    A request is never split: one larger than ``max_batch`` runs alone, and a request that
    would overflow the current batch opens the next one. The loop starts lazily on the first
    :meth:`search` (inside the server's event loop) and stops with :meth:`aclose`.
    """

    def __init__(self, engine: SearchEngine, *, window_ms: float = 2.0, max_batch: int = 256) -> None:
        if window_ms < 0:
            raise ValueError(f"window_ms must be >= 0, got {window_ms}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.engine = engine
        self.window_s = window_ms / 1000.0
        self.max_batch = max_batch
        self.stats = BatcherStats()
        self._executor: ThreadPoolExecutor | None = None
        self._loop_ref: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Pending] | None = None
        self._task: asyncio.Task[None] | None = None
        self._carry: _Pending | None = None

    # ------------------------------------------------------------------ public API

    async def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        """The top-``k`` hits of each query, computed in a shared batch.

        Raises :class:`EngineFailure` when the engine fails on these queries.
        """
        if not queries:
            return []
        self._ensure_started()
        assert self._queue is not None
        future: asyncio.Future[list[list[Hit]]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(list(queries), k, future, time.monotonic()))
        return await future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the engine thread (used for ``access``)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="searchgym-engine")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def aclose(self) -> None:
        """Stop the loop, fail whatever is still queued, and release the engine thread."""
        task, self._task = self._task, None
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        pending = [self._carry] if self._carry is not None else []
        self._carry = None
        while self._queue is not None and not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for item in pending:
            if not item.future.done():
                item.future.set_exception(EngineFailure("server is shutting down"))
        self._queue = None
        self._loop_ref = None
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ loop

    def _ensure_started(self) -> None:
        """Start the loop in the running event loop (again, if the app moved to a new loop,
        as Starlette's TestClient does per request outside a ``with`` block)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop_ref:
            self._loop_ref, self._queue, self._task, self._carry = loop, asyncio.Queue(), None, None
        if self._task is not None and not self._task.done():
            return
        if self._task is not None:  # should not happen; recover anyway
            logger.error("batcher loop had stopped; restarting it")
        assert self._queue is not None
        self._task = loop.create_task(self._loop(), name="query-batcher")

    async def _loop(self) -> None:
        assert self._queue is not None
        while True:
            batch = await self._collect()
            try:
                await self._answer(batch)
            except asyncio.CancelledError:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(EngineFailure("server is shutting down"))
                raise
            except Exception as error:  # noqa: BLE001 - the loop must survive anything
                logger.exception("batcher failed to answer a batch")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(EngineFailure(f"internal error: {error}"))

    async def _collect(self) -> list[_Pending]:
        """Wait for one request, then gather the batch (see the module doc for the window)."""
        assert self._queue is not None
        first = self._carry if self._carry is not None else await self._queue.get()
        self._carry = None
        batch, size = [first], len(first.queries)
        deadline = first.arrived + self.window_s
        while size < self.max_batch:
            try:
                item = self._queue.get_nowait()  # whatever is already waiting, no wait
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if len(batch) == 1 or remaining <= 0:
                    break  # alone on an idle server, or the window of the oldest has passed
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if item.future.done():  # the client went away (request cancelled)
                continue
            if size + len(item.queries) > self.max_batch:
                self._carry = item  # starts the next batch
                break
            batch.append(item)
            size += len(item.queries)
        return batch

    async def _answer(self, batch: list[_Pending]) -> None:
        batch = [item for item in batch if not item.future.done()]
        if not batch:
            return
        queries = [query for item in batch for query in item.queries]
        max_k = max(item.k for item in batch)
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.queries += len(queries)
        self.stats.largest_batch = max(self.stats.largest_batch, len(queries))
        try:
            results = await self._call(queries, max_k)
        except Exception as error:  # noqa: BLE001
            if len(batch) == 1:
                self._fail(batch[0], error)
                return
            # Isolate the culprit: answer each request alone.
            for item in batch:
                try:
                    self._resolve(item, await self._call(item.queries, item.k))
                except Exception as item_error:  # noqa: BLE001
                    self._fail(item, item_error)
            return
        start = 0
        for item in batch:
            end = start + len(item.queries)
            self._resolve(item, results[start:end])
            start = end

    async def _call(self, queries: list[str], k: int) -> list[list[Hit]]:
        self.stats.engine_calls += 1
        results = await self.run(self.engine.search, queries, k)
        if not isinstance(results, list) or len(results) != len(queries):
            got = len(results) if isinstance(results, list) else type(results).__name__
            raise EngineFailure(f"engine {self.engine.name!r} returned {got} result lists for {len(queries)} queries")
        return results

    def _resolve(self, item: _Pending, results: list[list[Hit]]) -> None:
        if not item.future.done():
            item.future.set_result([list(hits)[: item.k] for hits in results])

    def _fail(self, item: _Pending, error: BaseException) -> None:
        self.stats.failed_requests += 1
        logger.warning("search failed for %d queries: %r", len(item.queries), error)
        if not item.future.done():
            message = str(error) or type(error).__name__
            item.future.set_exception(
                error if isinstance(error, EngineFailure) else EngineFailure(f"{type(error).__name__}: {message}")
            )
