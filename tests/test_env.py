"""SearchQA-v0: Gymnasium conventions, actions, rewards, info and bad input."""

from __future__ import annotations

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import searchgym  # noqa: F401
from searchgym.envs import SpecError
from episodes import SMALL


@pytest.fixture()
def env():
    environment = gym.make("SearchQA-v0", **SMALL)
    yield environment
    environment.close()


def test_check_env_passes(env):
    check_env(env.unwrapped, skip_render_check=True)


def test_both_ids_are_registered_and_make_works():
    for env_id in ("SearchQA-v0", "searchgym/SearchQA-v0"):
        assert env_id in gym.registry
        environment = gym.make(env_id, **SMALL)
        observation, info = environment.reset(seed=0)
        assert "Question:" in observation and info["turn"] == 0


def test_same_seed_same_episode(env):
    first = env.reset(seed=123)
    second = env.reset(seed=123)
    assert first[0] == second[0] and first[1]["task_key"] == second[1]["task_key"]
    keys = {env.reset(seed=s)[1]["task_key"] for s in range(20)}
    assert len(keys) > 5


def test_task_key_replays_a_task_of_the_split(env):
    task = env.unwrapped.tasks[5]
    observation, info = env.reset(options={"task_key": task.task_key})
    assert info["task_key"] == task.task_key
    assert task.question.rstrip("?") in observation


def test_each_split_is_its_own_world_and_a_test_key_is_unknown_to_train(env):
    test_env = gym.make("SearchQA-v0", split="test", **SMALL)
    train_world, test_world = env.unwrapped.world, test_env.unwrapped.world
    assert train_world.world_id != test_world.world_id
    assert {t.split for t in test_env.unwrapped.tasks} == {"test"}
    with pytest.raises(KeyError, match="unknown task_key"):
        env.reset(options={"task_key": test_env.unwrapped.tasks[0].task_key})


def test_correct_answer_terminates_with_reward_one(env):
    env.reset(seed=1)
    task = env.unwrapped.task
    observation, reward, terminated, truncated, info = env.step(f"<think>sure</think><answer>{task.answer}</answer>")
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["em"] == 1.0 and info["answered"] and info["format_ok"]
    assert observation == ""


def test_aliases_and_normalisation_count_as_correct(env):
    tasks = [t for t in env.unwrapped.bundle.tasks if t.aliases]
    env.reset(options={"task_key": tasks[0].task_key})
    _, reward, *_ = env.step(f"<answer>  {tasks[0].aliases[0].upper()}. </answer>")
    assert reward == 1.0


def test_wrong_answer_gives_zero_and_f1_is_reported(env):
    env.reset(seed=2)
    _, reward, terminated, _, info = env.step("<answer>certainly not this</answer>")
    assert reward == 0.0 and terminated and info["em"] == 0.0


def test_search_returns_information_and_tracks_evidence(env):
    env.reset(seed=3)
    task = env.unwrapped.task
    name = env.unwrapped.world.name(task.chain[0].subject)
    observation, reward, terminated, truncated, info = env.step(f"<search>{name}</search>")
    assert observation.strip().startswith("<information>") and observation.strip().endswith("</information>")
    assert f"(Title: {name})" in observation
    assert info["num_searches"] == 1 and info["doc_ids"] and reward == 0.0
    assert info["evidence_recall"] > 0 and info["new_evidence"] >= 1


def test_access_returns_the_passage_and_unknown_ids_get_an_error(env):
    env.reset(seed=4)
    gold = env.unwrapped.task.gold_passages[0]
    observation, *_, info = env.step(f"<access>{gold}</access>")
    assert env.unwrapped.corpus[gold].text[:40] in observation
    observation, *_, info = env.step("<access>no-such-doc</access>")
    assert "unknown document id" in observation and info["error"]


@pytest.mark.parametrize(
    "action",
    ["", "hello", "<search></search>", "<search>unclosed", "<answer>a</search>", None, 42, {"name": "fly"},
     "x" * 3_000_000, "<" * 100_000],
)
def test_malformed_actions_never_raise_and_explain_what_is_valid(env, action):
    env.reset(seed=5)
    observation, reward, terminated, truncated, info = env.step(action)
    assert info["action_kind"] == "invalid" and reward == 0.0 and not terminated
    assert "<search>" in observation and info["num_invalid"] == 1


