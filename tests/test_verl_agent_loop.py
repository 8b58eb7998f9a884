"""verl: stateful searchgym tools and the Search-R1 tag-mode agent loop, with real parts only.

* the tools are driven through verl's ``BaseTool`` interface (asyncio) on a small world and
  compared with a gymnasium episode of the same actions;
* the tag protocol (:func:`run_tag_episode`) runs with the oracle's actions as the token source
  (reward 1.0) and with the bundled SmolLM2 generating token ids (bookkeeping only);
* verl's own ``AgentLoopBase`` subclass runs when ``verl.experimental.agent_loop`` imports
  (it needs hydra-core, orjson and cachetools next to a ``--no-deps`` verl).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import pytest
from episodes import SMALL, one_torch_thread, run_env

import searchgym  # noqa: F401
from searchgym.agents.oracle import OracleAgent
from searchgym.export import export_tasks, read_rows, task_records
from searchgym.integrations.tool_session import ToolSession
from searchgym.integrations.verl import (
    EPISODE_METRIC_KEYS,
    METRICS_FIELD,
    SESSIONS,
    SessionStore,
    UnknownInstanceError,
    compute_score_with_metrics,
)
from searchgym.integrations.verl_agent_loop import (
    AGENT_NAME,
    HAVE_VERL_AGENT_LOOP,
    agent_loop_config,
    cut_at_action,
    row_task,
    run_tag_episode,
    stop_sampling_params,
)

NO_VERL = "verl is not installed (pip install --no-deps verl)"
NO_AGENT_LOOP = ("verl.experimental.agent_loop does not import (a --no-deps verl also needs hydra-core, "
                 "orjson and cachetools)")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return task_records("SearchQA-v0", **SMALL)


def oracle_actions(task_key: str) -> list[str]:
    """The oracle's tag actions for one task (the env is deterministic, so they replay)."""
    env = gym.make("SearchQA-v0", **SMALL)
    observation, info = env.reset(options={"task_key": task_key})
    agent = OracleAgent()
    agent.begin(observation, info, 0, env=env)
    actions = []
    while True:
        action = agent.act(observation, info)
        actions.append(action)
        observation, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return actions


# --------------------------------------------------------------------------- stateful tools


def _tools() -> tuple[Any, Any]:
    pytest.importorskip("verl.tools.base_tool", reason=NO_VERL)
    from verl.tools.schemas import OpenAIFunctionToolSchema

    from searchgym.integrations.verl import SearchGymAccessTool, SearchGymSearchTool

    config = {"env_id": "SearchQA-v0", "overrides": SMALL}
    made = []
    for cls in (SearchGymSearchTool, SearchGymAccessTool):
        schema = OpenAIFunctionToolSchema.model_validate(cls._default_schema())
        made.append(cls(config, schema))
    return made[0], made[1]


def _episode_calls(record: dict) -> list[tuple[str, dict]]:
    """search, the same search again (a repeated query), access a gold doc."""
    return [("search", {"query_list": [record["question"]]}),
            ("search", {"query_list": [record["question"]]}),
            ("access", {"doc_id": record["gold_doc_ids"][0]})]


async def _drive(tools: dict[str, Any], instance_id: str, calls: list[tuple[str, dict]]) -> list[Any]:
    outputs = []
    for name, arguments in calls:
        outputs.append(await tools[name].execute(instance_id, arguments))
        await asyncio.sleep(0)  # let a concurrent trajectory interleave
    return outputs


