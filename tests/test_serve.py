"""The retrieval server: Search-R1 wire shapes, validation, /access, micro-batching.

A real uvicorn server runs on loopback (module-scoped, so each file starts only a few) and a real
BM25Engine answers; the batcher's failure isolation is tested directly with tiny fake engines.
"""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from searchgym.cache import ArtifactCache
from searchgym.search.base import SearchEngine, UnknownDocumentError
from searchgym.search.bm25 import BM25Engine
from searchgym.serve import BackgroundServer, ServerLimits, create_app
from searchgym.serve.dialects import url_candidates
from searchgym.serve.batcher import EngineFailure, QueryBatcher
from searchgym.types import Hit, Passage

LIMITS = ServerLimits(max_batch=16, max_query_chars=200, max_topk=20, max_body_bytes=8_000)

_WORDS = (
    "river castle harbor violin comet glacier orchard lantern meadow quarry falcon beacon "
    "canyon velvet tundra saffron marble pylon copper thistle ember willow basalt "
    "citadel monsoon prism lagoon"
).split()
_NAMES = ["Arvel Quint", "Bessa Morrow", "Corin Vale", "Dagny Holt", "Elio Marsh", "Fenna Roux"]


def make_passages(n: int = 36, seed: int = 7) -> list[Passage]:
    """A small corpus with varied lengths and vocabularies, so BM25 scores rarely tie."""
    rng = random.Random(seed)
    passages = []
    for i in range(n):
        name = _NAMES[i % len(_NAMES)]
        words = rng.sample(_WORDS, rng.randint(4, 12))
        extra = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(0, 6)))
        text = f"{name} is linked to the {' and the '.join(words)}. {extra} record {i}."
        passages.append(Passage(doc_id=f"doc-{i:03d}", title=f"{name} ({i})", text=text))
    return passages


QUERIES = [
    "Arvel Quint river",
    "glacier comet lantern",
    "who is Bessa Morrow",
    "saffron prism lagoon harbor",
    "Fenna Roux basalt citadel",
    "record 12",
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> BM25Engine:
    cache = ArtifactCache(Path(tmp_path_factory.mktemp("cache")))
    return BM25Engine(make_passages(), cache=cache, show_progress=False)


@pytest.fixture(scope="module")
def server(engine: BM25Engine):
    with BackgroundServer(engine, default_topk=3, limits=LIMITS, batch_window_ms=2.0) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: BackgroundServer):
    with httpx.Client(base_url=server.url, timeout=10.0, trust_env=False) as c:
        yield c


def doc_of(hit: Hit | Passage, base: str) -> dict[str, Any]:
    """The wire document of a hit or passage served from ``base`` (url built from the id)."""
    return {"id": hit.doc_id, "title": hit.title, "text": hit.text, "contents": hit.contents,
            "url": f"{base}/doc/{quote(hit.doc_id, safe='')}"}


@pytest.fixture(scope="module")
def base(server: BackgroundServer) -> str:
    return server.url


def stats(client: httpx.Client) -> dict[str, int]:
    response = client.get("/health")
    assert response.status_code == 200
    return response.json()["stats"]


# --------------------------------------------------------------------------- /retrieve shapes


def test_health_reports_engine_and_corpus(client: httpx.Client) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["engine"] == "bm25"
    assert body["corpus_size"] == 36
    assert body["default_topk"] == 3
    assert body["limits"]["max_topk"] == 20
    assert set(body["stats"]) >= {"requests", "queries", "engine_calls"}


def test_retrieve_with_scores_matches_search_r1_shape(client, engine, base) -> None:
    response = client.post("/retrieve", json={"queries": QUERIES, "topk": 4, "return_scores": True})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["result"]
    expected = engine.search(QUERIES, 4)
    assert len(body["result"]) == len(QUERIES)
    for per_query, hits in zip(body["result"], expected):
        assert per_query == [{"document": doc_of(hit, base), "score": hit.score} for hit in hits]
        for item in per_query:  # what Search-R1's client reads
            title_line, text = item["document"]["contents"].split("\n", 1)
            assert title_line.startswith('"') and title_line.endswith('"')
            assert text == item["document"]["text"]
    assert any(len(per_query) == 4 for per_query in body["result"])


def test_retrieve_without_scores_gives_bare_documents(client, engine, base) -> None:
    response = client.post("/retrieve", json={"queries": QUERIES[:2], "topk": 2})
    assert response.status_code == 200
    expected = engine.search(QUERIES[:2], 2)
    assert response.json() == {"result": [[doc_of(h, base) for h in hits] for hits in expected]}


