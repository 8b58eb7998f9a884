"""Security checks: no unsafe deserialisation, cache paths stay inside the cache, bounded server
requests, and a bounded loopback load test with no errors and no lost or mixed-up answers."""

from __future__ import annotations

import ast
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import searchgym
from searchgym.cache import MANIFEST_NAME, ArtifactCache, CacheError, file_sha256, safe_name
from episodes import SMALL

PACKAGE = Path(searchgym.__file__).resolve().parent


# --------------------------------------------------------------------------- deserialisation


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _keyword(call: ast.Call, name: str):
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _is_true(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_calls(source: str, filename: str) -> list[str]:
    """Calls that can execute code from a file: pickle-family loads, torch.load without
    ``weights_only=True``, ``np.load(allow_pickle=True)``, ``yaml.load`` without a safe loader."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        where = f"{filename}:{node.lineno} {name}"
        last = name.rsplit(".", 1)[-1]
        root = name.split(".", 1)[0]
        if root in ("pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve") and last in (
                "load", "loads", "open", "Unpickler"):
            found.append(where)
        elif name in ("Unpickler", "pickle.Unpickler"):
            found.append(where)
        elif name == "torch.load" or name.endswith(".torch.load"):
            if not _is_true(_keyword(node, "weights_only")):
                found.append(where + " (without weights_only=True)")
        elif last == "load" and root in ("np", "numpy") and _is_true(_keyword(node, "allow_pickle")):
            found.append(where + " (allow_pickle=True)")
        elif name == "yaml.load":
            loader = _keyword(node, "Loader")
            if loader is None or "Safe" not in _dotted(loader):
                found.append(where + " (not a safe loader)")
        elif name in ("pandas.read_pickle", "pd.read_pickle"):
            found.append(where)
    return found


def test_the_scanner_catches_unsafe_loads():
    bad = ("import pickle, torch, numpy as np, yaml\n"
           "pickle.load(f)\npickle.loads(b)\ntorch.load(p)\ntorch.load(p, weights_only=False)\n"
           "np.load(p, allow_pickle=True)\nyaml.load(s)\n")
    assert len(unsafe_calls(bad, "bad.py")) == 6
    good = ("import torch, numpy as np, yaml\ntorch.load(p, weights_only=True)\nnp.load(p)\n"
            "np.load(p, allow_pickle=False)\nyaml.safe_load(s)\nyaml.load(s, Loader=yaml.SafeLoader)\n")
    assert unsafe_calls(good, "good.py") == []


def test_package_never_unpickles_files():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += unsafe_calls(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert problems == [], "unsafe deserialisation in searchgym/: " + "; ".join(problems)


# --------------------------------------------------------------------------- cache paths


@pytest.mark.parametrize("name", ["..", "../x", "a/b", "/etc", "a/../b", ".hidden", "", "x" * 200, "a\\b", "..."])
def test_cache_rejects_names_that_could_escape(tmp_path, name):
    cache = ArtifactCache(tmp_path / "cache")
    with pytest.raises(CacheError):
        safe_name(name)
    with pytest.raises(CacheError):
        cache.entry_dir("ns", name)
    with pytest.raises(CacheError):
        cache.entry_dir(name, "key")
    with pytest.raises(CacheError):
        cache.get_or_build("ns", name, lambda d: (d / "f").write_text("x"))
    assert not (tmp_path / "x").exists() and not (tmp_path / "f").exists()


@pytest.mark.parametrize("listed", ["../outside.txt", "../../outside.txt", "{abs}"])
def test_manifest_listing_paths_outside_the_entry_is_corrupted(tmp_path, listed):
    cache = ArtifactCache(tmp_path / "cache")
    outside = tmp_path / "cache" / "ns" / "outside.txt"
    outside.parent.mkdir(parents=True)
    outside.write_text("do not touch")
    directory = cache.get_or_build("ns", "key1", lambda d: (d / "data.txt").write_text("payload"))
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    name = str(outside) if listed == "{abs}" else listed.replace("../../", "../../ns/")
    manifest["files"][name] = file_sha256(outside)  # a "valid" checksum for a file outside
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert cache.load("ns", "key1") is None  # corrupted: refused, entry removed
    assert not directory.exists()
    assert outside.read_text() == "do not touch"
    rebuilt = cache.get_or_build("ns", "key1", lambda d: (d / "data.txt").write_text("payload"))
    assert (rebuilt / "data.txt").read_text() == "payload"


def test_tampered_cache_file_is_rebuilt(tmp_path):
    cache = ArtifactCache(tmp_path)
    directory = cache.get_or_build("ns", "k", lambda d: (d / "data.txt").write_text("payload"))
    (directory / "data.txt").write_text("evil")
    assert cache.load("ns", "k") is None


def test_same_size_rewrite_is_caught_by_its_new_mtime_and_hidden_rot_by_full_verify(tmp_path, monkeypatch):
    import os

    cache = ArtifactCache(tmp_path)
    directory = cache.get_or_build("ns", "k", lambda d: (d / "data.txt").write_text("payload"))
    target = directory / "data.txt"
    stat = target.stat()
    target.write_text("PAYLOAD")  # same size, new mtime: re-hashed, caught
    assert cache.load("ns", "k") is None

    directory = cache.get_or_build("ns", "k", lambda d: (d / "data.txt").write_text("payload"))
    target = directory / "data.txt"
    stat = target.stat()
    target.write_text("PAYLOAD")
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # bit rot keeps size and mtime
    assert cache.load("ns", "k") == directory  # the fast path trusts size + mtime
    monkeypatch.setenv("SEARCHGYM_CACHE_VERIFY", "full")
    assert cache.load("ns", "k") is None  # full verification re-hashes and catches it


def test_dead_temporary_build_dirs_are_removed_live_ones_kept(tmp_path):
    """A build's temporary dir is alive while its builder holds the key's lock (the kernel drops
    it when the builder dies): dead ones go at once, whatever their age (issue 15, item 14)."""
    import fcntl
    import os

    from searchgym.cache import STALE_BUILD_SECONDS

    cache = ArtifactCache(tmp_path)
    parent = tmp_path / "ns"
    stale = parent / ".dead.abc.tmp"
    fresh_dead = parent / ".killed.ghi.tmp"
    live = parent / ".alive.def.tmp"
    for directory in (stale, fresh_dead, live):
        (directory / "sub").mkdir(parents=True)
        (directory / "sub" / "half-written.bin").write_bytes(b"x" * 10)
    old = time.time() - STALE_BUILD_SECONDS - 60
    for path in (stale / "sub" / "half-written.bin", stale / "sub", stale):
        os.utime(path, (old, old))
    from searchgym.cache import lock_path

    lock = lock_path(parent, "alive")
    lock.parent.mkdir(parents=True)
    with open(lock, "a+b") as held:  # a live builder of "alive"
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        cache.get_or_build("ns", "k", lambda d: (d / "data.txt").write_text("payload"))
        assert not stale.exists() and not fresh_dead.exists()
        assert (live / "sub" / "half-written.bin").exists()


# --------------------------------------------------------------------------- server limits and load


@pytest.fixture(scope="module")
def engine():
    from searchgym.integrations.tool_session import make_env

    return make_env("SearchQA-v0", **SMALL).engine


def test_server_refuses_oversized_bodies_with_413(engine):
    from searchgym.serve import BackgroundServer, ServerLimits

    limits = ServerLimits(max_body_bytes=2000, max_batch=8, max_query_chars=100)
    with BackgroundServer(engine, limits=limits) as server, httpx.Client(timeout=10, trust_env=False) as client:
        big = {"queries": ["x" * 90] * 30}
        response = client.post(server.retrieve_url, json=big)
        assert response.status_code == 413 and "too large" in response.json()["detail"]

        def chunks():  # no Content-Length: the streamed size is counted
            for _ in range(10):
                yield b" " * 500

        response = client.post(server.retrieve_url, content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert client.post(server.retrieve_url, json={"queries": ["q"] * 9}).status_code == 422
        cut = client.post(server.retrieve_url, json={"queries": ["q" * 101]})  # truncated, not failed
        assert cut.status_code == 200 and cut.headers["x-searchgym-truncated-queries"] == "1"
        assert client.post(server.url + "/access", json={"ids": ["a"] * 9}).status_code == 422
        assert client.post(server.retrieve_url, json={"queries": ["ok"]}).status_code == 200  # still serving


def test_bounded_loopback_load_no_errors_no_lost_requests(engine):
    from searchgym.serve import BackgroundServer

    words = [p.title for p in engine.passages[:200]] if hasattr(engine, "passages") else ["a", "b"]
    total, threads = 500, 16

    def request_for(i: int) -> dict:
        queries = [words[i % len(words)], f"{words[(7 * i) % len(words)]} born"][: 1 + i % 2]
        return {"queries": queries, "topk": 1 + i % 4, "return_scores": True}

    expected = {}
    for i in range(total):
        body = request_for(i)
        expected[i] = [[(h.doc_id, round(h.score, 4)) for h in hits] for hits in engine.search(body["queries"], body["topk"])]

    with BackgroundServer(engine) as server:
        def worker(indices: list[int]) -> list[tuple[int, int, object]]:
            out = []
            with httpx.Client(timeout=30, trust_env=False) as client:
                for i in indices:
                    response = client.post(server.retrieve_url, json=request_for(i))
                    result = None
                    if response.status_code == 200:
                        result = [[(item["document"]["id"], round(item["score"], 4)) for item in hits]
                                  for hits in response.json()["result"]]
                    out.append((i, response.status_code, result))
            return out

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(worker, [list(range(t, total, threads)) for t in range(threads)]))
        elapsed = time.perf_counter() - started
        stats = httpx.get(server.url + "/health", trust_env=False).json()["stats"]

    answers = [item for part in parts for item in part]
    assert elapsed < 60, f"500 requests took {elapsed:.1f}s"
    assert sorted(i for i, _, _ in answers) == list(range(total))  # none lost, none duplicated
    assert [i for i, status, _ in answers if status != 200] == []
    mismatched = [i for i, _, result in answers if result != expected[i]]
    assert mismatched == [], f"{len(mismatched)} answers differ from a direct engine call"
    assert stats  # the batcher reports its counters