def test_stateful_tools_track_turns_and_evidence_like_the_env(records):
    search, access = _tools()
    tools = {"search": search, "access": access}
    record = records[3]
    calls = _episode_calls(record)

    async def main() -> tuple[list[Any], float, dict]:
        create = {"create_kwargs": {"task_key": record["task_key"], "data_source": "SearchQA-v0"}}
        instance, _ = await search.create("traj-1", **create)
        assert (await access.create(instance, **create))[0] == instance  # joins the same episode
        outputs = await _drive(tools, instance, calls)
        reward = await search.calc_reward(instance)
        metrics = search.episode_metrics(instance)
        await search.release(instance)
        assert instance in SESSIONS  # the access tool still holds it
        await access.release(instance)
        return outputs, reward, metrics

    before = len(SESSIONS)
    outputs, reward, metrics = asyncio.run(main())
    assert len(SESSIONS) == before and "traj-1" not in SESSIONS
    _, env_info, env_observations = run_env(record["task_key"], [{"name": n, "arguments": a} for n, a in calls])
    for (response, step_reward, step_metrics), observation in zip(outputs, env_observations):
        assert step_reward == 0.0 and response.text.strip() in observation
        assert step_metrics["doc_ids"]
    assert reward == 0.0  # not answered (tool mode answers in text)
    assert metrics["turns"] == 3 == env_info["turn"]
    assert metrics["num_searches"] == 2 and metrics["num_accesses"] == 1
    assert metrics["evidence_recall"] == pytest.approx(env_info["evidence_recall"]) and metrics["evidence_recall"] > 0
    assert outputs[-1][2]["evidence_recall"] == metrics["evidence_recall"]


def test_concurrent_trajectories_do_not_share_state(records):
    search, access = _tools()
    tools = {"search": search, "access": access}
    first, second = records[0], records[5]
    plans = {"a": (first, _episode_calls(first)), "b": (second, _episode_calls(second)[:1])}

    async def one(instance_id: str) -> dict:
        record, calls = plans[instance_id]
        await search.create(instance_id, create_kwargs={"task_key": record["task_key"]})
        try:
            await _drive(tools, instance_id, calls)
            return search.episode_metrics(instance_id)
        finally:
            await search.release(instance_id)

    async def main() -> list[dict]:
        return list(await asyncio.gather(one("a"), one("b")))

    metrics_a, metrics_b = asyncio.run(main())
    for (record, calls), metrics in zip(plans.values(), (metrics_a, metrics_b)):
        _, env_info, _ = run_env(record["task_key"], [{"name": n, "arguments": a} for n, a in calls])
        assert metrics["turns"] == env_info["turn"] == len(calls)
        assert metrics["evidence_recall"] == pytest.approx(env_info["evidence_recall"])


def test_verl_09_per_call_instances_follow_the_trajectory(records):
    """verl 0.9's ToolAgentLoop creates and releases an instance around EVERY call and passes
    the trajectory's AgentData: the episode must live on the trajectory, not the instance."""
    search, access = _tools()
    record = records[4]
    create_kwargs = {"task_key": record["task_key"], "data_source": "SearchQA-v0"}
    trajectories = [_agent_data(), _agent_data()]

    async def call(tool: Any, data: Any, arguments: dict) -> None:
        instance, _ = await tool.create(create_kwargs=create_kwargs)  # no id: a fresh one per call
        try:
            await tool.execute(instance, arguments, agent_data=data)
        finally:
            await tool.release(instance)

    async def main() -> None:
        await call(search, trajectories[0], {"query_list": [record["question"]]})
        await call(search, trajectories[1], {"query_list": ["unrelated words"]})
        await call(access, trajectories[0], {"doc_id": record["gold_doc_ids"][0]})

    before = len(SESSIONS)
    asyncio.run(main())
    assert len(SESSIONS) == before  # every per-call instance was released
    tracked = [data.extra_fields[METRICS_FIELD] for data in trajectories]
    assert tracked[0]["turns"] == 2 and tracked[0]["num_accesses"] == 1 and tracked[0]["evidence_recall"] > 0
    assert tracked[1]["turns"] == 1 and tracked[1]["num_accesses"] == 0
    # verl hands tool extra fields to the reward function inside extra_info
    solution = f"<search>{record['question']}</search><answer>{record['answer']}</answer>"
    scored = compute_score_with_metrics("SearchQA-v0", solution, {"target": record["answers"]},
                                        {METRICS_FIELD: tracked[0]})
    assert scored["score"] == 1.0 and scored["evidence_recall"] == tracked[0]["evidence_recall"]
    assert set(scored) == {"score", *EPISODE_METRIC_KEYS}
    assert (scored["em"], scored["f1"], scored["answered"], scored["reward"]) == (1.0, 1.0, 1.0, 1.0)
    untracked = compute_score_with_metrics("SearchQA-v0", "no answer", {"target": record["answers"]}, {})
    assert set(untracked) == set(scored) and untracked["turns"] == 0.0
    assert (untracked["em"], untracked["f1"], untracked["answered"]) == (0.0, 0.0, 0.0)
    partial = compute_score_with_metrics("SearchQA-v0", f"<answer>{record['answer']} extra words</answer>",
                                         {"target": record["answers"]}, {}, metric="f1")
    assert partial["em"] == 0.0 and 0.0 < partial["f1"] == partial["score"] < 1.0 and partial["answered"] == 1.0