def test_two_queries_without_scores_are_not_misunpacked(client, engine) -> None:
    """Search-R1's own server mis-unpacks exactly two queries without scores; we must not."""
    response = client.post("/retrieve", json={"queries": QUERIES[:2], "return_scores": False})
    assert len(response.json()["result"]) == 2


def test_single_query_form_gets_one_element_outer_list(client, engine, base) -> None:
    response = client.post(
        "/retrieve", json={"query": QUERIES[0], "topk": 3, "return_scores": True}
    )
    assert response.status_code == 200
    (hits,) = engine.search([QUERIES[0]], 3)
    assert response.json() == {
        "result": [[{"document": doc_of(h, base), "score": h.score} for h in hits]]
    }


def test_zerosearch_top_k_form_gets_a_bare_list(client, engine, base) -> None:
    """ZeroSearch's wiki retriever posts {"query", "top_k"} and iterates the reply itself."""
    response = client.post("/retrieve", json={"query": QUERIES[0], "top_k": 4})
    assert response.status_code == 200
    (hits,) = engine.search([QUERIES[0]], 4)
    assert response.json() == [doc_of(h, base) for h in hits]
    assert len(hits) == 4
    # top_k is also accepted as a spelling of topk in the other dialects
    batched = client.post("/retrieve", json={"queries": [QUERIES[0]], "top_k": 4}).json()
    assert batched == {"result": [[doc_of(h, base) for h in hits]]}
    both = client.post("/retrieve", json={"query": QUERIES[0], "topk": 4, "top_k": 4}).json()
    assert both == {"result": [[doc_of(h, base) for h in hits]]}  # SkyRL spelling wins the shape


def test_default_topk_is_the_server_default(client) -> None:
    body = client.post("/retrieve", json={"queries": ["Arvel Quint"], "return_scores": True}).json()
    assert len(body["result"][0]) == 3


def test_unknown_fields_are_ignored_and_content_type_is_not_required(client, engine, base) -> None:
    response = client.post(
        "/retrieve",
        content=b'{"queries": ["glacier comet"], "topk": 2, "extra": 1}',
        headers={"content-type": "application/x-www-form-urlencoded"},  # what curl -d sends
    )
    assert response.status_code == 200
    assert response.json()["result"] == [[doc_of(h, base) for h in engine.search(["glacier comet"], 2)[0]]]


def test_query_without_matches_gives_empty_list(client) -> None:
    response = client.post("/retrieve", json={"queries": ["zzzqqq", ""], "return_scores": True})
    assert response.status_code == 200
    assert response.json() == {"result": [[], []]}


# --------------------------------------------------------------------------- bad requests


BAD_REQUESTS: list[tuple[str, Any, int, str]] = [
    ("missing both", {"topk": 3}, 422, "either 'queries'"),
    ("both", {"queries": ["a"], "query": "b"}, 422, "not both"),
    ("too many", {"queries": ["river"] * 17}, 422, "too many queries: 17 > max_batch 16"),
    ("topk negative", {"queries": ["a"], "topk": -2}, 422, "at least 1"),
    ("topk huge", {"queries": ["a"], "topk": 10_000}, 422, "too large: 10000 > max_topk 20"),
    ("topk and top_k disagree", {"query": "a", "topk": 2, "top_k": 3}, 422, "disagree"),
    ("topk word", {"queries": ["a"], "topk": "three"}, 422, "topk"),
    ("topk float", {"queries": ["a"], "topk": 2.5}, 422, "topk"),
    ("queries not list", {"queries": "river"}, 422, "queries"),
    ("query not str", {"query": 5}, 422, "query"),
    ("non-str item", {"queries": ["a", 3]}, 422, "queries.1"),
    ("scores not bool", {"queries": ["a"], "return_scores": "maybe"}, 422, "return_scores"),
    ("json array", ["river"], 422, "must be a JSON object, got list"),
    ("null", None, 422, "JSON object"),
]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_retrieve_requests_are_refused_clearly(client, body, status, message) -> None:
    response = client.post("/retrieve", json=body)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert message in detail


