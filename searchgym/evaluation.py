"""Evaluate agents on an env: the main job behind ``searchgym eval``.

All agents see the same tasks in the same order (a seeded permutation of the env's task pool,
replayed with ``reset(options={"task_key": ...})``), so their numbers are comparable. Results
are aggregated by task type and by hop count, printed as rich tables and saved as JSON.

Batched agents (LLMs) implement ``begin_batch`` / ``act_batch`` (see
:class:`searchgym.agents.llm.LLMAgent`). :func:`evaluate` runs their episodes ``agent.batch_size``
at a time through :class:`~searchgym.envs.vector.BatchedSearchQAVectorEnv`, so each step costs
one generation call and one engine call for all running episodes; a finished episode's slot is
refilled with the next task at once (continuous batching). Each episode keeps the task key and
reset seed it gets on the sequential path, so for agents whose actions depend only on their own
episode (greedy LLMs, the classical baselines) the results are identical to
:func:`run_episode` in a loop — tested with :class:`LockstepAgents`, which turns any agent into
a batched one.
"""

from __future__ import annotations

import functools
import json
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

import searchgym
from searchgym.agents.base import Agent, begin_episode, begin_episodes, is_privileged
from searchgym.cache import atomic_write_text
from searchgym.stats import bootstrap_mean_ci, wilson_interval


@dataclass(frozen=True)
class EpisodeResult:
    agent: str
    task_key: str
    task_type: str
    hops: int
    em: float
    f1: float
    searches: int
    turns: int
    answered: bool
    evidence_recall: float
    prediction: str | None
    invalid: int = 0  # malformed or disallowed actions (an <access> of an unknown doc id is not one)
    min_searches: int = 0  # the task's measured depth: fewest searches of a knowledge-free agent


def select_task_keys(env: gym.Env, episodes: int, seed: int) -> list[str]:
    """The first ``episodes`` keys of a seeded permutation of the env's task pool."""
    tasks = env.unwrapped.tasks
    order = np.random.default_rng(seed).permutation(len(tasks))
    return [tasks[int(i)].task_key for i in order[: min(episodes, len(tasks))]]


def run_episode(env: gym.Env, agent: Agent, task_key: str, seed: int) -> EpisodeResult:
    observation, info = env.reset(seed=seed, options={"task_key": task_key})
    begin_episode(agent, observation, info, seed, env)
    while True:
        observation, _, terminated, truncated, info = env.step(agent.act(observation, info))
        if terminated or truncated:
            break
    return EpisodeResult(
        agent=agent.name, task_key=task_key, task_type=info["task_type"], hops=info["hops"],
        em=info["em"], f1=info["f1"], searches=info["num_searches"], turns=info["turn"],
        answered=info["answered"], evidence_recall=info["evidence_recall"], prediction=info["prediction"],
        invalid=info["num_invalid"], min_searches=int(info.get("min_searches", 0)),
    )


def summarize(results: Iterable[EpisodeResult], by: str) -> dict[str, dict[str, Any]]:
    """Mean EM, F1, searches, turns and evidence recall per group (``by`` = a result field), with
    95% intervals for EM (Wilson) and F1 (bootstrap), and the mean measured depth of the tasks."""
    groups: dict[str, list[EpisodeResult]] = defaultdict(list)
    for result in results:
        groups[str(getattr(result, by))].append(result)
        groups["all"].append(result)
    return {
        group: {
            "episodes": len(items),
            "em": float(np.mean([r.em for r in items])),
            "em_ci": list(wilson_interval(sum(r.em for r in items), len(items))),
            "f1": float(np.mean([r.f1 for r in items])),
            "f1_ci": list(bootstrap_mean_ci([r.f1 for r in items])),
            "searches": float(np.mean([r.searches for r in items])),
            "min_searches": float(np.mean([r.min_searches for r in items])),
            "turns": float(np.mean([r.turns for r in items])),
            "evidence_recall": float(np.mean([r.evidence_recall for r in items])),
            "invalid": float(np.mean([r.invalid for r in items])),
        }
        for group, items in sorted(groups.items(), key=lambda kv: (kv[0] == "all", kv[0]))
    }