def _agent_data() -> Any:
    """verl's real AgentData when its module imports, else the two attributes tools touch."""
    try:
        from verl.experimental.agent_loop.tool_agent_loop import AgentData
    except Exception:  # noqa: BLE001 - tool_agent_loop needs hydra & co.
        return SimpleNamespace(extra_fields={}, request_id="r")
    return AgentData(messages=[], image_data=None, video_data=None, audio_data=None, mm_processor_kwargs=None,
                     metrics={}, request_id="r", tools_kwargs={})


def test_tools_loaded_by_verl_track_episodes_through_the_server(records, tmp_path):
    """verl's own loader, our YAML, searches served over HTTP: still one tracked env episode."""
    pytest.importorskip("verl.tools.tool_registry", reason=NO_VERL)
    from verl.tools.tool_registry import initialize_tools_from_config

    from searchgym.integrations.verl import write_search_tool_config
    from searchgym.serve import BackgroundServer

    record = records[8]
    calls = _episode_calls(record)
    env = gym.make("SearchQA-v0", **SMALL)
    with BackgroundServer(env.unwrapped.engine) as server:
        path = write_search_tool_config(tmp_path / "tools.yaml", server.url, overrides=SMALL)
        tools = {tool.name: tool for tool in initialize_tools_from_config(str(path))}

        async def main() -> tuple[list[Any], dict]:
            instance, _ = await tools["search"].create(create_kwargs={"task_key": record["task_key"]})
            try:
                return await _drive(tools, instance, calls), tools["search"].episode_metrics(instance)
            finally:
                await tools["search"].release(instance)

        outputs, metrics = asyncio.run(main())
    _, env_info, env_observations = run_env(record["task_key"], [{"name": n, "arguments": a} for n, a in calls])
    assert [o[0].text.strip() in obs for o, obs in zip(outputs, env_observations)] == [True] * 3
    assert metrics["turns"] == 3 and metrics["evidence_recall"] == pytest.approx(env_info["evidence_recall"])


