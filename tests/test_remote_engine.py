"""RemoteEngine against our server (identical hits), stand-in Search-R1 servers, and failures."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from searchgym.cache import ArtifactCache
from searchgym.search.base import SearchEngine, SearchError, UnknownDocumentError
from searchgym.search.bm25 import BM25Engine
from searchgym.search.remote import RemoteEngine, parse_hit, split_contents
from searchgym.serve import BackgroundServer, ServerLimits
from searchgym.types import Hit, Passage

_WORDS = (
    "river castle harbor violin comet glacier orchard lantern meadow quarry falcon beacon "
    "canyon velvet tundra saffron marble pylon copper thistle ember willow"
).split()

QUERIES = ["river castle", "comet glacier lantern", "Vale harbor", "zzznothing", "", "ember 7"]


def make_passages(n: int = 30, seed: int = 3) -> list[Passage]:
    rng = random.Random(seed)
    passages = []
    for i in range(n):
        words = " ".join(rng.sample(_WORDS, rng.randint(3, 10)))
        passages.append(
            Passage(doc_id=f"p{i}", title=f"Entity {i} Vale", text=f"{words} {rng.randint(0, 9)}")
        )
    return passages


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> BM25Engine:
    cache = ArtifactCache(Path(tmp_path_factory.mktemp("cache")))
    return BM25Engine(make_passages(), cache=cache, show_progress=False)


@pytest.fixture(scope="module")
def server(engine: BM25Engine):
    limits = ServerLimits(max_query_chars=100, max_topk=10)
    with BackgroundServer(engine, limits=limits) as srv:
        yield srv


def health(server: BackgroundServer) -> dict[str, Any]:
    return httpx.get(server.url + "/health", trust_env=False).json()


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stand_in(routes: dict[str, Any]) -> FastAPI:
    """A minimal third-party-like server: ``routes`` maps a path to ``handler(body) -> Response``."""
    app = FastAPI()

    @app.get("/health")
    async def _health() -> dict[str, str]:
        return {"status": "ok"}

    for path, handler in routes.items():

        async def endpoint(request: Request, _handler: Any = handler) -> Any:
            return _handler(await request.json())

        app.add_api_route(path, endpoint, methods=["POST"])
    return app


# --------------------------------------------------------------------------- against our server


def test_remote_hits_equal_direct_engine_hits(server, engine) -> None:
    with RemoteEngine(server.url) as remote:
        assert isinstance(remote, SearchEngine)
        for k in (1, 3, 7):
            assert remote.search(QUERIES, k) == engine.search(QUERIES, k)


def test_full_retrieve_url_is_accepted(server, engine) -> None:
    with RemoteEngine(server.url + "/retrieve/", name="srv") as remote:
        assert remote.name == "srv"
        assert remote.search(QUERIES[:2], 3) == engine.search(QUERIES[:2], 3)


def test_queries_go_out_in_chunks(server, engine) -> None:
    queries = [f"{w} {v}" for w, v in zip(_WORDS, reversed(_WORDS))][:10]
    before = health(server)["stats"]
    with RemoteEngine(server.url, batch_size=3) as remote:
        assert remote.search(queries, 2) == engine.search(queries, 2)
    after = health(server)["stats"]
    assert after["requests"] - before["requests"] == 4  # 3 + 3 + 3 + 1
    assert after["queries"] - before["queries"] == 10


def test_empty_batch_and_nonpositive_k_send_nothing(server) -> None:
    before = health(server)["stats"]["requests"]
    with RemoteEngine(server.url) as remote:
        assert remote.search([], 3) == []
        assert remote.search(["river"], 0) == [[]]
        with pytest.raises(TypeError):
            remote.search("river", 3)  # type: ignore[arg-type]
    assert health(server)["stats"]["requests"] == before


def test_access_through_server(server, engine) -> None:
    with RemoteEngine(server.url) as remote:
        passage = remote.access("p4")
        expected = engine.access("p4")
        assert (passage.doc_id, passage.title, passage.text) == (
            expected.doc_id,
            expected.title,
            expected.text,
        )
        with pytest.raises(UnknownDocumentError, match="unknown document id 'nope'"):
            remote.access("nope")


def test_4xx_is_a_search_error_without_retries(server) -> None:
    before = health(server)["stats"]["requests"]
    start = time.monotonic()
    with RemoteEngine(server.url, backoff=1.0) as remote:
        with pytest.raises(SearchError, match=r"HTTP 422: .*'topk' is too large: 50 > max_topk 10"):
            remote.search(["river"], 50)
    assert time.monotonic() - start < 1.0  # no backoff sleeps: 4xx is not retried
    assert health(server)["stats"]["requests"] == before
    with BackgroundServer(server.engine, limits=ServerLimits(max_batch=4)) as small, \
            RemoteEngine(small.url, batch_size=8, backoff=1.0) as remote:
        start = time.monotonic()
        with pytest.raises(SearchError, match=r"HTTP 422: .*too many queries: 8 > max_batch 4"):
            remote.search(["river"] * 8, 3)
        assert time.monotonic() - start < 1.0


def test_server_errors_are_retried_until_success(engine) -> None:
    class Flaky:
        """Fails its first two calls, like a server still warming up."""

        name = "flaky"

        def __init__(self) -> None:
            self.failures_left = 2

        def search(self, queries: list[str], k: int) -> list[list[Hit]]:
            if self.failures_left:
                self.failures_left -= 1
                raise RuntimeError("warming up")
            return engine.search(queries, k)

        def access(self, doc_id: str) -> Passage:
            return engine.access(doc_id)

    with BackgroundServer(Flaky()) as srv, RemoteEngine(srv.url, backoff=0.01) as remote:
        assert remote.search(QUERIES[:3], 2) == engine.search(QUERIES[:3], 2)
    with BackgroundServer(Flaky()) as srv, RemoteEngine(srv.url, max_retries=1, backoff=0.01) as remote:
        with pytest.raises(SearchError, match=r"after 2 attempts: HTTP 500: search failed: .*warming up"):
            remote.search(["river"], 2)


def test_closed_port_retries_then_fails_clearly() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with RemoteEngine(url, timeout=0.5, max_retries=2, backoff=0.05) as remote:
        with pytest.raises(SearchError) as info:
            remote.search(["river"], 3)
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert "failed after 3 attempt(s)" in message
    assert "ConnectError" in message and url in message
    assert 0.15 <= elapsed < 5.0  # slept 0.05 + 0.10 between the attempts


def test_bad_url_is_rejected_early() -> None:
    with pytest.raises(ValueError, match="http://"):
        RemoteEngine("127.0.0.1:8000")


# --------------------------------------------------------------------------- stand-in servers


def test_search_r1_dense_server_without_access() -> None:
    """A Search-R1 e5 server: docs are ``{id, contents}`` only, and there is no /access."""

    def retrieve(body: dict[str, Any]) -> dict[str, Any]:
        assert body["return_scores"] is True and body["topk"] == 2
        return {
            "result": [
                [
                    {"document": {"id": f"{q}-{i}", "contents": f'"{q} title {i}"\n{q} text {i}\nmore'},
                     "score": 1.0 / (i + 1)}
                    for i in range(3)  # sends more than topk: the client trims
                ]
                for q in body["queries"]
            ]
        }

    with BackgroundServer(app=stand_in({"/retrieve": retrieve})) as srv:
        with RemoteEngine(srv.retrieve_url) as remote:
            (hits,) = remote.search(["moon"], 2)
            assert hits == [
                Hit("moon-0", 1.0, "moon title 0", "moon text 0\nmore"),
                Hit("moon-1", 0.5, "moon title 1", "moon text 1\nmore"),
            ]
            with pytest.raises(SearchError, match="has no /access endpoint"):
                remote.access("moon-0")


def test_pyserini_bm25_docs_without_id_and_bare_docs() -> None:
    """Search-R1's BM25 docs carry title/text/contents but no id; some servers send bare docs."""

    def retrieve(body: dict[str, Any]) -> dict[str, Any]:
        return {
            "result": [
                [
                    {"document": {"title": "T", "text": "body", "contents": '"T"\nbody'}, "score": 3},
                    {"id": "bare", "contents": "one line only"},
                ]
                for _ in body["queries"]
            ]
        }

    with BackgroundServer(app=stand_in({"/retrieve": retrieve})) as srv:
        with RemoteEngine(srv.url) as remote:
            first, second = remote.search(["a", "b"], 5)
    assert first == second
    assert first[0].doc_id.startswith("sha1:") and (first[0].title, first[0].text) == ("T", "body")
    assert first[0].score == 3.0
    assert first[1] == Hit("bare", 0.0, "", "one line only")


