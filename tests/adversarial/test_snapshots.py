"""Every registered env pickles and deep-copies mid-episode and continues identically; the
unwrapped env snapshots and restores for cheap branching (tree rollouts). Issue 15, item 16.
"""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
from adversary import SMALL, a_name, access, answer, make, search

from searchgym.envs.config import spec_files

REPO = Path(__file__).resolve().parents[2]
# The dense engines load a sentence-transformers model (seconds), and the deep-research specs
# spend tens of seconds generating their tasks: slow lane.
_SLOW = {"SearchQA-Dense-v0", "SearchQA-Hybrid-v0", "SearchQA-Hard-v0", "SearchQA-Open-v0"}
FAST_IDS = [pytest.param(env_id, marks=pytest.mark.slow) if env_id in _SLOW else env_id
            for env_id in sorted(set(spec_files()) - {"SearchQA-SimLLM-v0"})]


def probe_queries(env: gym.Env) -> list[str]:
    world = env.unwrapped.world
    return [world.name(entity) for entity in env.unwrapped.task.topic_entities if entity in world.entities]


def continuation(env: gym.Env, queries: list[str]) -> list[Any]:
    """What the rest of the episode and the next reset look like (comparable across copies)."""
    seen = []
    for action in [search(f"{queries[0]} founded"), search(queries[-1]), answer(queries[0])]:
        observation, reward, terminated, truncated, info = env.step(action)
        seen.append((observation, reward, terminated, truncated,
                     {k: v for k, v in info.items() if k not in ("reward_details",)}))
        if terminated or truncated:
            break
    observation, info = env.reset()
    seen.append((observation, info["task_key"]))
    return seen


# The deep-research specs prove each task's depth with an integer program: a few tasks per
# stratum are enough to pickle an episode (Open shares the adversarial tests' bundle).
_DEEP_SIZES = {"SearchQA-Hard-v0": {"tasks_per_type": 4, "eval_tasks_per_type": 4},
               "SearchQA-Open-v0": {"tasks_per_type": 12, "eval_tasks_per_type": 12}}


def mid_episode(env_id: str, **overrides: Any) -> tuple[gym.Env, list[str]]:
    env = make(env_id, **{**_DEEP_SIZES.get(env_id, {}), **overrides})
    env.reset(seed=11)
    queries = probe_queries(env) or [a_name(env)]
    env.step(search(queries[0]))
    return env, queries


@pytest.mark.parametrize("env_id", FAST_IDS)
def test_registered_envs_pickle_mid_episode_and_continue_identically(env_id):
    env, queries = mid_episode(env_id)
    blob = pickle.dumps(env)
    assert len(blob) < 200_000  # the config and the episode, not the corpus
    clone = pickle.loads(blob)
    assert continuation(clone, queries) == continuation(env, queries)


@pytest.mark.parametrize("env_id", FAST_IDS)
def test_registered_envs_deep_copy_mid_episode(env_id):
    env, queries = mid_episode(env_id)
    clone = copy.deepcopy(env)
    assert clone.unwrapped is not env.unwrapped
    assert continuation(clone, queries) == continuation(env, queries)


@pytest.mark.slow
def test_llm_simulated_env_pickles_mid_episode():
    """SmolLM2 writes the documents: two short generations (the copy's search hits the cache)."""
    env, queries = mid_episode("SearchQA-SimLLM-v0", engine_options={"generator": "smollm2", "max_new_tokens": 16,
                                                                     "cache": "memory"})
    clone = pickle.loads(pickle.dumps(env))
    action = search(f"{queries[-1]} founded")
    original, copied = env.step(action), clone.step(action)
    assert original[0] == copied[0] and original[4]["doc_ids"] == copied[4]["doc_ids"]
    def calls(e):  # the copy's search was answered from the shared cache: the only difference
        return [{k: v for k, v in call.items() if k != "cached"} for call in e.unwrapped.engine.last_calls]

    assert calls(clone) == calls(env)


