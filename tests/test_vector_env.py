"""BatchedSearchQAVectorEnv: same results as stepping sub-envs one by one, one engine call per step.

Everything runs on the 300-entity world with the real BM25 engine (a counting wrapper delegates
to it; nothing is stubbed), so the whole file takes a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from gymnasium.spaces import Tuple
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import searchgym  # noqa: F401  (registers the envs)
from searchgym.envs.search_qa import SearchQAEnv
from searchgym.envs.spaces import AnyText
from searchgym.envs.vector import BatchedSearchQAVectorEnv
from searchgym.search.base import SearchEngine, SearchError
from searchgym.types import Hit, Passage, Task
from episodes import SMALL


@pytest.fixture(scope="module", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEARCHGYM_CACHE_DIR", str(tmp_path_factory.mktemp("searchgym-cache")))
        yield


class CountingEngine:
    """Delegates to a real engine and records every ``search`` call's batch."""

    def __init__(self, inner: SearchEngine, *, fail: bool = False) -> None:
        self.inner = inner
        self.name = f"counting-{inner.name}"
        self.batches: list[list[str]] = []
        self.fail = fail

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        self.batches.append(list(queries))
        if self.fail:
            raise SearchError("backend down")
        return self.inner.search(queries, k)

    def access(self, doc_id: str) -> Passage:
        return self.inner.access(doc_id)


def real_engine(**overrides: Any) -> SearchEngine:
    return SearchQAEnv("SearchQA-v0", **{**SMALL, **overrides}).engine


def counting_env(num_envs: int, **overrides: Any) -> tuple[BatchedSearchQAVectorEnv, CountingEngine]:
    engine = CountingEngine(real_engine(**overrides))
    return BatchedSearchQAVectorEnv(num_envs, engine=engine, **{**SMALL, **overrides}), engine


def scripted_action(env_index: int, episode: int, episode_step: int, task: Task) -> Any:
    """A deterministic mix of every action kind; episodes end at different steps per env."""
    plans: list[list[Any]] = [
        [f"<search>{task.question}</search>", f"<answer>{task.answer}</answer>"],
        [
            {"name": "search", "arguments": {"query_list": [task.question, "river city"]}},
            f"<access>{task.gold_passages[0]}</access>",
            "no tags at all",
            "<access>no-such-doc</access>",
        ],
        ["<think>hmm</think><answer>surely wrong</answer>"],
    ]
    plan = plans[(env_index + episode) % len(plans)]
    return plan[episode_step] if episode_step < len(plan) else "<search>fallback query</search>"


def run_sequential(num_envs: int, steps: int, seed: int, **overrides: Any) -> list[list[tuple]]:
    """Reference: N single envs stepped one by one with NEXT_STEP autoreset done by hand."""
    envs = [gym.make("SearchQA-v0", **{**SMALL, **overrides}) for _ in range(num_envs)]
    trace: list[list[tuple]] = []
    counters = []
    for i, env in enumerate(envs):
        obs, info = env.reset(seed=seed + i)
        trace.append([("reset", obs, info)])
        counters.append([0, 0, False])  # episode, episode step, needs reset
    for _ in range(steps):
        for i, env in enumerate(envs):
            episode, episode_step, needs_reset = counters[i]
            if needs_reset:
                obs, info = env.reset()
                trace[i].append((obs, 0.0, False, False, info))
                counters[i] = [episode + 1, 0, False]
                continue
            action = scripted_action(i, episode, episode_step, env.unwrapped.task)
            obs, reward, terminated, truncated, info = env.step(action)
            trace[i].append((obs, reward, terminated, truncated, info))
            counters[i] = [episode, episode_step + 1, terminated or truncated]
    return trace


def unbatch_info(infos: dict[str, Any], i: int) -> dict[str, Any]:
    return {key: infos[key][i] for key in infos if not key.startswith("_") and infos[f"_{key}"][i]}