def test_unknown_released_and_evicted_instances_raise(records):
    search, _ = _tools()
    record = records[0]

    async def main() -> None:
        with pytest.raises(UnknownInstanceError, match="create"):
            await search.execute("never-created", {"query_list": ["x"]})
        instance, _ = await search.create(create_kwargs={"task_key": record["task_key"]})
        await search.execute(instance, {"query_list": ["x"]})
        await search.release(instance)
        await search.release(instance)  # idempotent: verl releases in finally blocks
        with pytest.raises(UnknownInstanceError, match="released"):
            await search.calc_reward(instance)
        # no task_key: the old stateless behaviour
        plain, _ = await search.create(create_kwargs={})
        _, _, metrics = await search.execute(plain, {"query_list": [record["question"]]})
        assert metrics["doc_ids"] and "turns" not in metrics
        await search.release(plain)

    asyncio.run(main())
    # a row from another world than the tool config's (overrides missing): retrieval still works,
    # untracked, and the metrics say why
    from verl.tools.schemas import OpenAIFunctionToolSchema

    from searchgym.integrations.verl import SearchGymSearchTool

    default_world = SearchGymSearchTool({"env_id": "SearchQA-v0"}, OpenAIFunctionToolSchema.model_validate(
        SearchGymSearchTool._default_schema()))

    async def mismatched() -> dict:
        instance, _ = await default_world.create(create_kwargs={"task_key": record["task_key"]})
        try:
            return (await default_world.execute(instance, {"query_list": ["x"]}))[2]
        finally:
            await default_world.release(instance)

    assert "unknown task_key" in asyncio.run(mismatched())["untracked"]
    store = SessionStore(max_sessions=2)
    for name in "abc":
        store.open(name, "key", "SearchQA-v0")
    assert len(store) == 2 and "a" not in store
    with pytest.raises(UnknownInstanceError, match="evicted"):
        store.get("a")


def test_export_create_kwargs_reach_the_tools(records, tmp_path):
    """The verl export's tools_kwargs are what the tools and the agent loop read."""
    row = read_rows(export_tasks("SearchQA-v0", "verl", tmp_path / "verl.parquet", **SMALL))[0]
    assert set(row["extra_info"]["tools_kwargs"]) == {"search", "access"}
    create = row["extra_info"]["tools_kwargs"]["search"]["create_kwargs"]
    assert create["task_key"] == row["extra_info"]["task_key"]
    kwargs = {"extra_info": row["extra_info"], "tools_kwargs": row["extra_info"]["tools_kwargs"],
              "data_source": row["data_source"]}
    assert row_task(kwargs) == ("SearchQA-v0", row["extra_info"]["task_key"])
    with pytest.raises(ValueError, match="task_key"):
        row_task({"extra_info": {}})


# --------------------------------------------------------------------------- the tag protocol


@pytest.fixture(scope="module")
def smol() -> Any:
    """The bundled SmolLM2-135M-Instruct (GGUF converted once into the test cache)."""
    pytest.importorskip("transformers", reason="transformers is not installed")
    from searchgym.llm import TransformersGenerator

    with one_torch_thread():
        return TransformersGenerator(device="cpu", batch_size=1, num_threads=1)


def _output(token_ids: list[int], log_probs: list[float] | None) -> Any:
    """verl's TokenOutput when it imports (it needs orjson), else the same two fields."""
    try:
        from verl.workers.rollout.replica import TokenOutput
    except Exception:  # noqa: BLE001
        return SimpleNamespace(token_ids=token_ids, log_probs=log_probs, num_preempted=None, extra_fields={})
    return TokenOutput(token_ids=token_ids, log_probs=log_probs)


class ScriptedOracle:
    """A token source replaying the oracle's actions, each followed by text a real backend could
    overshoot a stop string with, and EOS: the loop must cut right after the closing tag."""

    def __init__(self, tokenizer: Any, actions: list[str]) -> None:
        self.tokenizer, self.actions, self.calls = tokenizer, list(actions), []

    async def generate(self, request_id: str = "", *, prompt_ids: list[int], sampling_params: dict,
                       **_: Any) -> Any:
        self.calls.append((list(prompt_ids), dict(sampling_params)))
        text = f"<think>next step</think>{self.actions[len(self.calls) - 1]} and then more text"
        ids = self.tokenizer.encode(text, add_special_tokens=False) + [self.tokenizer.eos_token_id]
        return _output(ids, [-0.25] * len(ids))

    async def __call__(self, prompt_ids: list[int], params: dict) -> Any:
        return await self.generate(prompt_ids=prompt_ids, sampling_params=params)


