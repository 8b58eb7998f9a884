"""verifiers v1: the taskset from ``load_environment`` brings per-rollout search tools and scores.

Everything runs on the real verifiers library: the tools are registered on an MCP server by
``Toolset.register`` (verifiers' own path), and one rollout goes through the full v1 plumbing
without a model: a real ``InterceptionServer`` (the per-rollout ``/task`` + ``/state``
channel), ``serve_tools`` launching ``python -m searchgym.integrations.verifiers`` in a
subprocess runtime, and the harness-side MCP client (``connect_mcp`` / ``call_mcp``) driving the
oracle's gold actions. Rewards come from ``Task.score`` on a real ``vf.Trace``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from episodes import SMALL, oracle_tool_calls as oracle_actions

pytest.importorskip("verifiers.v1", reason="verifiers >= 0.4 (the v1 API) is not installed")

import verifiers.v1 as vf
from mcp.server.mcpserver import MCPServer
from verifiers.v1.clients import ModelContext
from verifiers.v1.graph import MessageNode
from verifiers.v1.harnesses.utils.mcp import call_mcp, connect_mcp
from verifiers.v1.interception import InterceptionServer
from verifiers.v1.mcp.launch import serve_tools
from verifiers.v1.runtimes import SubprocessConfig, provision_runtime
from verifiers.v1.session import RolloutSession

import searchgym  # noqa: F401
from searchgym.export import task_records
from searchgym.integrations import verifiers as sgv

_ARG = {"search": "query", "access": "doc_id", "answer": "answer"}

Action = tuple[str, dict[str, str]]


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def taskset():
    return sgv.load_environment("SearchQA-v0", **SMALL)


@pytest.fixture(scope="module")
def tasks(taskset):
    return list(taskset)


@pytest.fixture(scope="module")
def records():
    return {r["task_key"]: r for r in task_records("SearchQA-v0", **SMALL)}


def wrong_actions(record: dict[str, Any]) -> list[Action]:
    return [("search", {"query": record["question"]}), ("answer", {"answer": "certainly not the answer"})]


def make_trace(task: Any, calls: list[tuple[str, dict[str, str], str]]) -> vf.Trace:
    """A real v1 trace of a tool-calling rollout: prompt, then assistant call / tool result pairs."""
    messages: list[Any] = [vf.UserMessage(content=task.data.prompt)]
    for index, (name, arguments, result) in enumerate(calls):
        call_id = f"call_{index}"
        messages.append(vf.AssistantMessage(tool_calls=[
            vf.ToolCall(id=call_id, name=name, arguments=json.dumps(arguments))]))
        messages.append(vf.ToolMessage(tool_call_id=call_id, content=result))
    nodes = [MessageNode(message=m, parent=i - 1 if i else None, sampled=m.role == "assistant")
             for i, m in enumerate(messages)]
    return vf.Trace(task=vf.TraceTask(type=type(task).__name__, data=task.data, key=task.key),
                    agent=vf.AgentInfo(config=vf.AgentConfig()), state=sgv.SearchGymState(), nodes=nodes)


def score(task: Any, trace: vf.Trace) -> vf.Trace:
    asyncio.run(task.score(trace))
    return trace


async def started_toolset(task: Any) -> tuple[Any, MCPServer]:
    """One rollout's toolset as verifiers builds it (``Task.toolsets``), on its own MCP server."""
    (toolset,) = type(task).toolsets(task.config)
    await toolset.setup_task(task.data)
    server = MCPServer("searchgym")
    toolset.register(server)
    return toolset, server


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


# --------------------------------------------------------------------------- taskset + schemas


def test_load_environment_returns_a_taskset_whose_tasks_bring_tools(taskset, tasks, records):
    assert isinstance(taskset, sgv.SearchGymTaskset)
    assert isinstance(taskset, vf.Taskset)
    assert [t.key for t in tasks] == list(records)
    assert type(taskset).task_type() is sgv.SearchGymTask
    task = tasks[0]
    first, second = type(task).toolsets(task.config), type(task).toolsets(task.config)
    assert [type(t) for t in first] == [sgv.SearchGymToolset]
    assert first[0] is not second[0]  # a fresh server per rollout
    assert first[0].server_name == ""  # tools advertised bare: search / access / answer
    assert {fn.__name__ for fn in task.hooks("reward")} == {"searchgym_reward"}
    assert {fn.__name__ for fn in task.hooks("stop")} == {"episode_over"}
    # the taskset is also buildable from its config, as verifiers' loader does
    rebuilt = sgv.SearchGymTaskset(sgv.SearchGymTasksetConfig.model_validate(taskset.config.model_dump()))
    assert [t.key for t in rebuilt] == list(records)


def test_tool_schemas(tasks):
    async def schemas(task):
        _, server = await started_toolset(task)
        return {tool.name: tool for tool in await server.list_tools()}

    tools = asyncio.run(schemas(tasks[0]))
    assert set(tools) == {"search", "access", "answer"}
    for name, argument in _ARG.items():
        schema = tools[name].input_schema
        assert schema["type"] == "object"
        assert schema["required"] == [argument]
        assert schema["properties"][argument]["type"] == "string"
        assert tools[name].description
    assert "ends the episode" in tools["answer"].description

    no_access = sgv.load_environment("SearchQA-v0", allow_access=False, **SMALL)
    assert set(asyncio.run(schemas(next(iter(no_access))))) == {"search", "answer"}


# --------------------------------------------------------------------------- per-rollout state


