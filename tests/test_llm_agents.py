"""LLM baseline agents (``llm``, ``openai``) and the batched evaluation path.

Fast tests use the classical agents and a scripted generator. Slow tests run the REAL bundled
SmolLM2-135M-Instruct on CPU with one torch thread and tiny budgets (max_new_tokens <= 32, 2-3
episodes, max_turns <= 3). SmolLM2-135M rarely writes a valid tag for the Search-R1 prompt, so
they assert on mechanics (transcripts, stop strings, batch == sequential, HTTP == local), not on
accuracy; valid and invalid actions are counted and reported.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace

import gymnasium as gym
import pytest
from loopback import serve_openai_app as serve

import searchgym  # noqa: F401  (registers the envs)
from searchgym.agents import HeuristicAgent, OracleAgent, RandomAgent, make_agent
from searchgym.agents.llm import SEARCH_R1_STOPS, LLMAgent, OpenAIAgent
from searchgym.evaluation import (
    LockstepAgents,
    evaluate,
    is_batched,
    run_episode,
    run_episodes_batched,
    select_task_keys,
)
from searchgym.llm import GenerationConfig, LLMRequestError, apply_stop

SMALL = {"world_size": 300, "tasks_per_type": 30, "eval_tasks_per_type": 30}


# --------------------------------------------------------------------------- helpers


class ScriptedGenerator:
    """A TextGenerator that searches the last words of its prompt, then answers; records calls."""

    def __init__(self, max_chars: int | None = None) -> None:
        self.calls: list[tuple[list, GenerationConfig]] = []
        self.max_chars = max_chars

    def generate(self, prompts: Sequence, config: GenerationConfig | None = None) -> list[str]:
        config = config or GenerationConfig()
        self.calls.append((list(prompts), config))
        outputs = []
        for prompt in prompts:
            text = prompt if isinstance(prompt, str) else "".join(m["content"] for m in prompt)
            if self.max_chars is not None and len(text) > self.max_chars:
                raise LLMRequestError("prompt too long for the context")
            if isinstance(prompt, str):
                turns = text.count("</search>")
            else:
                turns = sum(m["role"] == "assistant" for m in prompt)
            raw = "<search> " + " ".join(text.split()[-3:]) + " </search> trailing" if turns < 2 else "<answer> x </answer>"
            outputs.append(apply_stop(raw, config.stop, config.include_stop))
        return outputs




# --------------------------------------------------------------------------- fast: registry, agent mechanics


def test_registry_builds_llm_agents_and_others_ignore_their_options():
    # The CLI passes the same options to every agent named.
    assert isinstance(make_agent("oracle", model="/nowhere", base_url="http://x/v1"), OracleAgent)
    with pytest.raises(ValueError, match="base_url"):
        make_agent("openai", model="served-name")
    agent = make_agent("openai", base_url="http://127.0.0.1:9/v1", model="m", max_new_tokens=16, chat=False,
                       num_threads=1, device="cpu")
    assert isinstance(agent, OpenAIAgent) and agent.name == "openai" and not agent.chat
    assert agent.generation.max_new_tokens == 16 and agent.generator.mode == "completions"
    agent.close()
    assert is_batched(agent) and not is_batched(HeuristicAgent())


def test_sampling_llm_agent_gives_each_episode_its_own_seed_whatever_the_batch_order():
    generator = ScriptedGenerator()
    agent = LLMAgent(generator, temperature=1.0, seed=3)
    envs = [gym.make("SearchQA-v0", **SMALL) for _ in range(2)]
    resets = [env.reset(seed=0, options={"task_index": i}) for i, env in enumerate(envs)]
    agent.begin_batch([o for o, _ in resets], [i for _, i in resets], [5, 7])
    agent.act_batch([o for o, _ in resets], [i for _, i in resets])
    forward = generator.calls[-1][1]
    assert forward.seed is None and len(forward.seeds) == 2 and forward.seeds[0] != forward.seeds[1]
    # same episodes in the other slots: each keeps its seed (it depends on the episode, not the slot)
    agent.begin_batch([o for o, _ in resets[::-1]], [i for _, i in resets[::-1]], [7, 5])
    agent.act_batch([o for o, _ in resets[::-1]], [i for _, i in resets[::-1]])
    assert generator.calls[-1][1].seeds == forward.seeds[::-1]


def test_llm_agent_keeps_a_chat_transcript_and_passes_stop_strings():
    generator = ScriptedGenerator()
    agent = LLMAgent(generator, max_new_tokens=16)
    env = gym.make("SearchQA-v0", **SMALL)
    observation, info = env.reset(seed=0, options={"task_index": 0})
    agent.begin(observation, info, 0)
    actions = []
    while True:
        actions.append(agent.act(observation, info))
        observation, _, terminated, truncated, info = env.step(actions[-1])
        if terminated or truncated:
            break
    assert [a.endswith("</search>") for a in actions] == [True, True, False] and "trailing" not in actions[0]
    assert info["num_searches"] == 2 and info["answered"] and info["num_invalid"] == 0
    # The transcript is the env's own: prompt, then action / observation pairs, as chat turns.
    assert agent.transcript() == env.unwrapped.state.transcript
    prompts, config = generator.calls[-1]
    assert config.stop == SEARCH_R1_STOPS and config.include_stop and config.max_new_tokens == 16
    assert [m["role"] for m in prompts[0]] == ["user", "assistant", "user", "assistant", "user"]


def test_llm_agent_raw_mode_and_slots():
    agent = LLMAgent(ScriptedGenerator(), chat=False)
    agent.begin_batch(["P0 alpha", "P1 beta"], [{}, {}], [0, 1])
    first = agent.act_batch(["P0 alpha", "P1 beta"], [{}, {}])
    assert first == ["<search> P0 alpha </search>", "<search> P1 beta </search>"]
    # Slot 1 is refilled with a new episode while slot 0 keeps going.
    agent.begin_batch(["P2 gamma"], [{}], [2], slots=[1])
    second = agent.act_batch(["\nobs0\n", "P2 gamma"], [{}, {}], slots=[0, 1])
    assert agent.transcript(0) == "P0 alpha" + first[0] + "\nobs0\n" + second[0]
    assert agent.transcript(1) == "P2 gamma" + second[1]
    with pytest.raises(RuntimeError, match="slot 5"):
        agent.act_batch(["x"], [{}], slots=[5])


def test_llm_agent_acts_with_empty_text_once_the_transcript_overflows():
    agent = LLMAgent(ScriptedGenerator(max_chars=60), chat=False)
    agent.begin_batch(["short", "a prompt that is much too long " * 3], [{}, {}], [0, 1])
    actions = agent.act_batch(["", ""], [{}, {}])
    assert actions[0].startswith("<search>") and actions[1] == ""
    assert agent.context_overflows == 1
    calls = len(agent.generator.calls)
    assert agent.act_batch(["obs", "obs"], [{}, {}])[1] == ""  # no new attempt for slot 1
    assert all(len(prompts) == 1 for prompts, _ in agent.generator.calls[calls:])


# --------------------------------------------------------------------------- fast: batched evaluation


@pytest.mark.parametrize("env_id, extra", [("SearchQA-v0", {}),
                                           ("SearchQA-Sim-v0", {"engine_options": {"noise_prob": 0.3, "seed": 0}})])
def test_batched_path_equals_sequential_for_classical_agents(env_id, extra):
    kwargs = {**SMALL, **extra}
    env = gym.make(env_id, **kwargs)
    keys = select_task_keys(env, 11, seed=4)  # 11 tasks over 4 slots: refills and idle slots
    for agent_class in (HeuristicAgent, RandomAgent, OracleAgent):
        sequential = [run_episode(env, agent_class(), key, 4 + i) for i, key in enumerate(keys)]
        batched = run_episodes_batched(env_id, LockstepAgents(agent_class, 4), keys, 4, env_kwargs=kwargs,
                                       num_envs=4)
        assert batched == sequential, agent_class.__name__
    env.close()


def test_evaluate_uses_the_batched_path_with_the_same_tasks():
    calls = []

    class Recording(LockstepAgents):
        def act_batch(self, observations, infos, slots=None):
            calls.append(len(observations))
            return super().act_batch(observations, infos, slots)

    plain = evaluate("SearchQA-v0", [HeuristicAgent()], 9, seed=2, env_kwargs=SMALL, show_progress=False)
    batched = evaluate("SearchQA-v0", [Recording(HeuristicAgent, 3)], 9, seed=2, env_kwargs=SMALL,
                       show_progress=False)
    assert max(calls) == 3 and len(calls) < 9 * 2
    assert batched["agents"] == plain["agents"]
    assert "invalid" in plain["agents"]["heuristic"]["by_task_type"]["all"]
    json.dumps(batched)  # plain Python types only


# --------------------------------------------------------------------------- slow: the real SmolLM2


@pytest.fixture(scope="module")
def smol_agent() -> Iterator[LLMAgent]:
    import torch

    threads = torch.get_num_threads()
    agent = LLMAgent(max_new_tokens=24, device="cpu", num_threads=1, batch_size=4)
    yield agent
    torch.set_num_threads(threads)


def _run_all(env, agent, keys) -> list:
    return [run_episode(env, agent, key, i) for i, key in enumerate(keys)]


@pytest.mark.slow
def test_smollm2_agent_plays_episodes_the_env_parses(smol_agent):
    env = gym.make("SearchQA-v0", max_turns=3, **SMALL)
    observation, info = env.reset(seed=0, options={"task_index": 1})
    smol_agent.begin(observation, info, 0)
    kinds, lengths = [], []
    while True:
        action = smol_agent.act(observation, info)
        lengths.append(len(smol_agent.transcript()))
        assert isinstance(action, str) and action
        observation, _, terminated, truncated, info = env.step(action)
        kinds.append(info["action_kind"])
        if terminated or truncated:
            break
    # Every turn adds the observation and the action: the transcript mirrors the env's.
    assert lengths == [2 + 2 * i for i in range(len(lengths))]
    assert smol_agent.transcript() == env.unwrapped.state.transcript[: len(smol_agent.transcript())]
    valid = sum(kind != "invalid" for kind in kinds)
    print(f"SmolLM2 actions: {valid} valid, {len(kinds) - valid} invalid ({kinds})")
    assert info["num_invalid"] == len(kinds) - valid
    for message in smol_agent.transcript()[1::2]:
        cut = apply_stop(message["content"], SEARCH_R1_STOPS)
        assert cut == message["content"]  # nothing generated past a closing tag


@pytest.mark.slow
def test_smollm2_honours_stop_strings_in_raw_mode(smol_agent):
    raw = LLMAgent(smol_agent.generator, chat=False, max_new_tokens=32)
    primer = "".join(f"<search> capital of {c} </search>\n" for c in ("France", "Spain", "Italy", "Peru"))
    raw.begin(primer + "<search> capital of Chile", {}, 0)
    action = raw.act("", {})
    assert action.endswith("</search>") and action.count("</search>") == 1, action


@pytest.mark.slow
def test_smollm2_batch_equals_sequential_under_greedy_decoding(smol_agent):
    env_kwargs = {**SMALL, "max_turns": 2}
    env = gym.make("SearchQA-v0", **env_kwargs)
    keys = select_task_keys(env, 3, seed=0)
    sequential = _run_all(env, smol_agent, keys)
    calls = smol_agent.calls
    batched = run_episodes_batched("SearchQA-v0", smol_agent, keys, 0, env_kwargs=env_kwargs, num_envs=3)
    assert smol_agent.calls - calls == 2  # one generation call per step for all three episodes
    assert batched == sequential


@pytest.mark.slow
def test_openai_agent_over_local_server_matches_llm_agent(smol_agent):
    from searchgym.llm.openai_server import create_openai_app

    env = gym.make("SearchQA-v0", max_turns=2, **SMALL)
    keys = select_task_keys(env, 2, seed=1)
    local = [_run_all(env, smol_agent, keys), smol_agent.transcript()]
    with serve(create_openai_app(smol_agent.generator, "smollm2")) as url:
        remote_agent = OpenAIAgent(url, "smollm2", max_new_tokens=smol_agent.generation.max_new_tokens,
                                   max_retries=0)
        try:
            remote = [_run_all(env, remote_agent, keys), remote_agent.transcript()]
        finally:
            remote_agent.close()
    remote[0] = [replace(result, agent="llm") for result in remote[0]]
    assert remote == local


@pytest.mark.slow
def test_eval_cli_runs_the_llm_agent(tmp_path):
    output = tmp_path / "llm.json"
    completed = subprocess.run(
        [sys.executable, "-m", "searchgym.cli", "eval", "--agents", "llm", "--episodes", "2", "--no-progress",
         "--set", "world_size=300", "--set", "tasks_per_type=30", "--set", "eval_tasks_per_type=30", "--set", "max_turns=2",
         "--agent-option", "max_new_tokens=16", "--agent-option", "num_threads=1",
         "--agent-option", "device=cpu", "--agent-option", "batch_size=2", "--output", str(output)],
        check=False, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(output.read_text())
    episodes = report["agents"]["llm"]["episodes"]
    assert len(episodes) == 2 and all(e["turns"] <= 2 for e in episodes)
    assert "invalid" in report["agents"]["llm"]["by_hops"]["all"]
