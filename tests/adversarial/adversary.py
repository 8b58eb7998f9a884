"""Shared pieces of the adversarial suite: a small real env, honest and dishonest episodes.

Everything goes through the public env and bundle APIs (tasks from ``env.unwrapped.tasks``,
names from the world, ids from search results or the corpus listing), never through the
format of doc ids or the wording of questions, so the suite survives changes to both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

import searchgym  # noqa: F401  (registers the envs)
from searchgym.metrics import normalize_answer

SMALL = {"world_size": 300, "tasks_per_type": 30, "eval_tasks_per_type": 30}  # as tests/episodes.py


def make(env_id: str = "SearchQA-v0", **overrides: Any) -> gym.Env:
    return gym.make(env_id, **{**SMALL, **overrides})


def tasks_of(env: gym.Env, task_type: str | None = None) -> list[Any]:
    return [t for t in env.unwrapped.tasks if task_type is None or t.task_type == task_type]


def topic_names(env: gym.Env, task: Any) -> list[str]:
    world = env.unwrapped.world
    return [world.name(entity) for entity in task.topic_entities if entity in world.entities]


def a_name(env: gym.Env) -> str:
    """The name of some entity of the env's world: a query that always has hits."""
    return next(iter(env.unwrapped.world.entities.values())).name


def wrong_answer(env: gym.Env, task: Any) -> str:
    """An honest wrong answer: one candidate that is not gold (the other option of a
    comparison, else another entity's name)."""
    gold = {normalize_answer(a) for a in task.answers}
    for name in topic_names(env, task):
        if normalize_answer(name) not in gold:
            return name
    world = env.unwrapped.world
    return next(e.name for e in world.entities.values() if normalize_answer(e.name) not in gold
                and not any(g and g in normalize_answer(e.name) for g in gold))


def think(action: str) -> str:
    return f"<think>step</think>{action}"


def search(query: str) -> str:
    return think(f"<search>{query}</search>")


def access(doc_id: str) -> str:
    return think(f"<access>{doc_id}</access>")


def answer(text: str) -> str:
    return think(f"<answer>{text}</answer>")


def play(env: gym.Env, task: Any, actions: Sequence[Any] | Callable[[gym.Env], Sequence[Any]],
         seed: int = 0) -> tuple[float, list[dict[str, Any]]]:
    """Reset on ``task``, step ``actions`` (or ``actions(env)`` after reset) until the episode
    ends (padding with invalid turns if they run out); return (total reward, infos)."""
    env.reset(seed=seed, options={"task_key": task.task_key})
    steps = list(actions(env) if callable(actions) else actions)
    total, infos = 0.0, []
    for index in range(env.unwrapped.config.max_turns):
        action = steps[index] if index < len(steps) else "no action, just waiting"
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        infos.append(info)
        if terminated or truncated:
            break
    return total, infos


def shown_ids(infos: list[dict[str, Any]]) -> list[str]:
    """Doc ids search results showed, in order (what an agent can legitimately cite or open)."""
    ids: list[str] = []
    for info in infos:
        if info.get("action_kind") == "search":
            ids.extend(doc_id for doc_id in info["doc_ids"] if doc_id not in ids)
    return ids
