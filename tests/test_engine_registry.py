"""One engine path: the registry is complete on import, every engine is built by make_engine,
options are checked before a world is built, and the optional engine members have defaults."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import searchgym  # noqa: F401  (registers the envs)
from searchgym.envs.config import SpecError, load_spec
from searchgym.search.base import (
    ContextualSearchEngine,
    SearchEngine,
    engine_passages,
    is_contextual,
    last_calls,
    last_spans,
    restore_state,
    search_in_contexts,
    set_context,
    shows_agent_text,
    snapshot_state,
)
from searchgym.search.factory import (
    ENGINE_REGISTRY,
    engine_entry,
    make_engine,
    register_engine,
    validate_engine_options,
)
from searchgym.types import Hit, Passage
from episodes import SMALL

BUILT_IN = {"bm25", "dense", "hybrid", "remote", "self", "simulated", "simulated_llm"}
ROOT = Path(__file__).resolve().parents[1]


def test_registry_is_complete_in_a_fresh_process_without_importing_any_engine() -> None:
    code = ("import sys, searchgym; from searchgym.search import available_engines; "
            "print(','.join(available_engines())); "
            "print(','.join(m for m in ('torch', 'bm25s', 'httpx', 'searchgym.search.simulated', "
            "'searchgym.search.bm25', 'searchgym.search.dense') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    names, heavy = out.stdout.splitlines()
    assert set(names.split(",")) == BUILT_IN
    assert heavy == ""  # the factories import their engines on first use


def _constructor_options(target: object, skip: int) -> set[str]:
    parameters = list(inspect.signature(target).parameters.values())[skip:]  # type: ignore[arg-type]
    return {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD}


def test_declared_options_are_the_constructors_keywords() -> None:
    from searchgym.search.bm25 import BM25Engine
    from searchgym.search.dense import DenseEngine
    from searchgym.search.hybrid import HybridEngine
    from searchgym.search.remote import RemoteEngine
    from searchgym.search.self_search import make_self_search_engine
    from searchgym.search.simulated import LLMSimulatedEngine, TemplateSimulatedEngine

    assert engine_entry("bm25").options == _constructor_options(BM25Engine, 1)
    assert engine_entry("dense").options == _constructor_options(DenseEngine, 1)
    assert engine_entry("remote").options == _constructor_options(RemoteEngine, 0)
    assert engine_entry("hybrid").options == _constructor_options(HybridEngine, 1) | {"bm25", "dense", "cache",
                                                                                      "show_progress"}
    assert engine_entry("simulated").options == _constructor_options(TemplateSimulatedEngine, 2)
    assert engine_entry("simulated_llm").options == _constructor_options(LLMSimulatedEngine, 2)
    assert engine_entry("self").options == _constructor_options(make_self_search_engine, 1)


def test_a_misspelt_option_fails_when_the_spec_is_read_before_any_world_is_built(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SEARCHGYM_CACHE_DIR", str(tmp_path))
    with pytest.raises(SpecError, match=r"engine 'simulated' has no option 'noise_porb' \(did you mean 'noise_prob'"):
        gym.make("SearchQA-Sim-v0", engine_options={"noise_porb": 0.5}, world_size=333, tasks_per_type=7)
    with pytest.raises(SpecError, match="engine 'bm25' has no option 'k_1'"):
        load_spec("SearchQA-v0").with_overrides({"engine_options": {"k_1": 1.2}})
    with pytest.raises(SpecError, match="unknown search engine 'google'"):
        load_spec("SearchQA-v0").with_overrides({"engine": "google"})
    assert not any(tmp_path.rglob("*")), "no world, corpus or index may be built for a rejected spec"


@pytest.mark.parametrize(("engine", "options", "message"), [
    ("bm25", {"k1": "high"}, "option 'k1' must be a number >= 0"),
    ("bm25", {"b": 1.5}, "option 'b' must be a number >= 0.0 and <= 1.0"),
    ("bm25", {"method": "okapi"}, "option 'method' must be one of 'robertson'"),
    ("bm25", {"kernel": "cuda"}, "option 'kernel' must be one of 'numba', 'numpy' or none"),
    ("bm25", {"threads": 0}, "option 'threads' must be a positive integer or none"),
    ("bm25", {"show_progress": "yes"}, "option 'show_progress' must be true or false"),
    ("dense", {"index": "ivff"}, "option 'index' must be one of 'flat', 'ivf', 'hnsw'"),
    ("dense", {"batch_size": 2.5}, "option 'batch_size' must be a positive integer"),
    ("dense", {"backend": "tensorrt"}, "option 'backend' must be one of 'torch'"),
    ("simulated", {"noise_prob": 2}, "option 'noise_prob' must be a number >= 0.0 and <= 1.0"),
    ("simulated_llm", {"top_p": 0}, "option 'top_p' must be a number > 0.0 and <= 1.0"),
    ("remote", {"timeout": -1}, "option 'timeout' must be a number > 0"),
    ("hybrid", {"weights": [1, "a"]}, "option 'weights' must be a list of non-negative numbers"),
    ("hybrid", {"bm25": {"k1": -1}}, "engine 'bm25': option 'k1' must be a number >= 0"),
])
def test_a_bad_option_value_is_one_line_before_any_engine_exists(engine, options, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        validate_engine_options(engine, options)
    assert "\n" not in str(caught.value)


def test_a_bad_option_value_fails_when_the_spec_is_read_before_any_world_is_built(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SEARCHGYM_CACHE_DIR", str(tmp_path))
    with pytest.raises(SpecError, match="option 'noise_prob' must be a number"):
        gym.make("SearchQA-Sim-v0", engine_options={"noise_prob": "lots"}, world_size=333, tasks_per_type=7)
    with pytest.raises(SpecError, match="option 'k1' must be"):
        load_spec("SearchQA-v0").with_overrides({"engine_options.k1": -0.5})
    assert not any(tmp_path.rglob("*")), "no world, corpus or index may be built for a rejected spec"
    # every built-in spec's own options pass, and so do the constructors' defaults and a path model
    from searchgym.envs.config import spec_files

    for spec_id in spec_files():
        config = load_spec(spec_id)
        validate_engine_options(config.engine, config.engine_options)
    validate_engine_options("dense", {"model": Path("/models/minilm"), "nlist": None, "device": None})
    validate_engine_options("bm25", {"k1": 1, "b": 0, "stemmer": None, "kernel": None, "threads": None})


def test_hybrid_sub_tables_are_checked_against_their_engines() -> None:
    validate_engine_options("hybrid", {"rrf_k": 60, "bm25": {"k1": 1.2}, "dense": {"index": "flat"}})
    with pytest.raises(ValueError, match="engine 'dense' has no option 'nprobes'"):
        validate_engine_options("hybrid", {"dense": {"nprobes": 4}})
    with pytest.raises(ValueError, match="'bm25' must be a table"):
        validate_engine_options("hybrid", {"bm25": 3})


class _MinimalEngine:
    """Only what the protocol requires: a name, a batched search, access by id."""

    name = "minimal"

    def __init__(self, passages: list[Passage]) -> None:
        self.by_id = {p.doc_id: p for p in passages}
        self.order = list(self.by_id)

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        return [[Hit(d, 1.0, self.by_id[d].title, self.by_id[d].text) for d in self.order[:k]] for _ in queries]

    def access(self, doc_id: str) -> Passage:
        return self.by_id[doc_id]


def test_optional_members_default_for_a_minimal_engine(small_bundle) -> None:
    engine = _MinimalEngine(list(small_bundle.corpus.passages)[:5])
    assert isinstance(engine, SearchEngine) and not isinstance(engine, ContextualSearchEngine)
    assert not is_contextual(engine) and not shows_agent_text(engine) and engine_passages(engine) is None
    set_context(engine, "any-task", 3)  # nothing to do, no error
    assert search_in_contexts(engine, ["q", "r"], 2, [("t", 0), ("u", 1)]) == engine.search(["q", "r"], 2)
    assert last_calls(engine) == [] and last_spans(engine) == []
    assert snapshot_state(engine, ["x"]) is None and restore_state(engine, {"a": 1}) is False


def test_simulated_engines_are_contextual_and_built_per_env(small_bundle) -> None:
    engine = make_engine("simulated", small_bundle, noise_prob=0.0)
    assert isinstance(engine, ContextualSearchEngine) and is_contextual(engine)
    assert not isinstance(make_engine("bm25", small_bundle, show_progress=False), ContextualSearchEngine)
    task = small_bundle.tasks.tasks[0]
    set_context(engine, task.task_key, 5)
    [hits] = search_in_contexts(engine, [task.question], 3, [(task.task_key, 5)])
    assert hits and last_calls(engine)[0]["task_key"] == task.task_key and last_calls(engine)[0]["group_seed"] == 5
    first = gym.make("SearchQA-Sim-v0", **SMALL)
    second = gym.make("SearchQA-Sim-v0", **SMALL)
    assert first.unwrapped.engine is not second.unwrapped.engine  # per-episode state is never shared
    bm25_a, bm25_b = gym.make("SearchQA-v0", **SMALL), gym.make("SearchQA-v0", **SMALL)
    assert bm25_a.unwrapped.engine is bm25_b.unwrapped.engine  # one index per corpus in the process


def test_a_registered_world_engine_gets_the_bundle_from_the_env() -> None:
    built: list[object] = []

    def factory(bundle, *, boost: float = 1.0):
        built.append(bundle)
        engine = make_engine("simulated", bundle)
        engine.name = f"boosted-{boost}"
        return engine

    register_engine("world-test-engine", factory, options=("boost",), needs_world=True, per_env=True)
    try:
        with pytest.raises(SpecError, match="has no option 'bost'"):
            gym.make("SearchQA-v0", engine="world-test-engine", engine_options={"bost": 2.0}, **SMALL)
        env = gym.make("SearchQA-v0", engine="world-test-engine", engine_options={"boost": 2.0}, **SMALL)
        assert env.unwrapped.engine.name == "boosted-2.0" and built == [env.unwrapped.bundle]
        observation, _ = env.reset(seed=0)
        observation, *_ = env.step("<search>anything</search>")
        assert "<information>" in observation
    finally:
        ENGINE_REGISTRY.pop("world-test-engine", None)


def test_constructors_and_the_spec_reader_share_one_rule_per_option() -> None:
    """Numpy numbers pass and NaN or bools fail in both places, with the table's message."""
    import numpy as np

    from searchgym.search.hybrid import HybridEngine
    from searchgym.search.remote import RemoteEngine

    validate_engine_options("bm25", {"k1": np.float32(1.2), "b": 0, "threads": np.int64(2)})
    validate_engine_options("hybrid", {"rrf_k": 0, "weights": [np.int64(1), 0.5]})
    validate_engine_options("remote", {"url": "http://x", "timeout": None})
    for engine, options in (("bm25", {"k1": float("nan")}), ("bm25", {"threads": True}),
                            ("hybrid", {"weights": [0, 0]}), ("remote", {"url": "ftp://x"})):
        with pytest.raises(ValueError, match=f"engine '{engine}': option"):
            validate_engine_options(engine, options)
    with pytest.raises(ValueError, match="engine 'remote': option 'url' must be an http:// or https:// URL"):
        RemoteEngine("ftp://example.org")
    with pytest.raises(ValueError, match="engine 'hybrid': option 'weights' must be .* one positive"):
        HybridEngine([object()], weights=np.array([0.0]))
    assert RemoteEngine("http://127.0.0.1:1", timeout=None).timeout is None