def evaluate(
    env_id: str,
    agents: list[Agent],
    episodes: int,
    *,
    split: str = "test",
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    console: Console | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Run every agent on the same ``episodes`` tasks of ``split`` (default ``"test"``, as the
    CLI's); return a JSON-ready report."""
    console = console or Console()
    if "split" in (env_kwargs or {}):
        raise ValueError("pass the split as evaluate(..., split=...), not in env_kwargs")
    env_kwargs = {**(env_kwargs or {}), "split": split}
    env = gym.make(env_id, **env_kwargs)
    try:
        keys = select_task_keys(env, episodes, seed)
        report: dict[str, Any] = {
            "env": env_id, "split": split, "env_kwargs": env_kwargs, "episodes": len(keys), "seed": seed,
            "world_id": env.unwrapped.world.world_id, "searchgym_version": searchgym.__version__,
            "python": platform.python_version(), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "agents": {},
        }
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, disable=not show_progress) as progress:
            for agent in agents:
                bar = progress.add_task(f"{agent.name:>10}", total=len(keys))
                advance = functools.partial(progress.advance, bar)
                if is_batched(agent) and _batchable(env_id):
                    results = run_episodes_batched(env_id, agent, keys, seed, env_kwargs=env_kwargs,
                                                   num_envs=int(getattr(agent, "batch_size", 8)),
                                                   on_episode=advance)
                else:
                    results = []
                    for index, key in enumerate(keys):
                        results.append(run_episode(env, agent, key, seed + index))
                        advance()
                report["agents"][agent.name] = {
                    "by_task_type": summarize(results, "task_type"),
                    "by_hops": summarize(results, "hops"),
                    "by_depth": summarize(results, "min_searches"),
                    "episodes": [asdict(r) for r in results],
                }
    finally:
        env.close()
    return report


# -- batched evaluation -----------------------------------------------------------------------


def is_batched(agent: Any) -> bool:
    """Whether ``agent`` runs several episodes at once (``begin_batch`` + ``act_batch``)."""
    return callable(getattr(agent, "act_batch", None)) and callable(getattr(agent, "begin_batch", None))


def _batchable(env_id: str) -> bool:
    """Only SearchQA envs have the batched vector env; anything else runs sequentially."""
    from searchgym.envs.registration import ENTRY_POINT

    try:
        return gym.spec(env_id).entry_point == ENTRY_POINT
    except gym.error.Error:
        return False


def _unbatch_info(infos: dict[str, Any], index: int) -> dict[str, Any]:
    """Sub-env ``index``'s info out of Gymnasium's vector info dict, with Python scalars."""
    info: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_") or not infos.get(f"_{key}", np.zeros(index + 1, bool))[index]:
            continue
        item = _unbatch_info(value, index) if isinstance(value, dict) else value[index]
        info[key] = item.item() if isinstance(item, np.generic) else item
    return info


def _result(agent: Any, task_key: str, info: dict[str, Any]) -> EpisodeResult:
    return EpisodeResult(
        agent=agent.name, task_key=task_key, task_type=info["task_type"], hops=int(info["hops"]),
        em=float(info["em"]), f1=float(info["f1"]), searches=int(info["num_searches"]), turns=int(info["turn"]),
        answered=bool(info["answered"]), evidence_recall=float(info["evidence_recall"]),
        prediction=info["prediction"], invalid=int(info["num_invalid"]), min_searches=int(info.get("min_searches", 0)),
    )


def run_episodes_batched(
    env_id: str,
    agent: Any,
    task_keys: Sequence[str],
    seed: int,
    *,
    env_kwargs: dict[str, Any] | None = None,
    num_envs: int = 8,
    on_episode: Callable[[], None] | None = None,
) -> list[EpisodeResult]:
    """Run one episode per task key, ``num_envs`` at a time, for a batched agent.

    Episode ``i`` gets task ``task_keys[i]`` and reset seed ``seed + i``, as in :func:`evaluate`'s
    sequential loop. The vector env runs with autoreset disabled; a finished sub-env is reset at
    once with the next task and the agent's slot restarted with ``begin_batch(..., slots=[i])``.
    When no task is left, idle sub-envs replay the first task with ``""`` actions (no search)
    whose results are discarded, because a vector env steps all its sub-envs together.
    Results come back in ``task_keys`` order.
    """
    from gymnasium.vector import AutoresetMode

    from searchgym.envs.vector import BatchedSearchQAVectorEnv

    if not task_keys:
        return []
    spec = gym.spec(env_id)
    kwargs = {**spec.kwargs, **(env_kwargs or {})}
    size = max(1, min(int(num_envs), len(task_keys)))
    envs = BatchedSearchQAVectorEnv(size, spec=kwargs.pop("spec", env_id),
                                    autoreset_mode=AutoresetMode.DISABLED, **kwargs)
    results: list[EpisodeResult | None] = [None] * len(task_keys)
    episode_of: list[int | None] = [None] * size  # which task index each sub-env is running
    upcoming = iter(range(len(task_keys)))

    def start(slots: list[int]) -> tuple[tuple[str, ...], dict[str, Any]]:
        """Reset ``slots`` with their next tasks (idle ones replay task 0 with no seed)."""
        seeds: list[int | None] = [None] * size
        keys: list[str | None] = [None] * size
        mask = np.zeros(size, dtype=np.bool_)
        for slot in slots:
            index = next(upcoming, None)
            episode_of[slot] = index
            seeds[slot] = None if index is None else seed + index
            keys[slot] = task_keys[0 if index is None else index]
            mask[slot] = True
        observations, infos = envs.reset(seed=seeds, options={"task_keys": keys, "reset_mask": mask})
        real = [slot for slot in slots if episode_of[slot] is not None]
        if real:
            begin_episodes(agent, [observations[s] for s in real], [_unbatch_info(infos, s) for s in real],
                           [seeds[s] for s in real], real, [envs.envs[s] for s in real])
        return observations, infos

    try:
        observations, infos = start(list(range(size)))
        step_infos = [_unbatch_info(infos, i) for i in range(size)]
        while any(index is not None for index in episode_of):
            active = [i for i in range(size) if episode_of[i] is not None]
            actions = agent.act_batch([observations[i] for i in active], [step_infos[i] for i in active],
                                      slots=active)
            if len(actions) != len(active):
                raise RuntimeError(f"{agent.name}.act_batch returned {len(actions)} actions for {len(active)} episodes")
            batch: list[Any] = [""] * size
            for slot, action in zip(active, actions):
                batch[slot] = action
            observations, _, terminated, truncated, infos = envs.step(batch)
            step_infos = [_unbatch_info(infos, i) for i in range(size)]
            done = [i for i in range(size) if terminated[i] or truncated[i]]
            for slot in done:
                index = episode_of[slot]
                if index is not None:
                    results[index] = _result(agent, task_keys[index], step_infos[slot])
                    if on_episode is not None:
                        on_episode()
            if done:
                observations, infos = start(done)
                for slot in done:
                    step_infos[slot] = _unbatch_info(infos, slot)
    finally:
        envs.close()
    assert all(result is not None for result in results)
    return results  # type: ignore[return-value]


class LockstepAgents:
    """Any agent made batched: one instance per slot, built by ``factory``, stepped in lockstep.

    Why: it lets the batched evaluation path be checked against the sequential one with the
    classical baselines (identical results are expected), and runs privileged agents such as the
    oracle through the vector env. ``batch_size`` is the number of episodes run at once.
    """

    def __init__(self, factory: Callable[[], Any], batch_size: int = 4) -> None:
        self.factory = factory
        self.batch_size = batch_size
        self._agents: dict[int, Any] = {}
        probe = factory()
        self.name = probe.name
        self.privileged = is_privileged(probe)  # privileged iff the agents it runs are

    def begin(self, observation: str, info: dict[str, Any], seed: int, *, env: gym.Env | None = None) -> None:
        self.begin_batch([observation], [info], [seed], envs=None if env is None else [env])

    def act(self, observation: str, info: dict[str, Any]) -> str | dict[str, Any]:
        return self.act_batch([observation], [info])[0]

    def begin_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]], seeds: Sequence[int],
                    slots: Sequence[int] | None = None, *, envs: Sequence[gym.Env] | None = None) -> None:
        slots = list(range(len(observations))) if slots is None else list(slots)
        if self.privileged and envs is None:
            raise TypeError(f"{self.name} is privileged: begin_batch needs envs=")
        for i, (slot, observation, info, seed) in enumerate(zip(slots, observations, infos, seeds)):
            begin_episode(self._agents.setdefault(slot, self.factory()), observation, info, seed,
                          None if envs is None else envs[i])

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int] | None = None) -> list[Any]:
        slots = list(range(len(observations))) if slots is None else list(slots)
        return [self._agents[slot].act(obs, info) for slot, obs, info in zip(slots, observations, infos)]