def run_vector(envs: Any, num_envs: int, steps: int, seed: int) -> list[list[tuple]]:
    """Drive any vector env with the script; tasks are looked up from ``info["task_key"]``
    (present in every info), so this works for async workers too."""
    tasks = SearchQAEnv("SearchQA-v0", **SMALL).bundle.tasks
    obs, infos = envs.reset(seed=seed)
    trace = [[("reset", obs[i], unbatch_info(infos, i))] for i in range(num_envs)]
    current = [tasks[infos["task_key"][i]] for i in range(num_envs)]
    counters = [[0, 0, False] for _ in range(num_envs)]
    for _ in range(steps):
        actions = []
        for i in range(num_envs):
            episode, episode_step, needs_reset = counters[i]
            actions.append("ignored" if needs_reset else scripted_action(i, episode, episode_step, current[i]))
        obs, rewards, terminations, truncations, infos = envs.step(tuple(actions))
        assert rewards.dtype == np.float64 and terminations.dtype == np.bool_ and truncations.dtype == np.bool_
        for i in range(num_envs):
            trace[i].append((obs[i], float(rewards[i]), bool(terminations[i]), bool(truncations[i]), unbatch_info(infos, i)))
            current[i] = tasks[infos["task_key"][i]]
            episode, episode_step, needs_reset = counters[i]
            counters[i] = [episode + 1, 0, False] if needs_reset else [episode, episode_step + 1, bool(terminations[i] or truncations[i])]
    return trace


def assert_same_trace(actual: list[list[tuple]], expected: list[list[tuple]]) -> None:
    assert len(actual) == len(expected)
    for env_index, (got_env, want_env) in enumerate(zip(actual, expected)):
        assert len(got_env) == len(want_env)
        for step, (got, want) in enumerate(zip(got_env, want_env)):
            assert got[:-1] == want[:-1], (env_index, step)
            got_info, want_info = got[-1], want[-1]
            assert set(got_info) == set(want_info), (env_index, step)
            for key, value in want_info.items():
                assert got_info[key] == value, (env_index, step, key)


# -- construction -----------------------------------------------------------------------------


def test_make_vec_uses_vector_entry_point_with_overrides() -> None:
    envs = gym.make_vec("SearchQA-v0", num_envs=3, vectorization_mode="vector_entry_point", top_k=2, **SMALL)
    assert isinstance(envs, BatchedSearchQAVectorEnv)
    assert envs.num_envs == 3 and len(envs.envs) == 3
    assert envs.config.world_size == 300 and envs.config.top_k == 2
    assert envs.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert len({id(env.engine) for env in envs.envs}) == 1 and envs.envs[0].engine is envs.engine
    assert envs.spec is not None and envs.spec.kwargs["vectorization_mode"] == "vector_entry_point"
    # the registered default mode is the vector entry point too
    default = gym.make_vec("searchgym/SearchQA-v0", num_envs=2, **SMALL)
    assert isinstance(default, BatchedSearchQAVectorEnv)
    envs.close()
    default.close()
    assert envs.closed


def test_direct_construction_and_spaces() -> None:
    envs = BatchedSearchQAVectorEnv(2, spec="SearchQA-v0", **SMALL)
    assert isinstance(envs.single_observation_space, AnyText)
    assert isinstance(envs.single_action_space, AnyText)
    assert isinstance(envs.observation_space, Tuple) and len(envs.observation_space) == 2
    assert isinstance(envs.action_space, Tuple) and len(envs.action_space) == 2
    obs, _ = envs.reset(seed=0)
    assert isinstance(obs, tuple) and envs.observation_space.contains(obs)
    sample = envs.action_space.sample()
    assert envs.action_space.contains(sample)
    obs, *_ = envs.step(sample)  # random text is an invalid action, never an exception
    assert envs.observation_space.contains(obs)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_num_envs_must_be_positive_int(bad: Any) -> None:
    with pytest.raises(ValueError, match="num_envs"):
        BatchedSearchQAVectorEnv(bad, **SMALL)


def test_step_before_reset_and_wrong_action_count_raise() -> None:
    envs = BatchedSearchQAVectorEnv(2, **SMALL)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(["<answer>a</answer>"] * 2)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="2"):
        envs.step(["<answer>a</answer>"])
    with pytest.raises(TypeError):
        envs.step("<answer>a</answer>")


