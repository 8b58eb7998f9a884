"""Evaluate agents on an env: the main job behind ``searchgym eval``.

All agents see the same tasks in the same order (a seeded permutation of the env's task pool,
replayed with ``reset(options={"task_key": ...})``), so their numbers are comparable. The
default split is ``test``, for :func:`evaluate` as for the CLI. Results are aggregated by task
type, by hop count and by measured depth, with 95% intervals, printed as tables
(:mod:`searchgym.tables`) and saved as JSON; with ``trajectories_to`` every episode's full
trajectory is written as JSONL (:mod:`searchgym.trajectories`).

Batched agents (LLMs) run through the vector env (:mod:`searchgym.batched_eval`); honest agents
never receive the env, privileged baselines opt in (:mod:`searchgym.agents.base`).
"""

from __future__ import annotations

import functools
import json
import platform
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import searchgym
from searchgym.agents.base import Agent, begin_episode
from searchgym.batched_eval import (  # noqa: F401  (re-exported: the evaluation API in one place)
    LockstepAgents,
    batchable_env,
    is_batched,
    run_episodes_batched,
    unbatch_info,
)
from searchgym.cache import atomic_write_lines, atomic_write_text
from searchgym.episode_result import EpisodeResult
from searchgym.stats import bootstrap_mean_ci, wilson_interval
from searchgym.tables import render_tables  # noqa: F401  (re-exported)
from searchgym.trajectories import EpisodeRecorder

DEFAULT_SPLIT = "test"

if TYPE_CHECKING:
    from searchgym.envs.search_qa import SearchQAEnv


def select_task_keys(env: gym.Env, episodes: int, seed: int) -> list[str]:
    """The first ``episodes`` keys of a seeded permutation of the env's task pool."""
    tasks = cast("SearchQAEnv", env.unwrapped).tasks
    order = np.random.default_rng(seed).permutation(len(tasks))
    return [tasks[int(i)].task_key for i in order[: min(episodes, len(tasks))]]


def run_episode(
    env: gym.Env, agent: Agent, task_key: str, seed: int, trajectories: list[dict[str, Any]] | None = None
) -> EpisodeResult:
    """Play one episode; when ``trajectories`` is a list, its trajectory is appended to it."""
    observation, info = env.reset(seed=seed, options={"task_key": task_key})
    recorder = EpisodeRecorder(agent.name, task_key, seed, env, observation) if trajectories is not None else None
    begin_episode(agent, observation, info, seed, env)
    while True:
        began = time.perf_counter()
        action = agent.act(observation, info)
        acted = time.perf_counter()
        observation, reward, terminated, truncated, info = env.step(action)
        if recorder is not None:
            recorder.record(
                action,
                observation,
                float(reward),
                info,
                agent_seconds=acted - began,
                env_seconds=time.perf_counter() - acted,
            )
        if terminated or truncated:
            break
    result = EpisodeResult.from_info(agent.name, task_key, info)
    if recorder is not None:
        trajectories.append(recorder.to_dict(result.to_dict()))  # type: ignore[union-attr]
    return result


def _group_order(item: tuple[str, Any]) -> tuple[bool, int, str]:
    """Groups in natural order (hop 2 before hop 10), "all" last."""
    name = item[0]
    return name == "all", int(name) if name.isdigit() else -1, name


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
        for group, items in sorted(groups.items(), key=_group_order)
    }


def evaluate(
    env_id: str,
    agents: list[Agent],
    episodes: int,
    *,
    split: str = DEFAULT_SPLIT,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    console: Console | None = None,
    show_progress: bool = True,
    trajectories_to: str | Path | None = None,
) -> dict[str, Any]:
    """Run every agent on the same ``episodes`` tasks of ``split``; return a JSON-ready report.

    Progress goes to stderr (``console`` if given), never into the results stream. With
    ``trajectories_to`` every episode's trajectory is written there as JSONL and the report's
    ``"trajectories"`` field names the file.
    """
    if "split" in (env_kwargs or {}):
        raise ValueError("pass the split as evaluate(..., split=...), not in env_kwargs")
    env_kwargs = {**(env_kwargs or {}), "split": split}
    env = gym.make(env_id, **env_kwargs)
    trajectories: list[dict[str, Any]] | None = [] if trajectories_to is not None else None
    try:
        keys = select_task_keys(env, episodes, seed)
        report: dict[str, Any] = {
            "env": env_id,
            "split": split,
            "env_kwargs": env_kwargs,
            "episodes": len(keys),
            "seed": seed,
            "world_id": cast("SearchQAEnv", env.unwrapped).world.world_id,
            "searchgym_version": searchgym.__version__,
            "python": platform.python_version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "agents": {},
            "seconds": {},  # wall time per agent, apart so that "agents" is deterministic
        }
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(
            *columns, console=console or Console(stderr=True), disable=not show_progress, transient=True
        ) as progress:
            for agent in agents:
                bar = progress.add_task(f"{agent.name:>10}", total=len(keys))
                advance = functools.partial(progress.advance, bar)
                began = time.perf_counter()
                if is_batched(agent) and batchable_env(env_id):
                    results = run_episodes_batched(
                        env_id,
                        agent,
                        keys,
                        seed,
                        env_kwargs=env_kwargs,
                        num_envs=int(getattr(agent, "batch_size", 8)),
                        on_episode=advance,
                        trajectories=trajectories,
                    )
                else:
                    results = []
                    for index, key in enumerate(keys):
                        results.append(run_episode(env, agent, key, seed + index, trajectories))
                        advance()
                report["agents"][agent.name] = {
                    "by_task_type": summarize(results, "task_type"),
                    "by_hops": summarize(results, "hops"),
                    "by_depth": summarize(results, "min_searches"),
                    "by_tier": summarize(results, "tier"),
                    "episodes": [r.to_dict() for r in results],
                }
                report["seconds"][agent.name] = round(time.perf_counter() - began, 3)
    finally:
        env.close()
    if trajectories_to is not None:
        path = Path(trajectories_to)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_lines(path, (json.dumps(t, ensure_ascii=False) + "\n" for t in trajectories or []))
        report["trajectories"] = path.name
    return report


def save_report(report: dict[str, Any], path: Path) -> None:
    atomic_write_text(Path(path), json.dumps(report, indent=1, ensure_ascii=False))


def load_report(path: str | Path) -> dict[str, Any]:
    """A results JSON written by :func:`save_report` (``ValueError`` with the path if it is not one)."""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: cannot read it ({error.strerror or error})") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(report, dict) or not isinstance(report.get("agents"), dict):
        raise ValueError(f"{path}: not a searchgym eval results file (no 'agents')")
    return report


def report_trajectories_path(report: dict[str, Any], results_path: str | Path) -> Path | None:
    """Where a report's trajectories file is: beside the results file (as written), else as named."""
    name = report.get("trajectories")
    if not name:
        return None
    beside = Path(results_path).parent / Path(name).name
    return beside if beside.exists() else Path(name)
