"""``step`` and ``reset`` under hostile input and failing backends (issue 15, items 6-9).

A step never raises on what the agent sends or on what the engine does: every action (text,
bytes, sets, arrays, cycles, deep nesting, objects whose methods raise) and every backend failure
costs exactly one turn, leaves the counters consistent, and the env keeps working. Vector envs
keep every other sub-env's step.
"""

from __future__ import annotations

import json
import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from adversary import SMALL, a_name, access, answer, make, search, tasks_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchgym.search.base import SearchError


class Hostile:
    """An action object whose every method raises."""

    def __repr__(self) -> str:
        raise RuntimeError("repr refused")

    def __len__(self) -> int:
        raise RuntimeError("len refused")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq refused")

    __hash__ = None  # type: ignore[assignment]


class HostileText(str):
    def __len__(self) -> int:
        raise RuntimeError("len refused")


class HostileMapping(dict):
    def get(self, *args: Any) -> Any:
        raise RuntimeError("get refused")


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"name": [value]}
    return value


def cyclic() -> Any:
    loop: list[Any] = []
    loop.append(loop)
    return {"name": "search", "arguments": {"query": loop}}


FIXED_ACTIONS = [
    b"<search>bytes</search>", {"<search>q</search>"}, frozenset({1, 2}), np.array(["<search>x</search>"]),
    np.zeros((3, 3)), object(), Hostile(), HostileText("<search>q</search>"), HostileMapping(name="search"),
    {1: "a", "b": 2}, {(1, 2): "tuple key"}, {"name": "search", "arguments": {1: "x"}}, nested(5000),
    cyclic(), float("nan"), math.inf, 10**5000, None, [], [{"name": "answer"}], {"tool_calls": nested(300)},
    "<search>" * 10_000, "\x00" * 30, "\ud800<search>lone surrogate</search>", "<answer>\u200b</answer>",
    {"role": "assistant", "content": [{"text": b"bytes"}], "tool_calls": "not a list"},
    {"function": {"name": "search", "arguments": "{\"query\": " + "[" * 5000 + "}"}},
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | st.binary(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.one_of(st.text(max_size=8), st.integers(), st.none()), children, max_size=4),
    max_leaves=20,
)
tool_calls = st.fixed_dictionaries({"name": st.sampled_from(["search", "access", "answer", "", "x", 3]),
                                    "arguments": json_values | st.text(max_size=40)})
tag_text = st.lists(st.sampled_from(["<search>", "</search>", "<answer>", "</answer>", "<access>", "</access>",
                                     "<think>", "</think>", "q", " ", "\u200b", "\x00", "\ud800"]),
                    max_size=20).map("".join)
actions = st.one_of(st.text(max_size=200), tag_text, tool_calls, json_values,
                    st.sets(st.integers(), max_size=3), st.sampled_from(FIXED_ACTIONS))


def assert_consistent(info: dict[str, Any], turn: int) -> None:
    assert info["turn"] == turn
    kinds = info["num_searches"] + info["num_accesses"] + info["num_invalid"] + int(info["answered"])
    assert kinds == turn
    json.dumps(info)  # infos hold plain data only