# -- equivalence with sequential stepping ----------------------------------------------------


def test_batched_equals_sequential_single_envs() -> None:
    num_envs, steps, seed = 4, 10, 11
    expected = run_sequential(num_envs, steps, seed, max_turns=3)
    envs, engine = counting_env(num_envs, max_turns=3)
    actual = run_vector(envs, num_envs, steps, seed)
    assert_same_trace(actual, expected)
    # sanity: the script exercised every ending and several resets
    flat = [entry for env_trace in actual for entry in env_trace[1:]]
    assert any(entry[2] for entry in flat) and any(entry[3] for entry in flat)
    assert any(entry[1] == 1.0 for entry in flat)
    assert len(engine.batches) <= steps


@pytest.mark.parametrize(
    ("mode", "vector_kwargs"),
    [
        ("sync", {}),
        ("async", {"shared_memory": False}),
        # spawn pickles the env factory (not the env) and re-imports searchgym in each worker
        ("async", {"shared_memory": False, "context": "spawn"}),
    ],
    ids=["sync", "async-fork", "async-spawn"],
)
def test_gymnasium_sync_and_async_give_the_same_results(mode: str, vector_kwargs: dict[str, Any]) -> None:
    num_envs, steps, seed = 2, 6, 3
    envs = gym.make_vec("SearchQA-v0", num_envs=num_envs, vectorization_mode=mode,
                        vector_kwargs=vector_kwargs, max_turns=3, **SMALL)
    try:
        assert envs.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
        actual = run_vector(envs, num_envs, steps, seed)
    finally:
        envs.close()
    expected = run_vector(BatchedSearchQAVectorEnv(num_envs, max_turns=3, **SMALL), num_envs, steps, seed)
    assert_same_trace(actual, expected)


# -- batching ---------------------------------------------------------------------------------


def test_one_engine_call_per_step_with_all_queries() -> None:
    envs, engine = counting_env(4)
    _, infos = envs.reset(seed=0)
    questions = list(infos["question"])
    actions = [
        f"<search>{questions[0]}</search>",
        {"name": "search", "arguments": {"query_list": [questions[1], "second query"]}},
        "<answer>nope</answer>",
        f"<search>{questions[3]}</search>",
    ]
    _, _, _, _, infos = envs.step(actions)
    assert engine.batches == [[questions[0], questions[1], "second query", questions[3]]]
    assert envs.engine_calls == 1
    assert list(infos["action_kind"]) == ["search", "search", "answer", "search"]
    # each env got its own slice of the batch: doc ids match a direct search of its queries
    direct = engine.inner.search([questions[1], "second query"], envs.top_k)
    assert infos["doc_ids"][1] == [hit.doc_id for hits in direct for hit in hits]
    # a step without any search makes no engine call
    envs.step(["<answer>a</answer>", "<answer>b</answer>", "ignored (autoreset)", "<access>nope</access>"])
    assert len(engine.batches) == 1
    # next step: envs 0 and 1 (answered above) are autoreset: their actions are not even parsed
    envs.step(["<search>not sent</search>", "<search>not sent</search>", "<search>s2</search>", "<search>s3</search>"])
    assert engine.batches[-1] == ["s2", "s3"] and len(engine.batches) == 2


def test_identical_queries_of_one_step_are_sent_once_and_answered_to_each_env() -> None:
    envs, engine = counting_env(4)
    _, infos = envs.reset(seed=0, options={"task_keys": [None] * 4})
    question = infos["question"][0]
    actions = [f"<search>{question}</search>", f"<search>{question}</search>",
               "<search>other query</search>", f"<search>{question}</search>"]
    _, _, _, _, infos = envs.step(actions)
    assert engine.batches == [[question, "other query"]]
    assert envs.unique_queries == 2
    direct = [hit.doc_id for hit in engine.inner.search([question], envs.top_k)[0]]
    for i in (0, 1, 3):
        assert infos["doc_ids"][i] == direct
    # each env owns its result list: the shared hits are not aliased between sub-envs
    assert infos["doc_ids"][0] is not infos["doc_ids"][1]