def test_concurrent_rollouts_do_not_share_episodes(tasks, records):
    """Two rollouts of the same task, interleaved: each has its own turns, recall and answer."""
    task = tasks[0]
    gold, wrong = oracle_actions(task.key), wrong_actions(records[task.key])

    async def rollout(actions: list[Action]) -> tuple[Any, list[str]]:
        toolset, server = await started_toolset(task)
        outputs = []
        for name, arguments in actions:
            outputs.append(text_of(await server.call_tool(name, arguments)))
            await asyncio.sleep(0)  # let the other rollout run in between
        return toolset, outputs

    async def both():
        return await asyncio.gather(rollout(gold), rollout(wrong))

    (good, good_out), (bad, bad_out) = asyncio.run(both())
    assert good.session is not bad.session
    assert good.session.metrics()["reward"] == 1.0
    assert good.session.metrics()["evidence_recall"] == 1.0
    assert good.session.metrics()["turns"] == len(gold)
    assert bad.session.metrics()["reward"] == 0.0
    assert bad.session.metrics()["turns"] == 2
    assert good_out[-1] == bad_out[-1] == "Answer recorded. The episode is over."

    async def after_the_end():
        return text_of(await good_server.call_tool("search", {"query": "anything"}))

    good_server = MCPServer("again")
    good.register(good_server)
    assert "episode is over" in asyncio.run(after_the_end())
    assert good.session.metrics()["turns"] == len(gold)  # no step was taken


# --------------------------------------------------------------------------- scoring


def test_reward_of_real_traces(tasks, records):
    for task in tasks[:3]:
        gold = [(n, a, "") for n, a in oracle_actions(task.key)]
        trace = score(task, make_trace(task, gold))
        assert trace.rewards["searchgym_reward"].value == 1.0
        assert trace.reward == 1.0
        assert trace.metrics["searchgym_em"] == 1.0
        assert trace.metrics["searchgym_evidence_recall"] == 1.0
        assert trace.metrics["searchgym_turns"] == len(gold)

        wrong = [(n, a, "") for n, a in wrong_actions(records[task.key])]
        trace = score(task, make_trace(task, wrong))
        assert trace.rewards["searchgym_reward"].value == 0.0
        assert trace.metrics["searchgym_answered"] == 1.0


def test_reward_and_metric_hooks_share_one_replay(tasks, monkeypatch):
    """Scoring a rollout replays its actions through the env once, for both hooks."""
    from searchgym.integrations.tool_session import ToolSession

    replays = []
    original = ToolSession.replay

    def counting_replay(self, task_key, actions):
        replays.append(task_key)
        return original(self, task_key, actions)

    monkeypatch.setattr(ToolSession, "replay", counting_replay)
    sgv._replay_actions.cache_clear()
    task = tasks[2]
    gold = [(n, a, "") for n, a in oracle_actions(task.key)]
    trace = score(task, make_trace(task, gold))
    assert trace.reward == 1.0 and trace.metrics["searchgym_em"] == 1.0
    assert replays == [task.key]
    short = [(n, a, "") for n, a in oracle_actions(task.key)[:-1]]  # different actions: a new replay
    assert score(task, make_trace(task, short)).reward == 0.0
    assert replays == [task.key, task.key]


# --------------------------------------------------------------------------- the served rollout


async def served_rollout(task: Any, actions: list[Action]) -> tuple[vf.Trace, list[dict], list[tuple]]:
    """One rollout through verifiers' own plumbing, the model replaced by a fixed action list."""
    trace = make_trace(task, [])
    trace.state = sgv.SearchGymState()
    session = RolloutSession(
        ctx=ModelContext(model="none", client=vf.EvalClientConfig(base_url="http://127.0.0.1:9/v1")),
        trace=trace)
    calls = []
    async with contextlib.AsyncExitStack() as stack:
        interception = await stack.enter_async_context(InterceptionServer())
        base_url, _, state_secret = await stack.enter_async_context(interception.acquire(session))
        runtime = await stack.enter_async_context(provision_runtime(SubprocessConfig()))
        urls = await stack.enter_async_context(serve_tools(
            type(task).toolsets(task.config), runtime,
            state_secret=state_secret, state_route=trace.id, state_base=base_url))
        config = {"mcpServers": {name: {"url": url} for name, url in urls.items()}}
        schemas, dispatch, servers = await connect_mcp(config, stack)
        for name, arguments in actions:
            result = await call_mcp(servers, dispatch, name, arguments)
            calls.append((name, arguments, result, trace.state.model_copy(deep=True)))
    return trace, schemas, calls


def test_served_rollout_with_the_oracle(tasks):
    task = tasks[1]
    gold = oracle_actions(task.key)
    trace, schemas, calls = asyncio.run(served_rollout(task, gold))

    # the harness sees OpenAI function schemas with bare names
    by_name = {s["function"]["name"]: s["function"] for s in schemas}
    assert set(by_name) == {"search", "access", "answer"}
    assert by_name["search"]["parameters"]["properties"]["query"]["type"] == "string"
    assert by_name["access"]["parameters"]["required"] == ["doc_id"]

    # the tool server ran this rollout's task and mirrored its episode to the host state
    (stop,) = task.hooks("stop")
    assert all(state.task_key == task.key for *_, state in calls)
    assert [state.metrics["turns"] for *_, state in calls] == list(range(1, len(gold) + 1))
    assert not any(state.done for *_, state in calls[:-1])
    assert trace.state.done and stop(trace)
    assert trace.state.metrics["reward"] == 1.0
    assert trace.state.metrics["evidence_recall"] == 1.0
    assert "Doc 1" in calls[0][2]  # a real search result

    # scoring the transcript of what was served replays to the same reward
    scored = score(task, make_trace(task, [(n, a, r) for n, a, r, _ in calls]))
    assert scored.rewards["searchgym_reward"].value == 1.0
    assert scored.metrics["searchgym_evidence_recall"] == 1.0