def test_tool_call_actions_are_accepted(env):
    env.reset(seed=6)
    task = env.unwrapped.task
    name = env.unwrapped.world.name(task.chain[0].subject)
    _, _, _, _, info = env.step({"name": "search", "arguments": f'{{"query": "{name}"}}'})
    assert info["action_kind"] == "search" and info["doc_ids"]
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "answer", "arguments": {"answer": task.answer}}}]}
    _, reward, terminated, _, _ = env.step(message)
    assert reward == 1.0 and terminated


def test_truncation_at_max_turns_and_step_after_end_raises():
    environment = gym.make("SearchQA-v0", max_turns=2, **SMALL)
    environment.reset(seed=0)
    assert environment.step("<search>a</search>")[3] is False
    _, _, terminated, truncated, _ = environment.step("<search>b</search>")
    assert truncated and not terminated
    with pytest.raises(RuntimeError, match="reset"):
        environment.step("<answer>x</answer>")


def test_step_before_reset_raises():
    environment = gym.make("SearchQA-v0", **SMALL)
    with pytest.raises(RuntimeError, match="reset"):
        environment.unwrapped.step("<search>a</search>")


def test_info_never_contains_the_gold_answer(env):
    for seed in range(15):
        _, info = env.reset(seed=seed)
        task = env.unwrapped.task
        _, _, _, _, step_info = env.step("<search>anything at all</search>")
        for payload in (info, step_info):
            assert not {"answer", "answers", "aliases", "gold_passages", "evidence", "chain"} & set(payload)
            strings = {v for k, v in payload.items() if isinstance(v, str) and k not in ("question",)}
            assert task.answer not in strings and not set(task.aliases) & strings


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"top_k": 0}, "top_k"), ({"engine_name": "bm25"}, "unknown setting"), ({"split": "dev"}, "split"),
     ({"max_turns": "3"}, "integer"), ({"task_types": "chain"}, "list")],
)
def test_bad_overrides_fail_clearly(overrides, message):
    with pytest.raises(SpecError, match=message):
        gym.make("SearchQA-v0", **overrides)


def test_bad_reset_options_fail_clearly(env):
    with pytest.raises(KeyError, match="unknown task_key"):
        env.reset(options={"task_key": "nope"})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"difficulty": 3})
    # the env is still usable after a rejected reset
    observation, _ = env.reset(seed=0)
    assert "Question:" in observation


def test_filters_select_tasks_by_type_and_hops():
    environment = gym.make("SearchQA-v0", task_types=["chain"], hops=[3], **SMALL)
    assert {(t.task_type, t.hops) for t in environment.unwrapped.tasks} == {("chain", 3)}


def test_unknown_engine_fails_with_the_valid_names():
    with pytest.raises(ValueError, match="bm25"):
        gym.make("SearchQA-v0", engine="google", **SMALL)


def test_render_ansi_returns_the_transcript():
    environment = gym.make("SearchQA-v0", render_mode="ansi", **SMALL)
    environment.reset(seed=0)
    environment.step("<search>x</search>")
    text = environment.render()
    assert "[user]" in text and "[assistant] <search>x</search>" in text


def test_spec_files_parse_and_bad_spec_files_are_rejected(tmp_path):
    from searchgym.envs.config import load_spec, parse_spec

    assert load_spec("SearchQA-v0").engine == "bm25"
    with pytest.raises(SpecError, match="id"):
        parse_spec("[env]\ntop_k = 3")
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "X-v0"\n[env]\nmax_turns = -1\n')
    with pytest.raises(SpecError, match="max_turns"):
        load_spec(bad)


def test_env_pickles_mid_episode_and_continues_identically():
    """AsyncVectorEnv / Ray may ship env objects: the copy must behave exactly like the original."""
    import pickle

    env = gym.make("SearchQA-v0", world_size=300, tasks_per_type=10)
    _, info = env.reset(seed=5)
    env.step(f"<search>{info['question']}</search>")
    copy = pickle.loads(pickle.dumps(env))
    for action in ("<search>second query</search>", "<answer>nope</answer>"):
        assert copy.step(action)[:4] == env.step(action)[:4]
    # the RNG travelled too: the next random task is the same
    assert copy.reset()[1]["task_key"] == env.reset()[1]["task_key"]