def test_429_is_retried_and_malformed_answers_fail() -> None:
    calls = {"n": 0}

    def retrieve(body: dict[str, Any]) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            return JSONResponse({"detail": "slow down"}, status_code=429, headers={"Retry-After": "0"})
        if body["queries"] == ["short"]:
            return {"result": []}  # wrong number of per-query lists
        return {"result": [[{"document": {"id": "x", "contents": '"X"\ny'}, "score": 1}]]}

    with BackgroundServer(app=stand_in({"/retrieve": retrieve})) as srv:
        with RemoteEngine(srv.url, backoff=0.01) as remote:
            assert remote.search(["q"], 1) == [[Hit("x", 1.0, "X", "y")]]
            assert calls["n"] == 2
            with pytest.raises(SearchError, match="expected 1 result lists, got 0"):
                remote.search(["short"], 1)


def test_missing_retrieve_route_is_reported() -> None:
    with BackgroundServer(app=stand_in({})) as srv:
        with RemoteEngine(srv.url, backoff=0.01) as remote:
            with pytest.raises(SearchError, match="no /retrieve endpoint"):
                remote.search(["q"], 1)


def test_parsing_helpers() -> None:
    assert split_contents('"Title"\nline 1\nline 2') == ("Title", "line 1\nline 2")
    assert split_contents("Plain title\ntext") == ("Plain title", "text")
    assert split_contents("no newline") == ("", "no newline")
    assert parse_hit({"id": "a", "title": "t", "text": "x"}) == Hit("a", 0.0, "t", "x")
    with pytest.raises(SearchError, match="neither title/text nor contents"):
        parse_hit({"document": {"id": "a"}, "score": 1})
    with pytest.raises(SearchError, match="malformed score"):
        parse_hit({"document": {"id": "a", "contents": "c"}, "score": "high"})