@pytest.mark.parametrize(
    "body",
    [{"queries": ["glacier comet"], "topk": "2"}, {"queries": ["glacier comet"], "topk": 2.0},
     {"queries": ["glacier comet"], "topk": 2, "return_scores": "true"},
     {"queries": ["glacier comet"], "topk": 2, "return_scores": 1}],
    ids=["topk string", "topk float", "scores string", "scores int"],
)
def test_search_r1_coercions_are_accepted(client, engine, base, body) -> None:
    """What Search-R1's lax pydantic model accepts, we accept (tests/interop checks the class)."""
    response = client.post("/retrieve", json=body)
    assert response.status_code == 200, response.text
    (hits,) = engine.search(["glacier comet"], 2)
    scored = body.get("return_scores") not in (None, False)
    expected = [{"document": doc_of(h, base), "score": h.score} if scored else doc_of(h, base) for h in hits]
    assert response.json() == {"result": [expected]}


@pytest.mark.parametrize("topk", [0, None])
def test_topk_zero_or_null_is_the_default(client, topk) -> None:
    body = client.post("/retrieve", json={"queries": ["Arvel Quint"], "topk": topk}).json()
    assert len(body["result"][0]) == 3


def test_empty_query_list_answers_an_empty_result(client) -> None:
    """A training turn in which nobody searches (Search-R1 still posts the empty batch)."""
    response = client.post("/retrieve", json={"queries": [], "topk": 3, "return_scores": True})
    assert response.status_code == 200
    assert response.json() == {"result": []}


def test_default_limits_take_4096_queries_in_one_request(engine) -> None:
    """Search-R1 posts a whole training step at once (512 prompts x 5 rollouts = 2,560)."""
    queries = [f"{_NAMES[i % len(_NAMES)]} {_WORDS[i % len(_WORDS)]} {i}" for i in range(4096)]
    with BackgroundServer(engine) as srv, httpx.Client(timeout=60.0, trust_env=False) as http:
        response = http.post(srv.retrieve_url, json={"queries": queries, "topk": 2, "return_scores": True})
        assert response.status_code == 200
        result = response.json()["result"]
        assert len(result) == 4096
        assert [[item["document"]["id"] for item in hits] for hits in result[:50]] == \
            [[hit.doc_id for hit in hits] for hits in engine.search(queries[:50], 2)]
        too_many = http.post(srv.retrieve_url, json={"queries": queries + ["one more"]})
        assert too_many.status_code == 422 and "4097 > max_batch 4096" in too_many.json()["detail"]


def test_over_long_queries_are_truncated_not_failed(client, engine, base) -> None:
    long_query = "glacier comet " + "x" * 400
    response = client.post("/retrieve", json={"queries": ["Arvel Quint river", long_query], "topk": 2})
    assert response.status_code == 200
    assert response.headers["x-searchgym-truncated-queries"] == "1"
    expected = engine.search(["Arvel Quint river", long_query[:200]], 2)
    assert response.json() == {"result": [[doc_of(h, base) for h in hits] for hits in expected]}
    single = client.post("/retrieve", json={"query": "x" * 201})
    assert single.status_code == 200 and single.headers["x-searchgym-truncated-queries"] == "1"
    assert "x-searchgym-truncated-queries" not in client.post("/retrieve", json={"queries": ["ok"]}).headers


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"{not json", "not valid JSON"), (b"", "empty"), (b"\xff\xfe", "not valid JSON")],
)
def test_malformed_bodies(client, raw: bytes, message: str) -> None:
    response = client.post("/retrieve", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_oversized_body_is_413_by_content_length(client) -> None:
    response = client.post("/retrieve", json={"queries": ["a" * 9_000]})
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
    assert "max_body_bytes 8000" in response.json()["detail"]


def test_oversized_chunked_body_is_413(client) -> None:
    def chunks():  # no Content-Length: httpx streams it chunked
        yield b'{"queries": ["'
        for _ in range(10):
            yield b"a" * 1000
        yield b'"]}'

    response = client.post("/retrieve", content=chunks())
    assert response.status_code == 413


def test_wrong_method_and_route(client) -> None:
    assert client.get("/retrieve").status_code == 405
    assert client.post("/nope", json={}).status_code == 404


def test_server_still_healthy_after_bad_requests(client, engine, base) -> None:
    for body in ({"queries": 3}, {"topk": 1}, ["x"]):
        client.post("/retrieve", json=body)
    client.post("/retrieve", content=b"{", headers={"content-type": "application/json"})
    assert client.get("/health").json()["status"] == "ok"
    response = client.post("/retrieve", json={"queries": [QUERIES[1]], "topk": 2})
    assert response.status_code == 200
    assert response.json()["result"] == [[doc_of(h, base) for h in engine.search([QUERIES[1]], 2)[0]]]


# --------------------------------------------------------------------------- /access


def test_access_by_ids(client, engine, base) -> None:
    response = client.post("/access", json={"ids": ["doc-003", "doc-010"]})
    assert response.status_code == 200
    expected = [engine.access("doc-003"), engine.access("doc-010")]
    assert response.json() == {"result": [doc_of(p, base) for p in expected]}


def test_access_unknown_id_is_404_listing_unknown_ids(client) -> None:
    response = client.post("/access", json={"ids": ["doc-001", "nope", "doc-999"]})
    assert response.status_code == 404
    body = response.json()
    assert body["unknown_ids"] == ["nope", "doc-999"]
    assert "unknown document id(s): 'nope', 'doc-999'" in body["detail"]


def test_access_by_urls_uses_asearcher_contract(client, engine) -> None:
    urls = ["searchgym://doc/doc-004", "doc-005", "http://example.org/wiki/missing"]
    response = client.post("/access", json={"urls": urls})
    assert response.status_code == 200
    first, second, third = response.json()["result"]
    assert first["id"] == "doc-004" and first["url"] == urls[0]
    assert first["contents"] == engine.access("doc-004").contents
    assert second["id"] == "doc-005"
    assert third is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "either 'ids' or 'urls'"),
        ({"ids": ["a"], "urls": ["b"]}, "not both"),
        ({"ids": []}, "'ids' is empty"),
        ({"ids": ["a"] * 17}, "too many ids"),
        ({"ids": "doc-001"}, "ids"),
    ],
)
def test_bad_access_requests(client, body, message) -> None:
    response = client.post("/access", json=body)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_url_candidates() -> None:
    assert url_candidates("doc-1") == ["doc-1"]
    assert url_candidates("searchgym://doc/doc-1") == ["searchgym://doc/doc-1", "doc-1"]
    assert url_candidates("http://h/wiki/a%20b/") == ["http://h/wiki/a%20b/", "a b"]
    # our own urls name the whole quoted rest of the path, whatever the id holds
    assert url_candidates("http://h:1/doc/a%2Fb%3Fc")[0] == "a/b?c"