@pytest.fixture(scope="module")
def env():
    return make(max_turns=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(action=actions)
def test_step_accepts_any_object(env, action):
    env.reset(seed=0)
    observation, reward, terminated, truncated, info = env.step(action)
    assert isinstance(observation, str) and isinstance(reward, float)
    assert_consistent(info, 1)
    if not (terminated or truncated):
        *_, info = env.step(search(a_name(env)))
        assert_consistent(info, 2)


@pytest.mark.parametrize("action", FIXED_ACTIONS, ids=lambda a: type(a).__name__)
def test_hostile_actions_cost_one_turn(env, action):
    env.reset(seed=1)
    *_, info = env.step(action)
    assert_consistent(info, 1)
    transcript = env.unwrapped.state.transcript
    assert len(transcript[1]["content"]) <= env.unwrapped.config.max_action_chars + 100


# --------------------------------------------------------------------------- vector envs


def test_one_bad_action_keeps_the_other_sub_envs_steps():
    envs = gym.make_vec("SearchQA-v0", num_envs=3, **SMALL)
    single = make()
    envs.reset(seed=0)
    name = envs.envs[0].world.name(envs.envs[0].task.chain[0].subject)
    observations, _, _, _, infos = envs.step([search(name), {1, 2}, search(name)])
    single.reset(options={"task_key": envs.envs[0].task.task_key})
    expected = single.step(search(name))[0]
    assert observations[0] == expected == observations[2]
    assert infos["action_kind"][1] == "invalid"
    envs.step([search(name), b"bytes", np.zeros(2)])  # and the vector env goes on


def test_async_vector_env_worker_survives_unserialisable_actions():
    envs = gym.make_vec("SearchQA-v0", num_envs=2, vectorization_mode="async",
                        vector_kwargs={"shared_memory": False}, **SMALL)
    try:
        envs.reset(seed=0)
        _, _, _, _, infos = envs.step([{1, 2}, {"name": "search", "arguments": {1: "x"}}])
        assert list(infos["action_kind"]) == ["invalid", "invalid"]
        name = envs.get_attr("world")[0].name(envs.get_attr("task")[0].topic_entities[0])
        _, _, _, _, infos = envs.step([search(name), search(name)])
        assert list(infos["action_kind"]) == ["search", "search"]
    finally:
        envs.close()


# --------------------------------------------------------------------------- failing engines


class FaultyEngine:
    """The real BM25 engine, with a fault injected on some queries (``boom`` in the query)."""

    def __init__(self, engine: Any, error: BaseException) -> None:
        self.inner, self.error, self.name = engine, error, "faulty"

    def search(self, queries: list[str], k: int) -> list[list[Any]]:
        if any("boom" in query for query in queries):
            raise self.error
        return self.inner.search(queries, k)

    def access(self, doc_id: str) -> Any:
        if "boom" in doc_id:
            raise self.error
        return self.inner.access(doc_id)


ERRORS = [RuntimeError("engine bug"), ValueError("bad query"), KeyError("missing"), MemoryError(),
          SearchError("backend down"), TypeError("wrong type"), IndexError("out of range")]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_any_engine_failure_is_an_observation(error):
    base = make()
    env = gym.make("SearchQA-v0", engine=FaultyEngine(base.unwrapped.engine, error), **SMALL)
    env.reset(seed=0)
    observation, _, _, _, info = env.step(search("boom"))
    assert "Error: search failed" in observation and info["backend_error"] is True
    assert_consistent(info, 1)
    observation, _, _, _, info = env.step(access("boom"))
    assert "Error: access failed" in observation and info["backend_error"] is True
    assert_consistent(info, 2)
    *_, info = env.step(search(a_name(env)))
    assert info["backend_error"] is False and info["doc_ids"]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_vector_step_survives_any_engine_failure(error):
    base = make()
    envs = gym.make_vec("SearchQA-v0", num_envs=3, engine=FaultyEngine(base.unwrapped.engine, error),
                        vectorization_mode="vector_entry_point", **SMALL)
    envs.reset(seed=0)
    observations, _, _, _, infos = envs.step([search("boom"), search(a_name(base)), answer("x")])
    assert "search failed" in observations[0]
    if isinstance(error, SearchError):  # the backend is down: the whole batch failed
        assert "search failed" in observations[1]
    else:  # an engine bug on one query: only that sub-env's search failed
        assert infos["doc_ids"][1] and "search failed" not in observations[1]
    assert infos["_action_kind"].all()


def test_remote_access_on_a_plain_search_r1_server_is_an_observation():
    """A Search-R1 server has /retrieve only; a down server answers nothing (issue 15, item 6)."""
    from fastapi import FastAPI

    from searchgym.serve import BackgroundServer

    local = make()
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/retrieve")
    def retrieve(body: dict[str, Any]) -> dict[str, Any]:  # Search-R1's retrieval_server, in short
        hits = local.unwrapped.engine.search(body["queries"], body.get("topk", 3))
        return {"result": [[{"document": {"id": hit.doc_id, "contents": f'"{hit.title}"\n{hit.text}'},
                             "score": hit.score} for hit in per] for per in hits]}

    with BackgroundServer(app=app) as server:
        env = make(engine="remote", engine_options={"url": server.url, "max_retries": 0})
        env.reset(seed=0)
        *_, info = env.step(search(a_name(env)))
        doc_id = info["doc_ids"][0]
        observation, _, _, _, info = env.step(access(doc_id))
        assert "has no /access endpoint" in observation and info["backend_error"]
        assert_consistent(info, 2)
        assert info["num_accesses"] == 1
        url = server.url
    down = make(engine="remote", engine_options={"url": url, "max_retries": 0, "timeout": 2})
    down.reset(seed=0)
    for turn, action in enumerate([access(doc_id), search(a_name(down))], start=1):
        observation, _, _, _, info = down.step(action)
        assert "failed" in observation and info["backend_error"]
        assert_consistent(info, turn)


# --------------------------------------------------------------------------- reset options


def test_reset_serves_only_the_envs_own_tasks(env):
    other = make(split="test")
    test_key = other.unwrapped.tasks[0].task_key
    with pytest.raises(ValueError, match="task_key"):
        env.reset(options={"task_key": test_key})
    chain_only = make(task_types=["chain"])
    comparison = tasks_of(env, "comparison")[0]
    with pytest.raises(ValueError, match="outside this env's tasks"):
        chain_only.reset(options={"task_key": comparison.task_key})


@pytest.mark.parametrize("options, error", [
    ({"task_index": True}, ValueError), ({"task_index": 1.0}, ValueError), ({"task_index": -1}, ValueError),
    ({"task_index": 10**9}, ValueError), ({"task_key": 3}, ValueError), ({"task_key": None}, ValueError),
    ([("task_key", "x")], TypeError), ("task_key", TypeError), ({"group_seed": "1"}, ValueError),
    ({"group_seed": True}, ValueError), ({"task_key": "x", "task_index": 0}, ValueError),
    ({None: 1}, ValueError), ({"task_key": "\ud800" * 500}, ValueError),
])
def test_bad_reset_options_get_a_clear_error_and_leave_the_env_usable(env, options, error):
    with pytest.raises(error) as raised:
        env.reset(options=options)
    assert str(raised.value) and len(str(raised.value)) < 600
    observation, info = env.reset(seed=0)
    assert info["turn"] == 0 and observation


def test_numpy_task_index_is_an_index(env):
    _, info = env.reset(options={"task_index": np.int64(2)})
    assert info["task_key"] == env.unwrapped.tasks[2].task_key


def test_taskset_lookup_by_position_fails_clearly(env):
    with pytest.raises(KeyError, match="task keys are strings"):
        env.unwrapped.bundle.tasks[0]
