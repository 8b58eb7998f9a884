"""One reward composition, every path, equal numbers.

The same composition (outcome F1, Search-R1 format, evidence with a repeat-query penalty, the
citation rubric and retrieval cost) is declared once as a ``[reward]`` table and once as
wrappers, and one set of actions — a correct answer with a citation, a wrong answer, repeated
queries, malformed actions — runs through the single env (wrapped, spec override, spec file), the
batched vector env, a ToolSession (wrapped env and spec), SkyRL (``skyrl_gym.make``), TRL's
environment factory, verifiers (v0 rubric function and the v1 replay scorer) and verl's reward
function. Rewards, ``reward_parts`` / ``reward_weights`` and episode metrics must be equal.
"""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
from episodes import SMALL

from searchgym.envs.config import SpecError
from searchgym.envs.vector import BatchedSearchQAVectorEnv
from searchgym.export import task_records
from searchgym.integrations.tool_session import ToolSession
from searchgym.wrappers import compose_rewards
from searchgym.wrappers.rewards import reward_table

WEIGHTS = {"answer": 1.0, "format": 0.2, "evidence": 0.5, "citation": 0.3, "retrieval_cost": 1.0}
OPTIONS = {"answer": {"metric": "f1"}, "evidence": {"per_fact": 0.1, "repeat_query_penalty": 0.1}}
TABLE = reward_table(WEIGHTS, **OPTIONS)


@pytest.fixture(scope="module")
def tasks():
    records = task_records("SearchQA-v0", **SMALL)
    chains = [r for r in records if r["task_type"] == "chain" and r["hops"] >= 2]
    return chains[0], chains[1]


def _scripts(correct: dict, wrong: dict) -> list[list[tuple[str, dict]]]:
    """(tool, arguments) scripts: honest + cited correct answer, and a wrong one with repeats."""
    gold = correct["gold_doc_ids"][0]
    return [
        [("search", {"query": correct["question"]}), ("search", {"query": correct["question"]}),
         ("access", {"doc_id": gold}), ("answer", {"answer": f"{correct['answer']} [doc: {gold}]"})],
        [("search", {"query": ""}), ("search", {"query": wrong["question"]}),
         ("search", {"query": wrong["question"].upper()}), ("answer", {"answer": "certainly not it"})],
    ]


_ARG = {"search": "query", "access": "doc_id", "answer": "answer"}


def _tags(script) -> list:
    # the malformed search stays malformed as a tag: an unclosed tag
    return [f"<think>step</think><{n}> {a[_ARG[n]]} </{n}>" if a[_ARG[n]] else "<search>unclosed"
            for n, a in script]


def _calls(script) -> list:
    return [{"name": n, "arguments": a} for n, a in script]


def _run(env, task_key, actions):
    _, info = env.reset(options={"task_key": task_key})
    rewards, infos = [], []
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        rewards.append(float(reward))
        infos.append(info)
        if terminated or truncated:
            break
    return rewards, infos


def _parts(info):
    return info["reward_parts"], info["reward_weights"]


def test_reward_table_errors_are_one_line():
    for table, message in [({"answr": 1.0}, "unknown reward term 'answr'"),
                           ({"answer": {"weight": 1.0, "metrc": "f1"}}, r"unknown option\(s\) \['metrc'\]"),
                           ({"answer": {"metric": "bleu"}}, "metric must be one of"),
                           ({"answer": "heavy"}, "must be a weight or a table"),
                           ({"env_weight": 1.0}, "names no reward term")]:
        with pytest.raises(SpecError, match=message) as error:
            gym.make("SearchQA-v0", reward_terms=table, **SMALL)
        assert "\n" not in str(error.value)


@pytest.mark.parametrize("form", ["tags", "calls"])
def test_one_composition_gives_equal_rewards_on_every_path(tasks, tmp_path, form):
    correct, wrong = tasks
    scripts = [(_tags if form == "tags" else _calls)(s) for s in _scripts(correct, wrong)]
    keys = [correct["task_key"], wrong["task_key"]]
    if form == "tags":  # a non-text object is a malformed action too
        scripts[1].insert(1, 12345)

    wrapped = compose_rewards(gym.make("SearchQA-v0", **SMALL), WEIGHTS, **OPTIONS)
    reference = [_run(wrapped, key, script) for key, script in zip(keys, scripts)]
    assert reference[0][0][-1] > 1.0 > reference[1][0][-1]  # the honest cited answer wins
    repeats = [i["reward_details"]["evidence"]["repeated_queries"] for i in reference[1][1]]
    assert sum(repeats) == 1  # upper-cased, the same query after normalisation

    spec = gym.make("SearchQA-v0", reward_terms=TABLE, **SMALL)
    from searchgym.resources import data_path

    toml = (data_path("envs") / "SearchQA-v0.toml").read_text().replace('id = "SearchQA-v0"', 'id = "Composed-v0"')
    toml += "\n[reward]\n" + "\n".join(f"{part} = {_inline(spec_)}" for part, spec_ in TABLE.items()) + "\n"
    path = tmp_path / "composed.toml"
    path.write_text(toml)
    from searchgym.envs.search_qa import SearchQAEnv

    from_file = SearchQAEnv(path, **SMALL)
    for env in (spec, from_file):
        for (rewards, infos), key, script in zip(reference, keys, scripts):
            got_rewards, got_infos = _run(env, key, script)
            assert got_rewards == rewards
            assert [_parts(i) for i in got_infos] == [_parts(i) for i in infos]

    # the batched vector env: both scripts side by side, one engine call per step
    vector = BatchedSearchQAVectorEnv(2, reward_terms=TABLE, **SMALL)
    vector.reset(options={"task_keys": keys})
    for t in range(max(len(s) for s in scripts)):
        actions = [s[t] if t < len(s) else "<answer>x</answer>" for s in scripts]
        _, rewards, _, _, infos = vector.step(actions)
        for i in range(2):
            if t < len(reference[i][0]):
                assert rewards[i] == reference[i][0][t]
                parts, weights = _parts(reference[i][1][t])
                assert {k: infos["reward_parts"][k][i] for k in parts} == parts
                assert {k: infos["reward_weights"][k][i] for k in weights} == weights

    # ToolSession over the wrapped env (wrappers kept) and over the spec
    sessions = [ToolSession(env=compose_rewards(gym.make("SearchQA-v0", **SMALL), WEIGHTS, **OPTIONS)),
                ToolSession("SearchQA-v0", reward_terms=TABLE, **SMALL)]
    metrics = []
    for session in sessions:
        per_task = []
        for (rewards, infos), key, script in zip(reference, keys, scripts):
            assert session.replay(key, script) == sum(rewards)
            assert _parts(session.last_info) == _parts(infos[-1])
            per_task.append(session.metrics())
        metrics.append(per_task)
    assert metrics[0] == metrics[1]
    totals = [m["reward"] for m in metrics[0]]
    assert totals == [sum(r) for r, _ in reference]

    _check_adapters(keys, scripts, form, totals, metrics[0])


