"""Trainer adapters: same scripted episode, same reward, whatever framework or action protocol.

Every adapter is tested through its plain-Python surface (always) and against the real library
where it is installed (skipped with a reason otherwise).
"""

from __future__ import annotations

import asyncio
import inspect
import json

import gymnasium as gym
import numpy as np
import pytest
from episodes import SMALL, run_env

import searchgym  # noqa: F401
from searchgym.export import export_tasks, read_rows, task_records
from searchgym.integrations.tool_session import (
    EpisodeOver,
    ToolSession,
    extract_final_answer,
    hermes_tool_calls,
)
from searchgym.integrations.verl import compute_score


@pytest.fixture(scope="module")
def records():
    return task_records("SearchQA-v0", **SMALL)


def _episode(record: dict, *, correct: bool = True) -> list[tuple[str, dict]]:
    """(action name, arguments) of a scripted episode: search, access a gold doc, answer."""
    answer = record["answer"] if correct else "certainly not the answer"
    return [("search", {"query": record["question"]}),
            ("access", {"doc_id": record["gold_doc_ids"][0]}),
            ("answer", {"answer": answer})]


_ARG = {"search": "query", "access": "doc_id", "answer": "answer"}


def as_tags(episode):
    return [f"<think>step</think><{name}> {args[_ARG[name]]} </{name}>" for name, args in episode]


def as_calls(episode):
    return [{"name": name, "arguments": args} for name, args in episode]


def as_hermes(episode):
    return [f"<tool_call>\n{json.dumps({'name': n, 'arguments': a})}\n</tool_call>" for n, a in episode]