def assert_same_infos(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Two vector infos are the same: keys in the same order, and per key the dtype, the shape
    and every item's repr (nested dicts alike)."""
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        if isinstance(value, dict):
            assert_same_infos(ours[key], value)
            continue
        assert ours[key].dtype == value.dtype and ours[key].shape == value.shape, key
        assert [repr(item) for item in ours[key].tolist()] == [repr(item) for item in value.tolist()], key


def test_info_merging_matches_gymnasiums_add_info_for_every_value_kind() -> None:
    from gymnasium.vector import VectorEnv

    envs = BatchedSearchQAVectorEnv(3, **SMALL)
    infos_gym: dict[str, Any] = {}
    samples = [
        {"a": 1, "b": 2.5, "c": True, "d": np.float32(0.5), "e": "text", "f": [1, 2],
         "g": np.arange(3), "h": {"x": 1, "y": "z"}, "final_obs": "obs0"},
        {"a": 3, "e": None, "h": {"x": 2}},
        {"b": -1.0, "g": np.ones(3, dtype=np.int64), "final_obs": "obs2", "new": (1, 2)},
    ]
    # env 2 reports twice in one step (SAME_STEP: final info, then the reset info)
    entries = [(0, samples[0]), (1, samples[1]), (2, {"final_info": samples[0], "a": 7}), (2, samples[2])]
    for i, info in entries:
        infos_gym = VectorEnv._add_info(envs, infos_gym, info, i)
    merged = envs._merge_infos(entries)

    assert_same_infos(merged, infos_gym)
    envs.close()


_INFO_VALUES = {
    "count": st.integers(-3, 3),
    "score": st.floats(-2, 2, allow_nan=False),
    "flag": st.booleans(),
    "ratio": st.builds(np.float32, st.floats(0, 1, width=32)),
    "number": st.integers(0, 3) | st.booleans() | st.floats(0, 1),  # first value picks the dtype
    "text": st.none() | st.text(max_size=3) | st.lists(st.integers(0, 2), max_size=2),
    "vector": st.builds(lambda a, b: np.array([a, b], dtype=np.int64), st.integers(0, 9), st.integers(0, 9)),
    "nested": st.fixed_dictionaries({}, optional={"x": st.integers(0, 5), "y": st.text(max_size=2)}),
    "final_obs": st.text(max_size=3),
}


@st.composite
def _step_infos(draw: Any) -> tuple[int, list[tuple[int, dict[str, Any]]]]:
    num_envs = draw(st.integers(1, 5))
    env_nums = sorted(draw(st.lists(st.integers(0, num_envs - 1), max_size=7)))  # ascending, repeats allowed
    entries = []
    for env_num in env_nums:
        keys = draw(st.lists(st.sampled_from(sorted(_INFO_VALUES)), unique=True, max_size=len(_INFO_VALUES)))
        entries.append((env_num, {key: draw(_INFO_VALUES[key]) for key in keys}))
    return num_envs, entries


@given(_step_infos())
@settings(max_examples=300, deadline=None)
def test_info_merging_matches_gymnasiums_add_info_on_any_infos(case: tuple[int, list[Any]]) -> None:
    # merge_infos gathers each key by shape of info and converts whole numeric columns at once;
    # it must still give what Gymnasium's per-info _add_info gives, key order included.
    from gymnasium.vector import VectorEnv

    from searchgym.envs.vector_infos import merge_infos

    num_envs, entries = case

    class Host:  # what _add_info reads of a vector env (it recurses into nested dicts)
        _add_info = VectorEnv._add_info

    host = Host()
    host.num_envs = num_envs  # type: ignore[attr-defined]
    expected: dict[str, Any] = {}
    for env_num, info in entries:
        expected = host._add_info(expected, info, env_num)
    merged = merge_infos(num_envs, entries)

    assert_same_infos(merged, expected)


def test_search_error_fails_every_searching_env_of_the_batch() -> None:
    engine = CountingEngine(real_engine(), fail=True)
    envs = BatchedSearchQAVectorEnv(3, engine=engine, **SMALL)
    envs.reset(seed=0)
    obs, rewards, terminations, _, infos = envs.step(["<search>a</search>", "<search>b</search>", "<answer>c</answer>"])
    assert len(engine.batches) == 1
    assert infos["error"][0] == infos["error"][1] == "search failed: backend down"
    assert "backend down" in obs[0] and infos["error"][2] is None and terminations[2]


# -- mixed actions ----------------------------------------------------------------------------


def test_mixed_actions_in_one_batch_including_unknown_doc_id() -> None:
    envs = BatchedSearchQAVectorEnv(6, **SMALL)
    envs.reset(seed=5)
    task0 = envs.envs[0].task
    gold_doc = envs.envs[3].task.gold_passages[0]
    actions = [
        f"<search>{task0.question}</search>",
        f"<answer>{envs.envs[1].task.answer}</answer>",
        "just chatting",
        f"<access>{gold_doc}</access>",
        "<access>no-such-doc-42</access>",
        {"name": "answer", "arguments": '{"answer": "wrong"}'},
    ]
    obs, rewards, terminations, truncations, infos = envs.step(actions)
    assert list(infos["action_kind"]) == ["search", "answer", "invalid", "access", "access", "answer"]
    assert obs[0].lstrip().startswith("<information>") and len(infos["doc_ids"][0]) == envs.top_k
    assert rewards[1] == 1.0 and terminations[1] and obs[1] == ""
    assert not terminations[2] and infos["num_invalid"][2] == 1 and infos["error"][2]
    corpus = envs.envs[3].bundle.corpus  # an open shows the gold passage's whole article
    opened = corpus[gold_doc]
    article = list(corpus.pages[opened.entity_id]) if opened.kind == "page" else [gold_doc]
    assert infos["doc_ids"][3] == article and gold_doc in obs[3]
    assert infos["doc_ids"][4] == [] and "no-such-doc-42" in infos["error"][4] and "no-such-doc-42" in obs[4]
    assert rewards[5] == 0.0 and terminations[5]
    assert list(terminations) == [False, True, False, False, False, True]
    assert not truncations.any()


# -- autoreset ----------------------------------------------------------------------------------


def test_next_step_autoreset_semantics() -> None:
    envs, engine = counting_env(2, max_turns=2)
    obs, infos = envs.reset(seed=0, options={"task_keys": [None, None]})
    first_tasks = [env.task.task_key for env in envs.envs]
    # step 1: env 0 answers (terminates), env 1 searches
    obs, rewards, terminations, truncations, infos = envs.step(["<answer>x</answer>", "<search>q</search>"])
    assert list(terminations) == [True, False] and list(truncations) == [False, False]
    assert obs[0] == "" and infos["_action_kind"].all()
    # step 2: env 0's action is ignored; it returns its reset prompt with reward 0, flags False;
    # env 1 hits max_turns=2 and truncates
    obs, rewards, terminations, truncations, infos = envs.step(["<search>ignored</search>", "bad action"])
    assert engine.batches[-1] == ["q"]  # no engine call was made for the ignored search
    assert len(engine.batches) == 1
    assert obs[0].startswith("Answer the given question") and infos["question"][0] in obs[0]
    assert rewards[0] == 0.0 and not terminations[0] and not truncations[0]
    assert infos["_question"][0] and not infos["_action_kind"][0] and infos["turn"][0] == 0
    assert infos["_action_kind"][1] and not infos["_question"][1]
    assert truncations[1] and not terminations[1]
    assert envs.envs[1].task.task_key == first_tasks[1]  # not reset yet
    # step 3: env 0 plays its new episode normally; env 1 is reset now
    obs, rewards, terminations, truncations, infos = envs.step(["<answer>y</answer>", "ignored"])
    assert terminations[0] and infos["action_kind"][0] == "answer" and infos["turn"][0] == 1
    assert not truncations[1] and infos["_question"][1] and infos["turn"][1] == 0


def test_same_step_and_disabled_autoreset() -> None:
    same = BatchedSearchQAVectorEnv(2, autoreset_mode="SameStep", **SMALL)
    assert same.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    same.reset(seed=0)
    obs, rewards, terminations, _, infos = same.step(["<answer>x</answer>", "<search>q</search>"])
    assert terminations[0] and infos["_final_obs"][0] and not infos["_final_obs"][1]
    assert infos["final_obs"][0] == "" and infos["final_info"]["action_kind"][0] == "answer"
    assert obs[0].startswith("Answer the given question")
    obs, _, terminations, _, infos = same.step(["<answer>y</answer>", "<answer>z</answer>"])
    assert terminations.all() and infos["final_info"]["turn"][0] == 1

    disabled = BatchedSearchQAVectorEnv(2, autoreset_mode=AutoresetMode.DISABLED, **SMALL)
    disabled.reset(seed=0)
    disabled.step(["<answer>x</answer>", "<search>q</search>"])
    with pytest.raises(RuntimeError, match="DISABLED"):
        disabled.step(["<answer>x</answer>", "<search>q</search>"])
    obs, infos = disabled.reset(options={"reset_mask": np.array([True, False])})
    assert list(infos["_question"]) == [True, False]
    _, _, _, _, infos = disabled.step(["<answer>x</answer>", "<answer>y</answer>"])
    assert list(infos["turn"]) == [1, 2]


# -- reset: seeds and options ---------------------------------------------------------------------


def test_reset_seed_i_matches_single_env_seed_plus_i() -> None:
    envs = BatchedSearchQAVectorEnv(4, **SMALL)
    obs, infos = envs.reset(seed=100)
    for i in range(4):
        single_obs, single_info = SearchQAEnv("SearchQA-v0", **SMALL).reset(seed=100 + i)
        assert obs[i] == single_obs and infos["task_key"][i] == single_info["task_key"]
    again, _ = envs.reset(seed=100)
    assert again == obs
    listed, _ = envs.reset(seed=[100, 101, 102, 103])
    assert listed == obs
    with pytest.raises(ValueError, match="seeds"):
        envs.reset(seed=[1, 2])


def test_reset_per_env_task_keys_and_broadcast_options() -> None:
    envs = BatchedSearchQAVectorEnv(3, **SMALL)
    keys = [task.task_key for task in envs.envs[0].tasks[:3]]
    _, infos = envs.reset(seed=0, options={"task_keys": [keys[2], None, keys[0]]})
    assert infos["task_key"][0] == keys[2] and infos["task_key"][2] == keys[0]
    assert [env.task.task_key for env in envs.envs][0::2] == [keys[2], keys[0]]
    _, infos = envs.reset(options={"task_indices": [1, 1, 2]})
    assert list(infos["task_key"]) == [keys[1], keys[1], keys[2]]
    _, infos = envs.reset(options={"task_index": 0})  # broadcast to every sub-env
    assert list(infos["task_key"]) == [keys[0]] * 3
    with pytest.raises(ValueError, match="task_keys"):
        envs.reset(options={"task_keys": keys[:2]})
    with pytest.raises(ValueError, match="task_keys"):
        envs.reset(options={"task_keys": "abc"})
    with pytest.raises(ValueError, match="unknown reset option"):
        envs.reset(options={"bogus": 1})


def test_render_and_attrs() -> None:
    envs = BatchedSearchQAVectorEnv(2, render_mode="ansi", **SMALL)
    envs.reset(seed=0)
    envs.step(["<search>q</search>", "<answer>a</answer>"])
    frames = envs.render()
    assert len(frames) == 2 and "[assistant] <search>q</search>" in frames[0]
    assert envs.get_attr("config")[0] is envs.config
    assert [task.task_key for task in envs.call("task")] == [env.task.task_key for env in envs.envs]


def test_sync_vector_env_of_single_envs_has_matching_spaces() -> None:
    sync = SyncVectorEnv([lambda: gym.make("SearchQA-v0", **SMALL)] * 2)
    batched = BatchedSearchQAVectorEnv(2, **SMALL)
    assert sync.single_observation_space == batched.single_observation_space
    assert sync.observation_space == batched.observation_space
    assert sync.action_space == batched.action_space
    sync.close()
