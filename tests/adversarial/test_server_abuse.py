"""The retrieval server against hostile clients (issue 15, items 10-12).

In-process (Starlette's TestClient, no sockets): hypothesis-generated bodies never get a 5xx,
and every answer is one readable JSON line. On loopback (a real uvicorn server): clients that
hang up after sending, stalled uploads and floods are bounded while an honest client's latency
stays low. Plus the optional API key and the docs switch.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from adversary import make
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from searchgym.serve import BackgroundServer, create_app


@pytest.fixture(scope="module")
def engine():
    return make().unwrapped.engine


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(create_app(engine), raise_server_exceptions=False) as test_client:
        yield test_client


def assert_clean_refusal_or_answer(response) -> None:
    assert response.status_code < 500, response.text[:300]
    data = response.json()
    if response.status_code >= 400:
        assert isinstance(data["detail"], str) and "\n" not in data["detail"]


# --------------------------------------------------------------------------- item 11: never a 500


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries({"queries": st.lists(st.text(max_size=30), max_size=5) | json_values,
                           "topk": st.integers(-10**30, 10**30) | json_values,
                           "return_scores": json_values}).map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries({"ids": st.lists(st.text(max_size=20), max_size=5) | json_values}).map(
        lambda value: json.dumps(value).encode()),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, path=st.sampled_from(["/retrieve", "/access"]),
       content_type=st.sampled_from(["application/json", "text/plain", None]))
def test_fuzzed_bodies_never_get_a_server_error(client, body, path, content_type):
    headers = {"content-type": content_type} if content_type else {}
    assert_clean_refusal_or_answer(client.post(path, content=body, headers=headers))


HOSTILE_BODIES = {
    "topk with 4301 digits": b'{"queries": ["a"], "topk": ' + b"9" * 4301 + b"}",
    "topk with 100 digits": b'{"queries": ["a"], "topk": ' + b"9" * 100 + b"}",
    "nested 100000 deep": b'{"queries": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "nested objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "lone surrogate in ids": b'{"ids": ["\\ud800"]}',
    "lone surrogate in urls": b'{"urls": ["http://x/\\udfff"]}',
    "lone surrogate in a query": b'{"queries": ["\\udc00 x"]}',
    "lone surrogate key": b'{"\\ud800": 1, "queries": ["a"]}',
    "NaN topk": b'{"queries": ["a"], "topk": NaN}',
    "infinite topk": b'{"queries": ["a"], "topk": Infinity}',
    "huge float": b'{"queries": ["a"], "topk": 1e400}',
    "bad utf-8": b'{"queries": ["\xff\xfe"]}',
    "null bytes": b'{"queries": ["\x00"]}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
@pytest.mark.parametrize("path", ["/retrieve", "/access"])
def test_hostile_bodies_get_a_4xx(client, name, path):
    response = client.post(path, content=HOSTILE_BODIES[name], headers={"content-type": "application/json"})
    assert_clean_refusal_or_answer(response)


# --------------------------------------------------------------------------- item 12: api key, docs


def test_api_key_protects_retrieve_and_access(engine, monkeypatch):
    from searchgym.search.remote import RemoteEngine

    with BackgroundServer(engine, api_key="s3cret") as server, httpx.Client(trust_env=False) as http:
        body = {"queries": ["Hobraland"]}
        assert http.post(server.retrieve_url, json=body).status_code == 401
        assert http.post(server.retrieve_url, json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert http.post(server.url + "/access", json={"ids": ["x"]}).status_code == 401
        assert http.post(server.retrieve_url, json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert http.post(server.retrieve_url, json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert http.get(server.url + "/health").status_code == 200  # probes stay open
        health = http.get(server.url + "/health").json()
        assert health["guard"]["auth"] is True and "s3cret" not in json.dumps(health)
        assert RemoteEngine(server.url, api_key="s3cret", max_retries=0).search(["Hobraland"], 2)
        monkeypatch.setenv("SEARCHGYM_API_KEY", "s3cret")
        assert RemoteEngine(server.url, max_retries=0).search(["Hobraland"], 2)
        monkeypatch.delenv("SEARCHGYM_API_KEY")
        from searchgym.search.base import SearchError

        with pytest.raises(SearchError, match="401"):
            RemoteEngine(server.url, max_retries=0).search(["Hobraland"], 2)


def test_docs_can_be_hidden(engine):
    with TestClient(create_app(engine)) as shown, TestClient(create_app(engine, show_docs=False)) as hidden:
        for path in ("/docs", "/openapi.json", "/redoc"):
            assert shown.get(path).status_code == 200
            assert hidden.get(path).status_code == 404
        assert hidden.get("/health").status_code == 200


def test_cli_flags_and_loopback_default():
    from searchgym.cli import build_parser

    args = build_parser().parse_args(["serve", "--api-key", "k", "--no-docs", "--max-concurrent", "8",
                                      "--body-timeout", "3"])
    assert (args.api_key, args.no_docs, args.max_concurrent, args.body_timeout) == ("k", True, 8, 3.0)
    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"


# --------------------------------------------------------------------------- item 10: loopback abuse


def max_size_body(engine) -> bytes:
    """A request at every limit: 256 queries of ~2,000 characters, top-100."""
    words = " ".join(passage.text for passage in engine.passages[:60]).split()
    queries = [" ".join(words[(7 * i) % 800 : (7 * i) % 800 + 300])[:1950] for i in range(256)]
    return json.dumps({"queries": queries, "topk": 100}).encode()


def raw_post(port: int, body: bytes, *, declared: int | None = None, send: int | None = None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    head = (f"POST /retrieve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared if declared is not None else len(body)}\r\n\r\n").encode()
    sock.sendall(head + body[: send if send is not None else len(body)])
    return sock


def honest_latencies(url: str, count: int) -> list[float]:
    latencies = []
    with httpx.Client(timeout=60, trust_env=False) as http:
        for _ in range(count):
            started = time.perf_counter()
            response = http.post(url, json={"queries": ["Hobraland"], "topk": 3})
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    return sorted(latencies)


def test_work_of_clients_that_hang_up_is_cancelled(engine):
    """40 max-size requests closed right after sending: before, the engine answered them all
    and the next honest request waited ~10-17 s; now they are dropped."""
    body = max_size_body(engine)
    with BackgroundServer(engine) as server:
        for _ in range(40):
            raw_post(server.port, body).close()
        time.sleep(0.05)
        latencies = honest_latencies(server.retrieve_url, 5)
        stats = httpx.get(server.url + "/health", trust_env=False).json()["stats"]
    assert latencies[-1] < 3.0, latencies
    assert stats["engine_calls"] < 20, stats


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


@pytest.mark.slow
def test_stalled_uploads_and_floods_keep_the_honest_client_fast(engine):
    """300 uploads that stall at 900 KB of 1 MB (before: 270 MB held, forever): the bytes
    buffered stay under the guard's cap (overflow gets 503) and the uploads time out. Then a
    flood of max-size requests. An honest client's p99 stays low throughout."""
    from searchgym.serve.guard import GuardOptions

    guard = GuardOptions(body_timeout_s=3.0, max_concurrent=8, max_buffered_bytes=32_000_000)
    body = max_size_body(engine)
    with BackgroundServer(engine, guard=guard) as server:
        before = _rss_mb()
        stalled = [raw_post(server.port, b" " * 900_000, declared=1_000_000) for _ in range(300)]
        time.sleep(0.5)
        latencies = honest_latencies(server.retrieve_url, 20)
        grown = _rss_mb() - before  # measured while all 300 are stalled
        time.sleep(3.5)  # their body timeout passes: the buffers are free again
        guard_stats = httpx.get(server.url + "/health", trust_env=False).json()["guard"]
        flood_status: list[int] = []

        def flood() -> None:
            with httpx.Client(timeout=60, trust_env=False) as http:
                for _ in range(4):
                    flood_status.append(http.post(server.retrieve_url, content=body).status_code)

        flooders = [threading.Thread(target=flood) for _ in range(3)]
        for thread in flooders:
            thread.start()
        latencies += honest_latencies(server.retrieve_url, 20)
        for thread in flooders:
            thread.join(120)
        for sock in stalled:
            sock.close()
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"honest p50 {latencies[len(latencies) // 2]:.3f} s, p99 {p99:.3f} s; stalled uploads grew {grown:.0f} MB")
    assert p99 < 5.0, latencies
    assert grown < 32 + 64, f"300 stalled uploads grew the server by {grown:.0f} MB"  # cap + socket buffers
    assert guard_stats["body_timeouts"] > 0 and guard_stats["rejected_busy"] > 0, guard_stats
    assert set(flood_status) <= {200, 503} and 200 in flood_status


def test_concurrency_is_bounded_with_retry_after(engine):
    from searchgym.serve.guard import GuardOptions

    body = max_size_body(engine)
    with BackgroundServer(engine, guard=GuardOptions(max_concurrent=1)) as server:
        results: list[Any] = []

        def post() -> None:
            with httpx.Client(timeout=60, trust_env=False) as http:
                results.append(http.post(server.retrieve_url, content=body))

        threads = [threading.Thread(target=post) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    statuses = sorted(response.status_code for response in results)
    assert 200 in statuses and 503 in statuses, statuses
    busy = next(response for response in results if response.status_code == 503)
    assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["detail"]