def as_openai(episode):
    return [{"role": "assistant", "content": None, "tool_calls": [
        {"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}]}
        for i, (n, a) in enumerate(episode)]

def pick(records, n=6):
    """A spread of tasks over types (comparison answers appear in their questions)."""
    seen, chosen = set(), []
    for record in records:
        if record["task_type"] not in seen:
            seen.add(record["task_type"])
            chosen.append(record)
    return (chosen + records[:n])[:n]


# --------------------------------------------------------------------------- core env


@pytest.mark.parametrize("correct", [True, False])
def test_tags_and_tool_calls_give_identical_rewards_in_the_env(records, correct):
    for record in pick(records):
        episode = _episode(record, correct=correct)
        results = [run_env(record["task_key"], style(episode)) for style in (as_tags, as_calls, as_openai)]
        rewards = [r[0] for r in results]
        assert rewards == [1.0 if correct else 0.0] * 3, record["task_key"]
        for _, info, _ in results[1:]:
            for key in ("em", "f1", "evidence_recall", "num_searches", "num_accesses", "retrieved_doc_ids"):
                assert info[key] == results[0][1][key], key


def test_f1_reward_is_protocol_independent(records):
    record = records[0]
    episode = _episode(record)[:2] + [("answer", {"answer": record["answer"] + " maybe"})]
    a = run_env(record["task_key"], as_tags(episode), reward="f1")[0]
    b = run_env(record["task_key"], as_calls(episode), reward="f1")[0]
    assert a == b and 0.0 < a < 1.0


# --------------------------------------------------------------------------- tool session


def test_tool_session_surface(records):
    record = records[1]
    session = ToolSession("SearchQA-v0", **SMALL)
    with pytest.raises(RuntimeError, match="start"):
        session.search("x")
    prompt = session.start(record["task_key"])
    assert prompt == record["prompt"][0]["content"]
    assert "<information>" not in session.search(record["question"])  # bare body, tool-message style
    assert record["gold_doc_ids"][0] in session.access(record["gold_doc_ids"][0])
    assert "Answer recorded" in session.answer(record["answer"])
    assert session.reward == 1.0 and session.metrics()["evidence_recall"] > 0
    with pytest.raises(EpisodeOver):
        session.search("again")
    # hermes text and tag text replay identically
    for style in (as_tags, as_hermes, as_calls):
        assert ToolSession("SearchQA-v0", **SMALL).replay(record["task_key"], style(_episode(record))) == 1.0


def test_extract_final_answer_ignores_retrieved_text():
    assert extract_final_answer("<answer>a</answer> later <answer> b </answer>") == "b"
    assert extract_final_answer("<information>Doc 1 <answer>gold</answer></information>") is None
    assert extract_final_answer("<answer>x</answer><tool_response><answer>gold</answer></tool_response>") == "x"
    assert extract_final_answer("<answer>x</answer>\n<information>unclosed <answer>gold</answer>") == "x"
    call = '<tool_call>{"name": "answer", "arguments": {"answer": "y"}}</tool_call>'
    assert extract_final_answer("<answer>x</answer>" + call) == "y"
    assert extract_final_answer(call + "<answer>x</answer>") == "x"
    assert extract_final_answer("no answer at all") is None
    assert hermes_tool_calls("<tool_call>not json</tool_call>") == []


# --------------------------------------------------------------------------- verl


def _transcript(prompt: str, actions, observations) -> str:
    return prompt + "".join(a + o for a, o in zip(actions, observations))


@pytest.mark.parametrize("correct", [True, False])
def test_verl_compute_score_matches_the_env_for_both_protocols(records, correct):
    for record in pick(records):
        episode = _episode(record, correct=correct)
        gt = {"target": record["answers"]}
        tags = as_tags(episode)
        env_reward, _, observations = run_env(record["task_key"], tags)
        tag_text = _transcript("", tags, observations)
        hermes = as_hermes(episode)
        tool_text = "".join(h + f"<tool_response>{o.strip()}</tool_response>" for h, o in zip(hermes, observations))
        assert compute_score("SearchQA-v0", tag_text, gt) == env_reward
        assert compute_score("SearchQA-v0", tool_text, gt) == env_reward
        # verl hands ground truth loaded from parquet as numpy arrays
        assert compute_score("SearchQA-v0", tag_text, {"target": np.array(record["answers"])}) == env_reward


def test_verl_compute_score_never_scores_observations():
    gt = {"target": ["Paris"]}
    leaked = "<search>q</search><information>Doc 1 <answer>Paris</answer></information>"
    assert compute_score("SearchQA-v0", leaked, gt) == 0.0
    assert compute_score("SearchQA-v0", leaked + "<answer>Rome</answer>", gt, format_score=0.1) == 0.1
    assert compute_score("SearchQA-v0", leaked + "<answer> paris </answer>", gt) == 1.0
    assert compute_score("SearchQA-v0", "<answer>Paris</answer><answer>Rome</answer>", gt) == 0.0  # last answer
    assert compute_score("SearchQA-v0", "<answer>Paris city</answer>", gt, metric="f1") == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        compute_score("SearchQA-v0", "", gt, metric="bleu")


def test_verl_tool_config_and_tools_plain(records, tmp_path):
    from searchgym.integrations.verl import (
        SearchGymAccessTool,
        SearchGymSearchTool,
        search_tool_config,
    )

    config = search_tool_config("http://127.0.0.1:9/", tool="verl")
    tool = config["tools"][0]
    assert tool["class_name"] == "verl.tools.search_tool.SearchTool"
    assert tool["config"]["retrieval_service_url"] == "http://127.0.0.1:9/retrieve"
    assert tool["tool_schema"]["function"]["parameters"]["required"] == ["query_list"]
    ours = search_tool_config("http://127.0.0.1:9")["tools"]
    assert [t["tool_schema"]["function"]["name"] for t in ours] == ["search", "access"]

    record = records[0]
    search = SearchGymSearchTool({"env_id": "SearchQA-v0", "overrides": SMALL})
    text, metrics = search.run({"query_list": [record["question"]]})
    env_obs = run_env(record["task_key"], [f"<search>{record['question']}</search>"])[2][0]
    assert text.strip() in env_obs and metrics["doc_ids"]
    assert "error" in search.run({"query_list": []})[1]
    access = SearchGymAccessTool({"env_id": "SearchQA-v0", "overrides": SMALL})
    assert record["gold_doc_ids"][0] in access.run({"doc_id": record["gold_doc_ids"][0]})[0]
    assert access.run({"doc_id": "nope"})[1]["error"] == "unknown_doc"


def test_verl_real_library_loads_our_tool_config(records, tmp_path):
    pytest.importorskip("verl.tools.tool_registry", reason="verl is not installed (pip install --no-deps verl)")
    from verl.tools.tool_registry import initialize_tools_from_config

    from searchgym.integrations.verl import write_search_tool_config
    from searchgym.serve import BackgroundServer

    env = gym.make("SearchQA-v0", **SMALL)
    record = records[2]
    with BackgroundServer(env.unwrapped.engine) as server:
        path = write_search_tool_config(tmp_path / "tools.yaml", server.url, env_id="SearchQA-v0")
        tools = initialize_tools_from_config(str(path))
        assert [t.name for t in tools] == ["search", "access"]
        search, access = tools
        # the exported row's create_kwargs carry its world's overrides (env_overrides_json), so
        # a tool config without overrides still tracks the episode in the right world
        from searchgym.export import task_records, to_row

        row = to_row(next(r for r in task_records("SearchQA-v0", **SMALL) if r["task_key"] == record["task_key"]), "verl")
        create_kwargs = row["extra_info"]["tools_kwargs"]["search"]["create_kwargs"]
        instance, _ = asyncio.run(search.create(create_kwargs=create_kwargs))
        response, reward, metrics = asyncio.run(search.execute(instance, {"query_list": [record["question"]]}))
        assert reward == 0.0 and metrics["doc_ids"]
        assert "untracked" not in metrics
        env_obs = run_env(record["task_key"], [f"<search>{record['question']}</search>"])[2][0]
        assert response.text.strip() in env_obs  # served results render exactly like the env's
        response, _, _ = asyncio.run(access.execute(instance, {"doc_id": record["gold_doc_ids"][0]}))
        assert record["gold_doc_ids"][0] in response.text


# --------------------------------------------------------------------------- SkyRL


def _skyrl_rows(tmp_path):
    return read_rows(export_tasks("SearchQA-v0", "skyrl", tmp_path / "skyrl.parquet", **SMALL))


def _skyrl_extras(row):
    return {k: v for k, v in row.items() if k not in ("prompt", "env_class")}


def _drive_skyrl(env, prompt, actions):
    chat, _ = env.init(prompt)
    total, outputs = 0.0, []
    for action in actions:
        out = env.step(action)
        outputs.append(out)
        total += out["reward"]
        if out["done"]:
            break
    return total, outputs


def test_skyrl_plain_surface(records, tmp_path):
    from searchgym.integrations.skyrl import SearchGymSkyRLEnv

    rows = {row["task_key"]: row for row in _skyrl_rows(tmp_path)}
    for record in pick(records, 4):
        row = rows[record["task_key"]]
        for correct in (True, False):
            episode = _episode(record, correct=correct)
            env_reward = run_env(record["task_key"], as_tags(episode))[0]
            for style in (as_tags, as_hermes):
                env = SearchGymSkyRLEnv({"overrides": SMALL}, _skyrl_extras(row))
                total, outputs = _drive_skyrl(env, row["prompt"], style(episode))
                assert total == env_reward
                first = outputs[0]["observations"]
                assert first[0]["role"] == "user" and first[0]["content"].startswith("\n<information>")
                assert first[0]["content"].endswith("</information>\n")
                assert outputs[-1]["done"] and outputs[-1]["observations"] == []
                assert env.get_metrics()["em"] == env_reward
    with pytest.raises(ValueError, match="task_key"):
        SearchGymSkyRLEnv({}, {})


def test_skyrl_max_turns_from_extras(records, tmp_path):
    from searchgym.integrations.skyrl import SearchGymSkyRLEnv

    row = _skyrl_rows(tmp_path)[0]
    env = SearchGymSkyRLEnv({"overrides": SMALL}, {**_skyrl_extras(row), "max_turns": 2})
    env.init(row["prompt"])
    assert not env.step("<search>a</search>")["done"]
    out = env.step("<search>b</search>")
    assert out["done"] and out["reward"] == 0.0 and out["metadata"]["truncated"]


def test_skyrl_real_library(records, tmp_path):
    skyrl_gym = pytest.importorskip("skyrl_gym", reason="skyrl-gym is not installed")
    from skyrl_gym.envs.base_text_env import BaseTextEnv

    from searchgym.integrations.skyrl import register_skyrl

    register_skyrl()
    assert register_skyrl() is False  # idempotent
    row = _skyrl_rows(tmp_path)[3]
    record = next(r for r in records if r["task_key"] == row["task_key"])
    env = skyrl_gym.make("searchgym", env_config={"overrides": SMALL}, extras=_skyrl_extras(row))
    assert isinstance(env, BaseTextEnv)
    total, _ = _drive_skyrl(env, row["prompt"], as_tags(_episode(record)))
    assert total == 1.0
    metrics = BaseTextEnv.aggregate_metrics([env.get_metrics()])
    assert metrics["em"] == 1.0


# --------------------------------------------------------------------------- TRL


def test_trl_plain_surface(records, tmp_path):
    from searchgym.integrations.trl import SearchGymTRLEnv, trl_environment_factory

    rows = {row["task_key"]: row for row in read_rows(export_tasks("SearchQA-v0", "trl", tmp_path / "t.parquet", **SMALL))}
    factory = trl_environment_factory("SearchQA-v0", **SMALL)
    for record in pick(records, 4):
        for correct in (True, False):
            env = factory()
            assert isinstance(env, SearchGymTRLEnv)
            assert env.reset(**rows[record["task_key"]]) == ""
            for name, args in _episode(record, correct=correct):
                getattr(env, name)(**args)
            assert env.get_reward() == run_env(record["task_key"], as_tags(_episode(record, correct=correct)))[0]
            with pytest.raises(EpisodeOver):
                env.search("after the end")
    # env-owned data: no prompt column -> reset returns the prompt to append
    env = factory()
    assert env.reset().startswith("Answer the given question.")
    with pytest.raises(ValueError, match="data_source"):
        env.reset(task_key=records[0]["task_key"], data_source="Other-v0")


def test_trl_tool_schemas_with_the_real_libraries():
    pytest.importorskip("trl", reason="trl is not installed")
    from transformers.utils import get_json_schema

    from searchgym.integrations.trl import SearchGymTRLEnv

    # TRL's discovery rule: public functions of the class except reset/get_reward become tools
    names = [n for n, _ in inspect.getmembers(SearchGymTRLEnv, predicate=inspect.isfunction)
             if n not in ("reset", "get_reward") and not n.startswith("_")]
    assert names == ["access", "answer", "search"]
    env = SearchGymTRLEnv("SearchQA-v0", **SMALL)
    schemas = {n: get_json_schema(getattr(env, n)) for n in names}  # what TRL renders into the prompt
    assert schemas["search"]["function"]["parameters"]["required"] == ["query"]
    assert schemas["access"]["function"]["parameters"]["properties"]["doc_id"]["type"] == "string"
    assert schemas["answer"]["function"]["parameters"]["required"] == ["answer"]
    import trl

    assert "environment_factory" in inspect.signature(trl.GRPOTrainer.__init__).parameters


# --------------------------------------------------------------------------- verifiers


def test_verifiers_plain_surface(records):
    from searchgym.integrations.verifiers import (
        dataset_rows,
        make_tools,
        score_messages,
        searchgym_reward,
    )

    rows = dataset_rows("SearchQA-v0", **SMALL)
    assert [json.loads(r["info"])["task_key"] for r in rows] == [r["task_key"] for r in records]
    tools = {f.__name__: f for f in make_tools("SearchQA-v0", **SMALL)}
    assert set(tools) == {"search", "access", "answer"}
    for record in pick(records, 4):
        for correct in (True, False):
            episode = _episode(record, correct=correct)
            env_reward = run_env(record["task_key"], as_tags(episode))[0]
            text_msgs = [{"role": "assistant", "content": a} for a in as_tags(episode)]
            tool_msgs = as_openai(episode)
            info = json.dumps({"task_key": record["task_key"], "env_id": "SearchQA-v0", "overrides": SMALL})
            assert score_messages(text_msgs, record["task_key"], **SMALL)["reward"] == env_reward
            assert searchgym_reward(completion=tool_msgs, info=info) == env_reward
    # tool output renders like the env (bare body)
    record = records[0]
    assert tools["search"](record["question"]).strip() in run_env(record["task_key"], [
        f"<search>{record['question']}</search>"])[2][0]


def test_verifiers_real_library(records):
    pytest.importorskip("verifiers", reason="verifiers is not installed")
    from searchgym.integrations.verifiers import load_environment

    loaded = load_environment("SearchQA-v0", **SMALL)
    import verifiers

    if hasattr(verifiers, "ToolEnv"):  # legacy v0 API
        assert isinstance(loaded, verifiers.ToolEnv)
        return
    import verifiers.v1 as vf

    assert isinstance(loaded, vf.Taskset)
    tasks = list(loaded)
    assert [t.key for t in tasks] == [r["task_key"] for r in records]
    task, record = tasks[0], records[0]
    # its tools are native (MCP) tools, so its default instruction is the tools prompt
    tools_record = task_records("SearchQA-v0", prompt_style="tools", **SMALL)[0]
    assert task.data.prompt == tools_record["prompt"][0]["content"] != record["prompt"][0]["content"]
    assert json.loads(task.data.overrides_json)["prompt_style"] == "tools"
    assert next(iter(load_environment("SearchQA-v0", prompt_style="search_r1", **SMALL))).data.prompt == \
        record["prompt"][0]["content"]
    (reward_fn,) = task.hooks("reward")

    class FakeTrace:  # stands in for vf.Trace: only .messages is read
        messages = as_openai(_episode(record))

    assert asyncio.run(reward_fn(task.data, FakeTrace())) == 1.0  # v1 scoring hooks are coroutines
    FakeTrace.messages = [{"role": "assistant", "content": "<answer>wrong</answer>"}]
    assert asyncio.run(reward_fn(task.data, FakeTrace())) == 0.0
