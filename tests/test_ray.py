"""Ray scale-out: the retriever on Ray Serve and the Ray-actor vector env (local 2-CPU cluster)."""

from __future__ import annotations

import socket

import httpx
import numpy as np
import pytest
from episodes import SMALL

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'searchgym[ray]')")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster():
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_ray_matches_the_in_process_engine(ray_cluster):
    pytest.importorskip("ray.serve", reason="ray[serve] is not installed")
    from ray import serve

    import searchgym  # noqa: F401
    from searchgym.distributed.serve_ray import serve_retriever
    from searchgym.integrations.tool_session import make_env
    from searchgym.search.remote import RemoteEngine

    engine = make_env("SearchQA-v0", **SMALL).engine
    url = serve_retriever("SearchQA-v0", port=_free_port(), num_replicas=2,
                          ray_actor_options={"num_cpus": 0.25}, **SMALL)
    try:
        health = httpx.get(url + "/health", timeout=30, trust_env=False).json()
        assert health["status"] == "ok" and health["corpus_size"] == len(engine.passages)
        queries = ["Grokreix Jizel university", "population of a country", "born in the year"]
        body = httpx.post(url + "/retrieve", json={"queries": queries, "topk": 3, "return_scores": True},
                          timeout=30, trust_env=False).json()
        direct = engine.search(queries, 3)
        assert [[item["document"]["id"] for item in hits] for hits in body["result"]] == \
               [[hit.doc_id for hit in hits] for hits in direct]
        remote = RemoteEngine(url)
        assert [[h.doc_id for h in hits] for hits in remote.search(queries, 3)] == \
               [[h.doc_id for h in hits] for hits in direct]
        doc_id = direct[0][0].doc_id
        assert remote.access(doc_id).doc_id == doc_id
        assert httpx.post(url + "/access", json={"ids": ["nope"]}, timeout=30, trust_env=False).status_code == 404
        status = serve.status().applications["searchgym-retriever"]
        replicas = status.deployments["SearchGymRetriever"].replica_states
        assert replicas.get("RUNNING") == 2
    finally:
        serve.shutdown()


def test_ray_vector_env_matches_the_batched_env(ray_cluster):
    import searchgym  # noqa: F401
    from searchgym.distributed.vector_ray import RaySearchQAVectorEnv
    from searchgym.envs.vector import BatchedSearchQAVectorEnv

    n = 5
    ray_env = RaySearchQAVectorEnv(n, envs_per_actor=2, actor_options={"num_cpus": 0.25}, max_turns=2, **SMALL)
    local = BatchedSearchQAVectorEnv(n, max_turns=2, **SMALL)
    try:
        assert ray_env.num_actors == 3
        obs_r, info_r = ray_env.reset(seed=7)
        obs_l, info_l = local.reset(seed=7)
        assert obs_r == obs_l and list(info_r["task_key"]) == list(info_l["task_key"])
        scripts = [["<search>a b</search>", "<answer>x</answer>", "<search>c</search>", "<answer>y</answer>"],
                   ["<search>q</search>"] * 4]
        history = []
        for t in range(4):
            actions = [scripts[i % 2][t] for i in range(n)]
            out_r, out_l = ray_env.step(actions), local.step(actions)
            assert out_r[0] == out_l[0]
            for a, b in zip(out_r[1:4], out_l[1:4]):
                np.testing.assert_array_equal(a, b)
            assert set(out_r[4]) == set(out_l[4])
            history.append(out_r)
            for key in ("task_key", "turn", "em", "_task_key"):
                if key in out_l[4]:
                    assert list(out_r[4][key]) == list(out_l[4][key]), (t, key)
        # NEXT_STEP autoreset: sub-env 0 answered at t=1, so t=2 returns its reset prompt, reward 0
        assert history[1][2][0] and not history[2][2][0] and history[2][1][0] == 0.0
        assert history[2][0][0].startswith("Answer the given question.")
        assert history[1][3][1]  # sub-env 1 ran out of turns (max_turns=2)
        from searchgym.export import task_records

        keys = [task_records("SearchQA-v0", **SMALL)[3]["task_key"]] * n
        obs, info = ray_env.reset(options={"task_keys": keys})
        assert set(info["task_key"]) == {keys[0]}
        mask = np.array([True, False, False, False, True])
        _, info = ray_env.reset(options={"reset_mask": mask})
        assert list(info["_task_key"]) == list(mask)
    finally:
        ray_env.close()
        local.close()