class SmolServer:
    """verl's server-manager surface (``generate``) over SmolLM2, token ids in and out, with
    stop strings, EOS, ``max_tokens`` and the sampled tokens' log-probs, like a vLLM replica."""

    def __init__(self, generator: Any, *, max_new_tokens: int) -> None:
        self.model, self.tokenizer = generator.model, generator.tokenizer
        self.eos = generator.eos_token_ids
        self.max_new_tokens = max_new_tokens
        self.calls: list[tuple[list[int], list[int]]] = []

    async def generate(self, request_id: str = "", *, prompt_ids: list[int], sampling_params: dict,
                       **_: Any) -> Any:
        return await asyncio.to_thread(self._generate, list(prompt_ids), dict(sampling_params))

    async def __call__(self, prompt_ids: list[int], params: dict) -> Any:
        return await self.generate(prompt_ids=prompt_ids, sampling_params=params)

    def _generate(self, prompt_ids: list[int], params: dict) -> Any:
        import torch
        from transformers import StoppingCriteriaList

        from searchgym.llm.decoding import StopOnStrings

        limit = min(int(params["max_tokens"]), self.max_new_tokens)
        with one_torch_thread(), torch.inference_mode():
            inputs = torch.tensor([prompt_ids])
            out = self.model.generate(
                input_ids=inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=limit, do_sample=False,
                eos_token_id=self.eos, pad_token_id=self.eos[0], return_dict_in_generate=True, output_scores=True,
                stopping_criteria=StoppingCriteriaList([StopOnStrings(self.tokenizer, params["stop"],
                                                                       len(prompt_ids))]))
        new = out.sequences[0, len(prompt_ids):].tolist()
        log_probs = [float(torch.log_softmax(score[0].float(), -1)[token]) for score, token in zip(out.scores, new)]
        self.calls.append((prompt_ids, new))
        return _output(new, log_probs)


def _segments(ids: list[int], mask: list[int]) -> list[tuple[int, list[int]]]:
    """Runs of equal mask value: [(mask, ids), ...]."""
    runs: list[tuple[int, list[int]]] = []
    for token, value in zip(ids, mask):
        if runs and runs[-1][0] == value:
            runs[-1][1].append(token)
        else:
            runs.append((value, [token]))
    return runs


def test_cut_at_action_and_stop_params(smol):
    tokenizer = smol.tokenizer
    ids = tokenizer.encode("<think>a</think><search> x </search> trailing", add_special_tokens=False)
    kept, text, acted = cut_at_action(tokenizer, ids)
    assert acted and text.endswith("</search>") and ids[: len(kept)] == kept
    assert cut_at_action(tokenizer, ids[:3]) == (ids[:3], tokenizer.decode(ids[:3]), False)
    params = stop_sampling_params({"temperature": 1.0, "stop": ["</s>"], "max_new_tokens": 9}, max_tokens=5)
    assert params["stop"] == ["</s>", "</search>", "</access>", "</answer>"] and params["max_tokens"] == 5
    assert params["include_stop_str_in_output"] and "max_new_tokens" not in params
    assert stop_sampling_params({}, max_tokens=5, backend="sglang")["no_stop_trim"]