def _interval(row: dict[str, Any], key: str) -> str:
    low, high = row.get(f"{key}_ci", (row[key], row[key]))
    return f"{row[key]:.3f} [{low:.2f}-{high:.2f}]"


def render_tables(report: dict[str, Any], console: Console) -> None:
    """Results by task type, by hop count and by measured depth (min searches), with 95% CIs.

    "min" is the mean measured depth of the tasks (the fewest searches a knowledge-free agent
    needs), printed beside each agent's own mean number of searches ("srch"). F1 intervals are in
    the JSON report."""
    groupings = (("by_task_type", "task type"), ("by_hops", "hops"), ("by_depth", "min searches"))
    for grouping, title in groupings:
        if not any(grouping in data for data in report["agents"].values()):
            continue
        table = Table(title=f"{report['env']} — results by {title} ({report['episodes']} episodes, 95% CI)")
        for column in ("agent", title, "n", "EM [95% CI]", "F1", "srch", "min", "turns", "recall"):
            table.add_column(column, justify="left" if column in ("agent", title) else "right")
        for agent, data in report["agents"].items():
            for group, row in data.get(grouping, {}).items():
                table.add_row(agent, group, str(row["episodes"]), _interval(row, "em"), f"{row['f1']:.3f}",
                              f"{row['searches']:.2f}", f"{row.get('min_searches', 0):.2f}", f"{row['turns']:.2f}",
                              f"{row['evidence_recall']:.3f}")
            table.add_section()
        console.print(table)


def save_report(report: dict[str, Any], path: Path) -> None:
    atomic_write_text(Path(path), json.dumps(report, indent=1, ensure_ascii=False))
