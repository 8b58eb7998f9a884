"""No answer leaks: nothing the agent is shown besides retrieved text reveals the gold answer."""

from __future__ import annotations

import json
from collections import defaultdict

import gymnasium as gym
import numpy as np
import pytest

import searchgym  # noqa: F401
from searchgym.metrics import exact_match, normalize_answer
from episodes import SMALL

PROBES = ["no tag at all", "<access>d0000000000</access>", "<access>zzz</access>", {"name": "nope", "arguments": {}},
          "<search></search>"]


@pytest.fixture(scope="module")
def env():
    environment = gym.make("SearchQA-v0", split="test", max_turns=len(PROBES) + 2, **SMALL)
    yield environment
    environment.close()


def _scalars(info: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in info.items():
        if isinstance(value, dict):
            out.update(_scalars(value, f"{prefix}{key}."))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[prefix + key] = value
        else:
            out[prefix + key] = json.dumps(value, default=str)
    return out


def _episode_channels(env, task):
    """Every non-retrieved text the agent gets in an episode of probes: prompt, info of every
    step, tool schemas, error observations, the spec."""
    observation, info = env.reset(options={"task_key": task.task_key})
    texts = [observation, json.dumps(info["tools"]), json.dumps(env.unwrapped.config.to_dict())]
    infos = [info]
    for probe in PROBES:
        observation, _, terminated, truncated, info = env.step(probe)
        texts.append(observation)
        infos.append(info)
        if terminated or truncated:
            break
    return texts, infos


def test_nothing_but_retrieved_text_contains_the_answer(env):
    tasks = [t for t in env.unwrapped.tasks if normalize_answer(t.answer) not in normalize_answer(t.question)]
    checked = 0
    for task in tasks[:: max(1, len(tasks) // 150)]:
        if task.meta.get("answer_type") != "entity" and len(normalize_answer(task.answer)) < 4:
            continue  # short numbers such as "3" appear in any text by chance; see the next test
        texts, infos = _episode_channels(env, task)
        texts += [json.dumps(_scalars(i), default=str) for i in infos]
        haystack = f" {normalize_answer(' '.join(texts))} "
        for answer in task.answers:
            assert f" {normalize_answer(answer)} " not in haystack, (task.task_key, answer)
        checked += 1
    assert checked >= 50


def test_no_info_field_predicts_the_answer(env):
    """For each scalar info field (and each position of list fields), answering with its value
    must not beat chance — the old leak was ``hops`` equal to every counting answer."""
    tasks = env.unwrapped.tasks[:: max(1, len(env.unwrapped.tasks) // 200)]
    hits: dict[str, list[float]] = defaultdict(list)
    for task in tasks:
        _, infos = _episode_channels(env, task)
        for step, info in enumerate(infos):
            for key, value in _scalars(info).items():
                if key in ("question", "messages", "prediction"):
                    continue
                hits[f"{step}:{key}"].append(exact_match(str(value), task.answers))
    counting = [t for t in tasks if t.task_type == "counting"]
    assert counting
    chance = 1.0 / 8 + 0.05
    for field, values in hits.items():
        assert np.mean(values) <= chance, (field, np.mean(values))


def test_task_keys_doc_ids_and_titles_carry_no_answer(env):
    base = env.unwrapped
    for task in base.tasks:
        key = normalize_answer(task.task_key.rsplit("/", 1)[-1])
        assert normalize_answer(task.answer) not in key or len(normalize_answer(task.answer)) < 3
    types = {t.name for t in base.world.schema.entity_types}
    for passage in base.corpus:
        assert not any(t in passage.doc_id for t in types)
    # a passage's id says nothing of its entity's type: answering "the first title of the right
    # type" has no type to read off an id
    assert len({p.doc_id[:3] for p in base.corpus}) > 50


def test_distractor_pages_are_not_told_apart_by_their_ids_or_emptiness(env):
    corpus = env.unwrapped.corpus
    roundups = [p for p in corpus if p.kind == "distractor"]
    pages = [p for p in corpus if p.kind == "page"]
    assert roundups and pages
    assert all(p.facts for p in roundups)  # they state true facts, like any page
    assert {len(p.doc_id) for p in roundups} <= {len(p.doc_id) for p in pages}
