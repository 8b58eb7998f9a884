"""Curriculum wrappers: stage promotion/demotion, ZeroSearch noise schedule, adaptive sampling."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import searchgym  # noqa: F401  (registers the envs)
from searchgym.envs.search_qa import SearchQAEnv
from searchgym.search.noisy import NoisyEngine
from searchgym.wrappers import (
    AdaptiveTaskSampler,
    AdaptiveTaskSampling,
    AnswerReward,
    HopCurriculum,
    NoiseSchedule,
    noise_probability,
)
from episodes import SMALL

STAGES = [{"task_types": ["chain"], "hops": [1]}, {"task_types": ["chain"], "hops": [2]},
          {"task_types": ["chain"], "hops": [3, 4]}]


def make(**overrides):
    return gym.make("SearchQA-v0", **{**SMALL, **overrides})


def play(env, succeed, seed=None, options=None):
    """One episode: answer the gold answer (success) or a wrong one; returns reset/step infos."""
    _, reset_info = env.reset(seed=seed, options=options)
    task = env.unwrapped.task
    text = task.answer if succeed else "Definitely Wrong"
    _, _, terminated, _, info = env.step(f"<answer>{text}</answer>")
    assert terminated
    return reset_info, info


# --------------------------------------------------------------------------- HopCurriculum


def test_hop_curriculum_promotes_and_demotes():
    env = HopCurriculum(make(), stages=STAGES, promote_at=0.6, demote_at=0.2, window=3)
    reset_info, _ = play(env, True, seed=1)
    assert reset_info["curriculum"]["stage"] == 0
    assert env.unwrapped.task.hops == 1
    events = []
    for _ in range(2):
        _, info = play(env, True)
        events.append(info["curriculum"]["event"])
    assert events == [None, "promote"]
    assert env.stage == 1 and info["curriculum"]["stage"] == 1
    for _ in range(3):  # stage 1 serves 2-hop chains only
        reset_info, info = play(env, False)
        assert env.unwrapped.task.hops == 2 and env.unwrapped.task.task_type == "chain"
    assert info["curriculum"]["event"] == "demote" and env.stage == 0
    assert env.promotions == 1 and env.demotions == 1
    assert [h["event"] for h in env.history] == ["promote", "demote"]


def test_hop_curriculum_stays_between_thresholds_and_at_ends():
    env = HopCurriculum(make(), stages=STAGES, promote_at=0.9, demote_at=0.1, window=2)
    for succeed in (True, False, True, False):
        _, info = play(env, succeed)
        assert info["curriculum"]["event"] is None
    assert env.stage == 0
    for _ in range(4):  # failing at the first stage cannot demote further
        play(env, False)
    assert env.stage == 0 and env.demotions == 0
    top = HopCurriculum(make(), stages=STAGES[:2], window=1, start_stage=1)
    play(top, True, seed=0)
    assert top.stage == 1 and top.promotions == 0


def test_hop_curriculum_seeding_explicit_task_and_state():
    a = HopCurriculum(make(), stages=STAGES, window=5)
    b = HopCurriculum(make(), stages=STAGES, window=5)
    keys_a = [play(a, True, seed=7 if i == 0 else None)[0]["task_key"] for i in range(4)]
    keys_b = [play(b, True, seed=7 if i == 0 else None)[0]["task_key"] for i in range(4)]
    assert keys_a == keys_b
    # an explicit task_key is respected (and still counted)
    key = next(t.task_key for t in a.unwrapped.tasks if t.hops == 4)
    reset_info, _ = play(a, False, options={"task_key": key})
    assert reset_info["task_key"] == key
    state = json.loads(json.dumps(a.state_dict()))
    c = HopCurriculum(make(), stages=STAGES, window=5)
    c.load_state_dict(state)
    assert c.stage == a.stage and list(c.outcomes) == list(a.outcomes)
    assert [play(c, True)[0]["task_key"] for _ in range(3)] == [play(a, True)[0]["task_key"] for _ in range(3)]


def test_hop_curriculum_validation_and_spec():
    with pytest.raises(ValueError, match="selects no task"):
        HopCurriculum(make(), stages=[{"hops": [99]}])
    with pytest.raises(ValueError, match="unknown key"):
        HopCurriculum(make(), stages=[{"depth": [1]}])
    with pytest.raises(ValueError):
        HopCurriculum(make(), promote_at=0.2, demote_at=0.5)
    env = HopCurriculum(AnswerReward(make()), stages=STAGES, window=4)
    rebuilt = gym.make(env.spec)
    assert [w.name for w in rebuilt.spec.additional_wrappers] == ["AnswerReward", "HopCurriculum"]
    curriculum = rebuilt
    assert isinstance(curriculum, HopCurriculum) and curriculum.stages == STAGES
    assert play(rebuilt, True, seed=3)[0]["task_key"] == play(env, True, seed=3)[0]["task_key"]


# --------------------------------------------------------------------------- NoiseSchedule


def test_noise_formula_points():
    ps, pe, b, m = 0.1, 0.5, 4.0, 100
    assert noise_probability(0, ps, pe, b, m) == pytest.approx(ps)
    assert noise_probability(m / 2, ps, pe, b, m) == pytest.approx(ps + (b ** 0.5 - 1) / (b - 1) * (pe - ps))
    assert noise_probability(m / 2, ps, pe, b, m) == pytest.approx(0.1 + 0.4 / 3)
    assert noise_probability(m, ps, pe, b, m) == pytest.approx(pe)
    assert noise_probability(3 * m, ps, pe, b, m) == pytest.approx(pe)  # clamped after m
    assert noise_probability(m / 2, ps, pe, 1.0, m) == pytest.approx(0.3)  # linear limit
    values = [noise_probability(i, 0.0, 0.5, 4, 10) for i in range(11)]
    assert all(x < y for x, y in zip(values, values[1:]))  # rises, slowly then fast
    assert values[5] - values[0] < values[10] - values[5]


def test_noise_schedule_counts_episodes_and_wraps_engine():
    env = NoiseSchedule(make(), p_start=0.0, p_end=0.5, base=4, total_steps=4)
    assert isinstance(env.unwrapped.engine, NoisyEngine)
    seen = []
    for _ in range(6):
        _, info = env.reset(seed=0)
        seen.append(info["noise_prob"])
        _, _, _, _, step_info = env.step("<search>anything</search>")
        assert step_info["noise_prob"] == info["noise_prob"]  # fixed within an episode
        assert env.unwrapped.engine.noise_prob == info["noise_prob"]
    expected = [noise_probability(min(i, 4), 0.0, 0.5, 4, 4) for i in range(6)]
    assert seen == pytest.approx(expected)
    assert seen[0] == 0.0 and seen[2] == pytest.approx(0.5 / 3) and seen[4] == pytest.approx(0.5)


def test_noise_schedule_steps_unit_manual_and_effect():
    env = NoiseSchedule(make(), p_start=0.0, p_end=1.0, total_steps=2, unit="steps")
    env.reset(seed=0)
    probs = [env.step("<search>q%d</search>" % i)[4]["noise_prob"] for i in range(3)]
    assert probs == pytest.approx([0.0, noise_probability(1, 0, 1, 4, 2), 1.0])
    # at p = 1 every result is a distractor (the pool is the corpus's distractor passages)
    info = env.step("<search>another query</search>")[4]
    corpus = env.unwrapped.corpus
    assert info["doc_ids"] and all(corpus[d].kind == "distractor" for d in info["doc_ids"])
    manual = NoiseSchedule(make(), p_start=0.2, p_end=0.6, total_steps=10, unit="manual")
    manual.reset(seed=0)
    manual.reset(seed=0)
    assert manual.current_p == pytest.approx(0.2)
    assert manual.set_progress(5) == pytest.approx(noise_probability(5, 0.2, 0.6, 4, 10))
    restored = NoiseSchedule(make(), p_start=0.2, p_end=0.6, total_steps=10, unit="manual")
    restored.load_state_dict(manual.state_dict())
    assert restored.unwrapped.engine.noise_prob == pytest.approx(manual.current_p)


def test_noise_schedule_uses_existing_noisy_engine_and_spec():
    plain = SearchQAEnv("SearchQA-v0", **SMALL)
    noisy = NoisyEngine(plain.engine, corpus=plain.corpus.passages, noise_prob=0.0, seed=3)
    env = NoiseSchedule(SearchQAEnv("SearchQA-v0", engine=noisy, **SMALL), p_start=0.3, p_end=0.3, total_steps=5)
    assert env.unwrapped.engine is noisy
    env.reset(seed=0)
    assert noisy.noise_prob == pytest.approx(0.3)
    with pytest.raises(ValueError, match="noise_prob"):
        NoiseSchedule(make(), wrap_engine=False)
    spec_env = NoiseSchedule(make(), total_steps=7)
    rebuilt = gym.make(spec_env.spec)
    assert rebuilt.spec.additional_wrappers[-1].kwargs["total_steps"] == 7
    assert isinstance(rebuilt.unwrapped.engine, NoisyEngine)


# --------------------------------------------------------------------------- adaptive sampling


def test_sampler_statuses_and_sampling():
    sampler = AdaptiveTaskSampler(["a", "b", "c", "d"], window=4, min_attempts=2, revisit_prob=0.0, seed=0)
    for key, outcomes in {"a": [1, 1], "b": [0, 0], "c": [1, 0]}.items():
        for outcome in outcomes:
            sampler.record(key, outcome)
    assert [sampler.status(k) for k in "abcd"] == ["solved", "unsolved", "learnable", "new"]
    assert sampler.counts() == {"new": 1, "learnable": 1, "solved": 1, "unsolved": 1}
    draws = {sampler.sample() for _ in range(200)}
    assert draws == {"c", "d"}  # neither always-solved nor never-solved tasks
    everything = AdaptiveTaskSampler(["a", "b"], window=2, min_attempts=1, revisit_prob=0.0, seed=0)
    everything.record("a", 1)
    everything.record("b", 0)
    assert {everything.sample() for _ in range(20)} <= {"a", "b"}  # all retired: still samples
    with pytest.raises(ValueError):
        sampler.record("a", 2.0)


def test_sampler_window_and_save_resume(tmp_path):
    sampler = AdaptiveTaskSampler([f"t{i}" for i in range(10)], window=3, min_attempts=1, seed=5)
    rng = np.random.default_rng(0)
    for _ in range(40):
        key = sampler.sample()
        sampler.record(key, float(rng.random() < 0.5))
    sampler.record("t0", 1)
    sampler.record("t0", 1)
    sampler.record("t0", 1)  # the window forgets older outcomes
    assert sampler.status("t0") == "solved"
    path = tmp_path / "sampler.json"
    sampler.save(path)
    resumed = AdaptiveTaskSampler.load(path)
    assert resumed.state_dict() == json.loads(json.dumps(sampler.state_dict()))
    assert [resumed.sample() for _ in range(20)] == [sampler.sample() for _ in range(20)]


def test_adaptive_sampling_wrapper_groups_and_resume(tmp_path):
    path = tmp_path / "state.json"
    env = AdaptiveTaskSampling(make(), window=4, min_attempts=2, revisit_prob=0.0, repeat=2,
                               task_types=["chain"], hops=[1], state_path=str(path), save_every=1)
    keys = []
    for i in range(6):
        reset_info, info = play(env, True, seed=11 if i == 0 else None)
        keys.append(reset_info["task_key"])
    assert keys[0] == keys[1] and keys[2] == keys[3] and keys[4] == keys[5]  # groups of 2
    assert env.sampler.status(keys[0]) == "solved"
    assert info["sampler"]["status"] == "solved"
    assert path.exists()
    resumed = AdaptiveTaskSampling(make(), task_types=["chain"], hops=[1], state_path=str(path))
    assert resumed.sampler.state_dict() == json.loads(path.read_text())
    # solved tasks are not drawn again while learnable/new ones remain (revisit_prob = 0)
    assert all(play(resumed, True)[0]["task_key"] not in set(keys) for _ in range(3))
    rebuilt = gym.make(env.spec)
    assert isinstance(rebuilt, AdaptiveTaskSampling) and rebuilt.repeat == 2


def test_tier_curriculum_serves_each_stage_its_tiers_and_promotes():
    from searchgym.tasks.tiers import tier_of
    from searchgym.wrappers import TIER_STAGES

    env = HopCurriculum(make(), stages=TIER_STAGES[:3], promote_at=0.6, demote_at=0.2, window=2)
    served = set()
    for _ in range(2):
        play(env, True, seed=3 if not served else None)
        served.add(tier_of(env.unwrapped.task))
    assert served <= {1, 2} and env.stage == 1
    for _ in range(2):
        play(env, False)
        assert tier_of(env.unwrapped.task) in (2, 3)
    assert env.stage == 0 and env.promotions == 1 and env.demotions == 1
    with pytest.raises(ValueError, match="selects no task"):
        HopCurriculum(make(), stages=[{"tiers": [5], "task_types": ["counting"]}])