def test_result_urls_resolve_by_access_and_by_get(client, engine) -> None:
    """ASearcher's loop: search, then read the page by the url of a hit."""
    (hits,) = client.post("/retrieve", json={"queries": ["Corin Vale"], "topk": 3}).json()["result"]
    urls = [hit["url"] for hit in hits]
    pages = client.post("/access", json={"urls": urls}).json()["result"]
    assert [page["id"] for page in pages] == [hit["id"] for hit in hits]
    assert [page["contents"] for page in pages] == [engine.access(hit["id"]).contents for hit in hits]
    assert [page["url"] for page in pages] == urls
    page = httpx.get(urls[0], trust_env=False).json()
    assert page == {**hits[0]}
    missing = client.get("/doc/no-such-doc")
    assert missing.status_code == 404 and "unknown document id" in missing.json()["detail"]


# --------------------------------------------------------------------------- batching


def test_concurrent_requests_are_batched_and_answered_correctly(engine) -> None:
    queries = [f"{random.Random(i).choice(_NAMES)} {_WORDS[i % len(_WORDS)]}" for i in range(64)]
    expected = engine.search(queries, 3)
    with BackgroundServer(engine, batch_window_ms=20.0, limits=LIMITS) as srv:
        served_from = srv.url
        with httpx.Client(base_url=srv.url, timeout=20.0, trust_env=False) as http:
            before = stats(http)

            def ask(i: int) -> tuple[int, Any]:
                body: dict[str, Any] = {"topk": 3, "return_scores": True}
                if i % 2:
                    body["query"] = queries[i]  # SkyRL form
                else:
                    body["queries"] = [queries[i]]
                response = http.post("/retrieve", json=body)
                return response.status_code, response.json()

            with ThreadPoolExecutor(max_workers=16) as pool:
                answers = list(pool.map(ask, range(64)))
            after = stats(http)
    for i, (status, body) in enumerate(answers):
        assert status == 200
        assert body["result"] == [[{"document": doc_of(h, served_from), "score": h.score} for h in expected[i]]]
    requests = after["requests"] - before["requests"]
    calls = after["engine_calls"] - before["engine_calls"]
    assert requests == 64
    assert after["queries"] - before["queries"] == 64
    assert calls < requests, f"no batching: {calls} engine calls for {requests} requests"
    assert after["largest_batch"] > 1


