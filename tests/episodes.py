"""Shared test helpers: a reference gymnasium episode, and single-threaded torch for model work."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import gymnasium as gym

import searchgym  # noqa: F401  (registers the envs)

SMALL = {"world_size": 300, "tasks_per_type": 30, "eval_tasks_per_type": 30}

_TAG = re.compile(r"<(search|access|answer)>(.*?)</\1>", re.DOTALL)
_ARG = {"search": "query", "access": "doc_id", "answer": "answer"}


def oracle_tool_calls(task_key: str, **overrides: Any) -> list[tuple[str, dict[str, str]]]:
    """The oracle's gold trajectory on a private env, as (tool name, arguments) calls.

    The env is deterministic, so the same calls replayed anywhere take the same path.
    """
    from searchgym.agents.oracle import OracleAgent

    env = gym.make("SearchQA-v0", **{**SMALL, **overrides})
    observation, info = env.reset(options={"task_key": task_key})
    oracle, actions = OracleAgent(), []
    oracle.begin(observation, info, 0, env=env)
    while True:
        tag = oracle.act(observation, info)
        name, argument = _TAG.search(tag).groups()
        actions.append((name, {_ARG[name]: argument.strip()}))
        observation, _, terminated, truncated, info = env.step(tag)
        if terminated or truncated:
            return actions


def run_env(task_key: str, actions: Sequence[Any], **overrides: Any) -> tuple[float, dict, list[str]]:
    """The reference every adapter is compared with: a plain gymnasium episode of ``actions``.

    Returns (total reward, last info, observations), stopping when the episode ends.
    """
    env = gym.make("SearchQA-v0", **{**SMALL, **overrides})
    env.reset(options={"task_key": task_key})
    total, info, observations = 0.0, {}, []
    for action in actions:
        observation, reward, terminated, truncated, info = env.step(action)
        total += reward
        observations.append(observation)
        if terminated or truncated:
            break
    return total, info, observations


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """The test machine's few cores are shared: OpenMP threads spinning against other processes
    made decoding ~10x slower than a single thread, so model work here runs single-threaded."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