def _inline(spec) -> str:
    if not isinstance(spec, dict):
        return json.dumps(spec)
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in spec.items()) + " }"


def _check_adapters(keys, scripts, form, totals, metrics, env_id="SearchQA-v0", overrides=None):
    overrides = overrides if overrides is not None else {**SMALL, "reward_terms": TABLE}
    # SkyRL: the real skyrl_gym registry and make, as SkyRL's generator calls them
    skyrl_gym = pytest.importorskip("skyrl_gym")
    from searchgym.integrations.skyrl import register_skyrl

    register_skyrl()
    for key, script, total in zip(keys, scripts, totals):
        env = skyrl_gym.make("searchgym", env_config={"env_id": env_id, "overrides": overrides},
                             extras={"task_key": key})
        env.init([])
        got = 0.0
        for action in script:
            text = action if isinstance(action, str) else _hermes(action)
            out = env.step(text)
            got += out["reward"]
            if out["done"]:
                break
        assert got == pytest.approx(total, abs=1e-12)
    # TRL: environment_factory instances with tool methods (the calls form only: TRL speaks tools)
    from searchgym.integrations.trl import trl_environment_factory

    if form == "calls":
        factory = trl_environment_factory(env_id, **overrides)
        for key, script, total in zip(keys, scripts, totals):
            env = factory()
            env.reset(task_key=key)
            for call in script:
                try:
                    getattr(env, call["name"])(**call["arguments"])
                except Exception:  # noqa: BLE001 - TRL returns a tool's exception to the model
                    break
            assert env.get_reward() == pytest.approx(total, abs=1e-12)
    # verifiers: the v0 rubric function and the replay scorer the v1 @vf.reward uses
    from searchgym.integrations.verifiers import replay_actions, searchgym_reward

    for key, script, total, expected in zip(keys, scripts, totals, metrics):
        assert replay_actions(script, key, env_id, **overrides) == expected
        info = json.dumps({"task_key": key, "env_id": env_id, "overrides": overrides})
        completion = [{"role": "assistant", "content": a} if isinstance(a, str) else
                      {"role": "assistant", "content": None,
                       "tool_calls": [{"type": "function", "function": {"name": a["name"],
                                                                        "arguments": json.dumps(a["arguments"])}}]}
                      for a in script if not isinstance(a, int)]
        if all(not isinstance(a, int) for a in script):
            assert searchgym_reward(completion=completion, info=info) == pytest.approx(total, abs=1e-12)
    # verl: the custom reward function replays the response on the row's task
    from searchgym.integrations.verl import compute_score, compute_score_with_metrics

    for key, script, total, expected in zip(keys, scripts, totals, metrics):
        if any(isinstance(a, int) for a in script):
            continue  # a verl response is text
        session = ToolSession(env_id, **overrides)
        session.start(key)
        response = ""
        for action in script:
            text = action if isinstance(action, str) else _hermes(action)
            observation = session.step(text)[0]
            response += text + (f"<tool_response>{observation.strip()}</tool_response>" if form == "calls"
                                else observation)
            if session.done:
                break
        extra = {"task_key": key, "env_id": env_id, "env_overrides_json": json.dumps(overrides)}
        assert compute_score(env_id, response, {"target": ["unused"]}, extra) == pytest.approx(total, abs=1e-12)
        scored = compute_score_with_metrics(env_id, response, {"target": ["unused"]}, extra)
        assert {k: v for k, v in scored.items() if k != "score"} == expected


def _hermes(call) -> str:
    return f"<tool_call>\n{json.dumps(call)}\n</tool_call>"


def test_vector_env_matches_wrappers_under_autoreset(tasks):
    """NEXT_STEP autoreset resets the terms with the episode: the second episode scores alone."""
    correct, _ = tasks
    script = _tags(_scripts(correct, correct)[0])
    vector = BatchedSearchQAVectorEnv(1, reward_terms=TABLE, **SMALL)
    wrapped = compose_rewards(gym.make("SearchQA-v0", **SMALL), WEIGHTS, **OPTIONS)
    reference = _run(wrapped, correct["task_key"], script)[0]
    runs = []
    for _ in range(2):
        vector.reset(options={"task_keys": [correct["task_key"]]})
        runs.append([float(vector.step([a])[1][0]) for a in script])
        assert vector.step(["ignored"])[1][0] == 0.0  # the autoreset step starts a fresh episode
    assert runs == [reference, reference]