def test_ray_vector_env_scores_the_spec_reward_composition(ray_cluster):
    """The [reward] composition reaches the Ray actors: equal rewards and reward parts."""
    from searchgym.distributed.vector_ray import RaySearchQAVectorEnv
    from searchgym.envs.vector import BatchedSearchQAVectorEnv
    from searchgym.wrappers.rewards import reward_table

    table = reward_table({"answer": 1.0, "format": 0.2, "evidence": 0.5, "retrieval_cost": 1.0},
                         answer={"metric": "f1"})
    ray_env = RaySearchQAVectorEnv(2, envs_per_actor=1, actor_options={"num_cpus": 0.25}, reward_terms=table,
                                   **SMALL)
    local = BatchedSearchQAVectorEnv(2, reward_terms=table, **SMALL)
    try:
        ray_env.reset(seed=1)
        local.reset(seed=1)
        for actions in (["<think>a</think><search>x y</search>", "<search>"], ["<search>x y</search>"] * 2,
                        ["<think>b</think><answer>x</answer>", "<answer>y</answer>"]):
            out_r, out_l = ray_env.step(actions), local.step(actions)
            np.testing.assert_array_equal(out_r[1], out_l[1])
            for part in out_l[4]["reward_parts"]:
                if not part.startswith("_"):
                    np.testing.assert_array_equal(out_r[4]["reward_parts"][part], out_l[4]["reward_parts"][part])
    finally:
        ray_env.close()
        local.close()


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_ray_vector_env_takes_a_curriculum_through_the_driver(ray_cluster, mode):
    """The driver's sampler sees what the batched env's would: same tasks, same promotions."""
    from searchgym.curricula import StageCurriculum
    from searchgym.distributed.vector_ray import RaySearchQAVectorEnv
    from searchgym.envs.vector import BatchedSearchQAVectorEnv

    n = 3
    local = BatchedSearchQAVectorEnv(n, autoreset_mode=mode, max_turns=2, **SMALL)

    def curriculum():  # success = answered, so answering promotes after two episodes
        return StageCurriculum.for_env(local, [{"hops": [1]}, {"hops": [2]}], promote_at=0.5, window=2,
                                       success_metric="answered")

    local.task_sampler = curriculum()
    ray_env = RaySearchQAVectorEnv(n, envs_per_actor=2, autoreset_mode=mode, actor_options={"num_cpus": 0.25},
                                   task_sampler=curriculum(), max_turns=2, **SMALL)
    try:
        info_r, info_l = ray_env.reset(seed=3)[1], local.reset(seed=3)[1]
        assert list(info_r["task_key"]) == list(info_l["task_key"])
        assert set(info_l["hops"]) == {1}
        hops_seen = set()
        for t in range(6):
            third = "<answer>y</answer>" if t % 2 else "<search>r</search>"
            actions = ["<answer>x</answer>", "<search>q</search>", third]
            out_r, out_l = ray_env.step(actions), local.step(actions)
            assert out_r[0] == out_l[0], t
            for a, b in zip(out_r[1:4], out_l[1:4]):
                np.testing.assert_array_equal(a, b)
            assert list(out_r[4]["task_key"]) == list(out_l[4]["task_key"])
            assert list(out_r[4]["_task_key"]) == list(out_l[4]["_task_key"])
            if mode == "SameStep":
                assert set(out_r[4]) == set(out_l[4])
                final_r, final_l = out_r[4].get("final_info"), out_l[4].get("final_info")
                assert (final_r is None) == (final_l is None)
                if final_l is not None:
                    assert list(final_r["task_key"]) == list(final_l["task_key"])
            hops_seen |= set(out_l[4]["hops"][out_l[4]["_hops"]])
        mine, theirs = ray_env.task_sampler, local.task_sampler
        assert mine.episodes == theirs.episodes > 0 and mine.promotions == theirs.promotions >= 1
        assert mine.stage == theirs.stage and mine.history == theirs.history
        assert 2 in hops_seen  # the promoted stage's tasks were served
        if mode == "SameStep":  # actors made to autoreset themselves cannot take a curriculum later
            plain = RaySearchQAVectorEnv(1, autoreset_mode=mode, actor_options={"num_cpus": 0.25}, **SMALL)
            try:
                with pytest.raises(ValueError, match="pass task_sampler= when constructing"):
                    plain.task_sampler = curriculum()
            finally:
                plain.close()
    finally:
        ray_env.close()
        local.close()