class _RecordingEngine:
    """Naive term-overlap engine that records its calls and fails on the word BOOM."""

    name = "recording"

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self.calls: list[tuple[list[str], int]] = []

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        self.calls.append((list(queries), k))
        if any("BOOM" in q for q in queries):
            raise RuntimeError("engine exploded on BOOM")
        out = []
        for query in queries:
            terms = set(query.lower().split())
            scored = [
                (len(terms & set(p.text.lower().split())), -row, p)
                for row, p in enumerate(self.passages)
            ]
            ranked = sorted((s for s in scored if s[0] > 0), reverse=True)[:k]
            out.append([Hit(p.doc_id, float(s), p.title, p.text) for s, _, p in ranked])
        return out

    def access(self, doc_id: str) -> Passage:
        for passage in self.passages:
            if passage.doc_id == doc_id:
                return passage
        raise UnknownDocumentError(doc_id)


def test_batcher_trims_to_each_k_and_isolates_failures() -> None:
    engine = _RecordingEngine(make_passages(12))
    assert isinstance(engine, SearchEngine)

    async def scenario() -> list[Any]:
        batcher = QueryBatcher(engine, window_ms=50.0, max_batch=64)
        try:
            ok = await asyncio.gather(
                batcher.search(["river castle"], 2), batcher.search(["comet", "glacier"], 5)
            )
            mixed = await asyncio.gather(
                batcher.search(["river"], 1),
                batcher.search(["BOOM river"], 3),
                batcher.search(["comet"], 2),
                return_exceptions=True,
            )
            after = await batcher.search(["marble"], 1)  # the loop survived
            return [ok, mixed, after, batcher.stats.to_dict()]
        finally:
            await batcher.aclose()

    ok, mixed, after, stats_ = asyncio.run(scenario())
    assert engine.calls[0] == (["river castle", "comet", "glacier"], 5)  # one call, max k
    assert ok[0] == [engine.search(["river castle"], 2)[0]]
    assert ok[1] == engine.search(["comet", "glacier"], 5)
    assert isinstance(mixed[1], EngineFailure)
    assert "engine exploded on BOOM" in str(mixed[1])
    assert mixed[0] == engine.search(["river"], 1)
    assert mixed[2] == engine.search(["comet"], 2)
    assert len(after) == 1
    assert stats_["failed_requests"] == 1


def test_batcher_respects_max_batch() -> None:
    engine = _RecordingEngine(make_passages(8))

    async def scenario() -> None:
        batcher = QueryBatcher(engine, window_ms=50.0, max_batch=3)
        try:
            await asyncio.gather(*(batcher.search(["river", "comet"], 1) for _ in range(3)))
        finally:
            await batcher.aclose()

    asyncio.run(scenario())
    assert [len(queries) for queries, _ in engine.calls] == [2, 2, 2]


def test_wrong_result_count_is_an_engine_failure() -> None:
    class Short(_RecordingEngine):
        def search(self, queries: list[str], k: int) -> list[list[Hit]]:
            return []

    async def scenario() -> None:
        batcher = QueryBatcher(Short(make_passages(4)), window_ms=0.0)
        try:
            with pytest.raises(EngineFailure, match="returned 0 result lists for 1 queries"):
                await batcher.search(["river"], 1)
        finally:
            await batcher.aclose()

    asyncio.run(scenario())


def test_engine_failure_is_a_500_for_that_request_only() -> None:
    engine = _RecordingEngine(make_passages(12))
    with BackgroundServer(engine, batch_window_ms=1.0) as srv:
        served_from = srv.url
        with httpx.Client(base_url=srv.url, timeout=10.0, trust_env=False) as http:
            bad = http.post("/retrieve", json={"queries": ["BOOM"]})
            good = http.post("/retrieve", json={"query": "river", "topk": 2})
            health = http.get("/health").json()
    assert bad.status_code == 500
    assert "search failed" in bad.json()["detail"] and "BOOM" in bad.json()["detail"]
    assert good.status_code == 200
    assert good.json()["result"] == [[doc_of(h, served_from) for h in engine.search(["river"], 2)[0]]]
    assert health["status"] == "ok" and health["corpus_size"] == 12
    assert health["stats"]["failed_requests"] == 1


def test_create_app_rejects_bad_default_topk(engine) -> None:
    with pytest.raises(ValueError, match="default_topk"):
        create_app(engine, default_topk=0)
    with pytest.raises(ValueError, match="max_topk"):
        create_app(engine, default_topk=50, limits=LIMITS)


def test_background_server_stops_and_frees_the_port(engine) -> None:
    srv = BackgroundServer(engine)
    with srv:
        url = srv.url
        assert httpx.get(url + "/health", trust_env=False).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health", trust_env=False, timeout=1.0)