def test_tag_episode_with_the_oracle_scores_one_and_masks_observations(records, smol):
    tokenizer = smol.tokenizer
    record, actions = next((r, a) for r in records if len(a := oracle_actions(r["task_key"])) >= 3)
    env_reward, env_info, env_observations = run_env(record["task_key"], actions)
    assert env_reward == 1.0
    source = ScriptedOracle(tokenizer, actions)
    prompt_ids = tokenizer.apply_chat_template(record["prompt"], add_generation_prompt=True, tokenize=True)
    if not isinstance(prompt_ids, list):  # transformers 5 returns a BatchEncoding
        prompt_ids = list(prompt_ids["input_ids"])
    session = ToolSession("SearchQA-v0", **SMALL)

    episode = asyncio.run(run_tag_episode(session, record["task_key"], prompt_ids, source, tokenizer,
                                          response_length=4096, sampling_params={"temperature": 1.0}))

    assert episode.reward == 1.0 and episode.stop_reason == "done"
    assert episode.metrics["evidence_recall"] == env_info["evidence_recall"] == 1.0
    assert episode.metrics["turns"] == len(actions) and episode.assistant_turns == len(actions)
    assert episode.num_turns == 1 + len(actions) + len(actions) - 1
    assert episode.prompt_ids == prompt_ids
    assert len(episode.response_ids) == len(episode.response_mask) == len(episode.response_logprobs)
    runs = _segments(episode.response_ids, episode.response_mask)
    assert [value for value, _ in runs] == [1, 0] * (len(actions) - 1) + [1]
    for index, (value, ids) in enumerate(runs):
        text = tokenizer.decode(ids)
        if value == 1:  # the action, cut right after its closing tag (no overshoot, no EOS)
            assert text == f"<think>next step</think>{actions[index // 2]}"
        else:  # exactly the env's observation
            assert text == env_observations[index // 2]
    for token_mask, log_prob in zip(episode.response_mask, episode.response_logprobs):
        assert log_prob == (-0.25 if token_mask else 0.0)
    # each turn continues the full history and stops on the action tags
    for (sent, params), (value, _) in zip(source.calls[1:], runs[1::2]):
        assert sent[: len(prompt_ids)] == prompt_ids and "</search>" in params["stop"]
    assert source.calls[-1][0] == prompt_ids + episode.response_ids[: -len(runs[-1][1])]


def test_tag_episode_budget_cuts_observations(records, smol):
    tokenizer = smol.tokenizer
    record = records[2]
    actions = oracle_actions(record["task_key"])
    budget = 60
    episode = asyncio.run(run_tag_episode(ToolSession("SearchQA-v0", **SMALL), record["task_key"], [1, 2, 3],
                                          ScriptedOracle(tokenizer, actions), tokenizer, response_length=budget))
    assert episode.stop_reason == "length" and len(episode.response_ids) == budget == len(episode.response_mask)
    assert episode.reward == 0.0 and episode.metrics["answered"] == 0.0


def test_tag_episode_with_smollm2_keeps_tokens_masks_and_logprobs_aligned(records, smol):
    """Real generation: whatever SmolLM2 writes, generated tokens are kept as sampled (mask 1,
    their log-probs), env observations are appended with mask 0, and the env counts the turns."""
    tokenizer = smol.tokenizer
    record = records[1]
    server = SmolServer(smol, max_new_tokens=12)
    prompt_ids = tokenizer.apply_chat_template(record["prompt"], add_generation_prompt=True, tokenize=True)
    if not isinstance(prompt_ids, list):
        prompt_ids = list(prompt_ids["input_ids"])
    session = ToolSession("SearchQA-v0", **SMALL)
    episode = asyncio.run(run_tag_episode(session, record["task_key"], prompt_ids, server, tokenizer,
                                          response_length=200, max_assistant_turns=3))

    assert episode.stop_reason in {"done", "eos", "length", "max_turns"}
    assert len(episode.response_ids) == len(episode.response_mask) == len(episode.response_logprobs) <= 200
    runs = _segments(episode.response_ids, episode.response_mask)
    generated = [ids for value, ids in runs if value == 1]
    assert len(generated) == episode.assistant_turns == len(server.calls)
    for ids, (sent, sampled) in zip(generated, server.calls):
        assert sampled[: len(ids)] == ids  # a prefix of what the model sampled
    assert runs[0][0] == 1 and episode.assistant_turns >= 1
    assert sum(1 for value, _ in runs if value == 0) == episode.observation_turns
    assert episode.metrics["turns"] == session.metrics()["turns"] >= episode.observation_turns
    assert set(episode.metrics) == set(EPISODE_METRIC_KEYS) and episode.reward in (0.0, 1.0)
    assert all(lp <= 0.0 for lp in episode.response_logprobs)


# --------------------------------------------------------------------------- verl AgentLoopBase


def _verl_config(response_length: int) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.create({
        "actor_rollout_ref": {"rollout": {
            "name": "vllm", "prompt_length": 1024, "response_length": response_length, "full_determinism": False,
            "multi_turn": {"max_assistant_turns": None}}},
        "data": {"apply_chat_template_kwargs": {}},
    })


@pytest.mark.skipif(not HAVE_VERL_AGENT_LOOP, reason=NO_AGENT_LOOP)
def test_verl_agent_loop_registered_and_runs_the_oracle(records, smol, tmp_path):
    import hydra
    from verl.experimental.agent_loop.agent_loop import (
        AgentLoopOutput,
        DictConfigWrap,
        ToolListWrap,
        _agent_loop_registry,
    )

    from searchgym.integrations.verl_agent_loop import (
        SearchGymAgentLoop,
        write_agent_loop_config,
    )

    assert _agent_loop_registry[AGENT_NAME]["_target_"].endswith("verl_agent_loop.SearchGymAgentLoop")
    write_agent_loop_config(tmp_path / "loops.yaml", env_overrides=SMALL)
    assert agent_loop_config(env_overrides=SMALL)[0]["env_overrides"] == SMALL
    row = read_rows(export_tasks("SearchQA-v0", "verl", tmp_path / "verl.parquet", **SMALL))[7]
    task_key = row["extra_info"]["task_key"]
    actions = oracle_actions(task_key)
    config = _verl_config(4096)

    async def main() -> AgentLoopOutput:
        loop = hydra.utils.instantiate(  # exactly how verl's AgentLoopWorker builds it
            config=agent_loop_config(env_overrides=SMALL)[0] | {},
            trainer_config=DictConfigWrap(config), server_manager=ScriptedOracle(smol.tokenizer, actions),
            tokenizer=smol.tokenizer, processor=None, dataset_cls=None, data_config=DictConfigWrap(config.data),
            hf_model_type=None, tools=ToolListWrap([]))
        assert isinstance(loop, SearchGymAgentLoop)
        return await loop.run({"temperature": 1.0}, raw_prompt=row["prompt"], extra_info=row["extra_info"],
                              data_source=row["data_source"], tools_kwargs=row["extra_info"]["tools_kwargs"])

    output = asyncio.run(main())
    assert output.reward_score == 1.0
    info = output.extra_fields["reward_extra_info"]
    assert info["evidence_recall"] == 1.0 and info["turns"] == len(actions)
    assert output.num_turns == 2 * len(actions)
    assert len(output.response_ids) == len(output.response_mask) == len(output.response_logprobs)
    assert output.response_mask[0] == 1 and 0 in output.response_mask
    assert smol.tokenizer.decode(output.response_ids).endswith(actions[-1])
    assert output.extra_fields["searchgym_stop_reason"] == "done"


@pytest.mark.skipif(not HAVE_VERL_AGENT_LOOP, reason=NO_AGENT_LOOP)
def test_verl_agent_loop_with_smollm2_respects_the_response_length(records, smol):
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap

    from searchgym.integrations.verl_agent_loop import SearchGymAgentLoop

    record = records[6]
    config = _verl_config(48)
    server = SmolServer(smol, max_new_tokens=20)

    async def main() -> Any:
        loop = SearchGymAgentLoop(trainer_config=DictConfigWrap(config), server_manager=server,
                                  tokenizer=smol.tokenizer, processor=None, dataset_cls=None,
                                  data_config=DictConfigWrap(config.data), env_overrides=SMALL)
        return await loop.run({}, raw_prompt=record["prompt"], data_source="SearchQA-v0",
                              extra_info={"task_key": record["task_key"]})

    output = asyncio.run(main())
    assert len(output.response_ids) == len(output.response_mask) <= 48
    assert output.response_mask[0] == 1 and output.reward_score in (0.0, 1.0)
    assert set(output.extra_fields["reward_extra_info"]) == set(EPISODE_METRIC_KEYS)
    assert output.prompt_ids[-len(server.calls[0][0]):] == server.calls[0][0]
