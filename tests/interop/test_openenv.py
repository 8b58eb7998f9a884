"""``searchgym serve-env`` driven by OpenEnv's own client package (``openenv-core``).

``GenericEnvClient`` is the client TRL's and SkyRL's OpenEnv integrations hold: one WebSocket
session per episode (``reset`` / ``step`` / ``state``). The episodes are the oracle's gold tool
calls and a wrong answer, played concurrently; rewards must be what the env gives for them.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from episodes import SMALL, oracle_tool_calls, run_env

pytest.importorskip("openenv.core.generic_client", reason="openenv-core is not installed")
from openenv.core.generic_client import GenericEnvClient  # noqa: E402

from searchgym.export import task_records  # noqa: E402
from searchgym.integrations.openenv import openenv_trl_factory  # noqa: E402
from searchgym.serve import BackgroundServer  # noqa: E402
from searchgym.serve.openenv import create_openenv_app  # noqa: E402

ARGUMENT = {"search": "query", "access": "doc_id", "answer": "answer"}


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(app=create_openenv_app("SearchQA-v0", max_sessions=6, **SMALL)) as srv:
        yield srv


@pytest.fixture(scope="module")
def records():
    return task_records("SearchQA-v0", **SMALL)[:4]


def as_actions(calls):
    return [{"tool": name, ARGUMENT[name]: arguments[ARGUMENT[name]]} for name, arguments in calls]


def test_one_episode_with_the_sync_client(server, records):
    record = records[0]
    calls = oracle_tool_calls(record["task_key"])
    with GenericEnvClient(base_url=server.url).sync() as client:
        first = client.reset(task_key=record["task_key"])
        assert first.observation["text"] == record["prompt"][0]["content"] and first.done is False
        assert first.observation["task_key"] == record["task_key"]
        for action in as_actions(calls):
            result = client.step(action)
        assert result.done and result.reward == 1.0
        assert result.observation["info"]["evidence_recall"] == 1.0
        state = client.state()
        assert state["step_count"] == len(calls) and state["total_reward"] == 1.0
        with pytest.raises(RuntimeError, match="episode is over"):
            client.step({"tool": "search", "query": "after the end"})
        with pytest.raises(RuntimeError, match="VALIDATION_ERROR"):
            client.step({"tool": "search"})  # no query
        again = client.reset(task_key=record["task_key"])  # the session plays a new episode
        assert again.observation["episode_id"] != first.observation["episode_id"]
        tags = client.step({"text": f"<search> {calls[0][1]['query']} </search>"})  # raw model text works too
        assert tags.observation["text"] == run_env(record["task_key"], [f"<search> {calls[0][1]['query']} </search>"])[2][0]


def test_concurrent_sessions_play_their_own_episodes(server, records):
    async def play(record, correct: bool):
        calls = oracle_tool_calls(record["task_key"])
        if not correct:
            calls = [calls[0], ("answer", {"answer": "certainly not the answer"})]
        async with GenericEnvClient(base_url=server.url) as client:
            await client.reset(task_key=record["task_key"])
            for action in as_actions(calls):
                result = await client.step(action)
                await asyncio.sleep(0)  # interleave with the other sessions
            return result.reward, (await client.state())["step_count"], len(calls)

    async def all_of_them():
        return await asyncio.gather(*(play(record, i % 2 == 0) for i, record in enumerate(records)))

    for i, (reward, steps, expected_steps) in enumerate(asyncio.run(all_of_them())):
        assert reward == (1.0 if i % 2 == 0 else 0.0) and steps == expected_steps


def test_capacity_is_refused_clearly(records):
    with BackgroundServer(app=create_openenv_app("SearchQA-v0", max_sessions=1, **SMALL)) as small:
        with GenericEnvClient(base_url=small.url).sync() as first:
            first.reset(task_key=records[0]["task_key"])
            with GenericEnvClient(base_url=small.url).sync() as second, pytest.raises(RuntimeError, match="capacity"):
                second.reset()


def test_http_routes(server, records):
    record = records[1]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/health").json()["status"] == "healthy"
        assert http.get("/metadata").json()["name"] == "SearchQA-v0"
        schema = http.get("/schema").json()
        assert set(schema) == {"action", "observation", "state"} and "tool" in schema["action"]["properties"]
        first = http.post("/reset", json={"task_key": record["task_key"]}).json()
        episode = first["observation"]["episode_id"]
        for action in as_actions(oracle_tool_calls(record["task_key"])):
            result = http.post("/step", json={"action": action, "episode_id": episode}).json()
        assert result["done"] and result["reward"] == 1.0
        assert http.get("/state", params={"episode_id": episode}).json()["total_reward"] == 1.0
        missing = http.post("/step", json={"action": {"text": "hi"}, "episode_id": "nope"})
        assert missing.status_code == 404 and "POST /reset first" in missing.json()["detail"]
        bad = http.post("/reset", json={"task_key": "no-such-task"})
        assert bad.status_code == 422


def test_trl_environment_factory_over_openenv(server, records):
    """The TRL-side class: tool methods that step the remote episode, the env's reward."""
    factory = openenv_trl_factory(server.url)
    for correct in (True, False):
        env = factory()
        record = records[2]
        assert env.reset(task_key=record["task_key"]) == record["prompt"][0]["content"]  # no prompt column
        calls = oracle_tool_calls(record["task_key"])
        if not correct:
            calls = [calls[0], ("answer", {"answer": "wrong"})]
        outputs = [getattr(env, name)(**arguments) for name, arguments in calls]
        assert outputs[-1] == "Answer recorded. The episode is over."
        assert env.get_reward() == (1.0 if correct else 0.0)
        env.session.close()
