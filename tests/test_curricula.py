"""Curricula as task samplers on every driver: the batched vector env, verl's curriculum sampler
(driven by a real torch DataLoader and verl DataProto batches) and TRL's environment factory."""

from __future__ import annotations

import numpy as np
import pytest
from episodes import SMALL

from searchgym.curricula import AdaptiveCurriculum, StageCurriculum
from searchgym.envs.vector import BatchedSearchQAVectorEnv
from searchgym.integrations.tool_session import make_env
from searchgym.tasks.tiers import tier_of

STAGES = [{"tiers": [1]}, {"tiers": [2]}, {"tiers": [3]}]  # the small world's tiers


def _oracle_answer(env, key):
    return f"<answer>{env.bundle.tasks[key].answer}</answer>"


def test_tier_curriculum_promotes_in_the_vector_env_on_measured_success():
    vector = BatchedSearchQAVectorEnv(3, **SMALL)
    curriculum = StageCurriculum.by_tier(vector, STAGES, window=3, promote_at=0.6, demote_at=0.1)
    vector.task_sampler = curriculum
    base = vector.envs[0]
    _, info = vector.reset(seed=3)
    served = [set(), set(), set()]
    for _ in range(12):
        if "question" in info:  # a reset (or autoreset) step: the tasks the current stage drew
            served[curriculum.stage].update(tier_of(base.bundle.tasks[k])
                                            for k, reset in zip(info["task_key"], info["_question"]) if reset)
        # every sub-env answers correctly: the measured success promotes the curriculum
        actions = [_oracle_answer(base, key) for key in info["task_key"]]
        _, _, _, _, info = vector.step(actions)
        if curriculum.stage == 2:
            break
    assert curriculum.promotions == 2 and [h["event"] for h in curriculum.history] == ["promote", "promote"]
    assert served[0] == {1} and served[1] <= {2}
    # failures demote: wrong answers on the hardest stage
    for _ in range(4):
        _, _, _, _, info = vector.step(["<answer>nobody</answer>"] * 3)
    assert curriculum.demotions >= 1
    state = curriculum.state_dict()
    restored = StageCurriculum.by_tier(vector, STAGES, window=3, promote_at=0.6, demote_at=0.1)
    restored.load_state_dict(state)
    assert restored.sample() == curriculum.sample()


def test_adaptive_curriculum_is_fed_by_the_vector_env():
    vector = BatchedSearchQAVectorEnv(2, **SMALL)
    curriculum = AdaptiveCurriculum.for_env(vector, repeat=2)
    vector.task_sampler = curriculum
    _, info = vector.reset(seed=0)
    assert info["task_key"][0] == info["task_key"][1]  # a group of 2 on one task
    vector.step(["<answer>x</answer>"] * 2)
    assert curriculum.sampler.attempts[info["task_key"][0]] == 2


def test_verl_curriculum_sampler_with_a_real_dataloader_and_dataproto():
    torch = pytest.importorskip("torch")
    pytest.importorskip("verl")
    from torch.utils.data import DataLoader
    from verl import DataProto

    from searchgym.export import task_records, to_row
    from searchgym.integrations.verl_curriculum import SearchGymCurriculumSampler

    rows = [to_row(record, "verl") for record in task_records("SearchQA-v0", **SMALL)]
    config = {"sampler": {"overrides": SMALL, "stages": STAGES, "window": 4, "min_episodes": 4, "seed": 1}}
    sampler = SearchGymCurriculumSampler(rows, config)
    loader = DataLoader(rows, batch_size=4, sampler=sampler, collate_fn=list, num_workers=0)
    env = make_env("SearchQA-v0", **SMALL)
    tiers_by_step = []
    for step, batch_rows in enumerate(loader):
        keys = [row["extra_info"]["task_key"] for row in batch_rows]
        tiers_by_step.append({tier_of(env.bundle.tasks[k]) for k in keys})
        batch = DataProto.from_dict(tensors={"token_level_scores": torch.ones(len(keys), 5) / 5},
                                    non_tensors={"extra_info": np.array([r["extra_info"] for r in batch_rows],
                                                                        dtype=object)})
        sampler.update(batch)  # what RayPPOTrainer does after scoring a batch
        if step == 3:
            break
    assert tiers_by_step[0] == {1} and sampler.curriculum.stage == 2
    assert tiers_by_step[-1] <= {2, 3}


def test_trl_factory_serves_and_feeds_the_curriculum():
    from searchgym.integrations.trl import trl_environment_factory

    env0 = make_env("SearchQA-v0", **SMALL)
    curriculum = StageCurriculum.by_tier(env0, STAGES, window=2)
    factory = trl_environment_factory("SearchQA-v0", curriculum=curriculum, **SMALL)
    envs = [factory(), factory()]
    for _ in range(2):
        for env in envs:
            prompt = env.reset(prompt=[{"role": "user", "content": ""}])  # an env-owned, empty row
            assert prompt.strip()
            key = env.session.task_key
            env.answer(env0.bundle.tasks[key].answer)
            assert env.get_reward() == 1.0
            env.get_reward()  # TRL may read it again: fed once
    assert curriculum.episodes == 4 and curriculum.stage == 2