def test_snapshot_restore_branches_an_episode():
    env, queries = mid_episode("SearchQA-Sim-v0")
    base = env.unwrapped
    snapshot = base.snapshot()
    first = continuation(env, queries)
    base.restore(snapshot)
    assert continuation(env, queries) == first  # the same branch again
    base.restore(snapshot)
    other = env.step(search("a different branch"))
    assert other[4]["turn"] == snapshot.episode.turn + 1
    base.restore(snapshot)  # the snapshot is not consumed by a restore
    assert base.state.turn == snapshot.episode.turn and base.state.queries == snapshot.episode.queries


def test_snapshot_is_independent_of_the_env():
    env, queries = mid_episode("SearchQA-v0")
    snapshot = env.unwrapped.snapshot()
    turn, transcript = snapshot.episode.turn, len(snapshot.episode.transcript)
    env.step(search("more"))
    env.step(access("anything"))
    assert snapshot.episode.turn == turn and len(snapshot.episode.transcript) == transcript


def test_wrapper_stacks_pickle_with_their_state():
    from searchgym.wrappers import NoiseSchedule, compose_rewards

    env = make("SearchQA-Sim-v0")
    env = compose_rewards(env, {"answer": 1.0, "evidence": 0.5, "retrieval_cost": 1.0, "info_gain": 0.5})
    env = NoiseSchedule(env, p_start=0.0, p_end=0.8, total_steps=10, unit="steps")
    env.reset(seed=5)
    queries = probe_queries(env) or [a_name(env)]
    for _ in range(3):
        env.step(search(queries[0]))
    clone = pickle.loads(pickle.dumps(env))
    assert clone.engine is clone.unwrapped.engine  # the schedule drives its copy's engine
    assert continuation(clone, queries) == continuation(env, queries)


def test_vector_env_pickles_mid_episode():
    envs = gym.make_vec("SearchQA-v0", num_envs=3, **SMALL)
    envs.reset(seed=0)
    name = envs.get_attr("world")[0].name(envs.get_attr("task")[0].topic_entities[0])
    envs.step([search(name), answer("x"), search(f"{name} founded")])
    clone = pickle.loads(pickle.dumps(envs))
    actions = [search(f"{name} born"), search("y"), search("z")]
    first, second = envs.step(actions), clone.step(actions)
    assert first[0] == second[0] and (first[1] == second[1]).all()
    assert list(first[4]["task_key"]) == list(second[4]["task_key"])


def generated_docs(queries: list[str], k: int) -> list[list[str]]:
    """A policy's own search results (module-level, so it pickles)."""
    return [[f"the policy believes {query} is a river"] for query in queries]


def test_self_search_carries_the_policys_generator_and_documents():
    env = make("SearchQA-SelfSearch-v0")
    env.reset(seed=0)
    env.unwrapped.engine.generate_docs = generated_docs
    *_, info = env.step(search("Qwertland"))
    doc_id = info["doc_ids"][0]
    clone = pickle.loads(pickle.dumps(env))
    assert clone.unwrapped.engine.generate_docs is generated_docs
    observation = clone.step(access(doc_id))[0]
    assert "the policy believes Qwertland is a river" in observation


def test_an_episode_continues_in_another_process(tmp_path):
    """What Ray and spawned workers do: unpickle in a fresh interpreter (bundle from the cache)."""
    env, queries = mid_episode("SearchQA-Sim-v0")
    path = tmp_path / "env.pkl"
    path.write_bytes(pickle.dumps(env))
    expected = continuation(env, queries)
    code = f"""
        import pickle, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_snapshots import continuation
        env = pickle.loads(open({str(path)!r}, "rb").read())
        print(repr(continuation(env, {queries!r})))
    """
    import os

    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == repr(expected)


def test_sim_env_deepcopy_regression():
    """Before: TypeError: cannot pickle '_thread.lock' object."""
    env, _ = mid_episode("SearchQA-Sim-v0")
    copy.deepcopy(env)
    pickle.dumps(env.unwrapped.engine)  # the engine alone pickles too (its shared parts are rebuilt)
