"""Evaluate agents on an env: the main job behind ``searchgym eval``.

All agents see the same tasks in the same order (a seeded permutation of the env's task pool,
replayed with ``reset(options={"task_key": ...})``), so their numbers are comparable. Results
are aggregated by task type and by hop count, printed as rich tables and saved as JSON.
"""

from __future__ import annotations

import json
import platform
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import searchgym
from searchgym.agents.base import Agent
from searchgym.cache import atomic_write_text


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


def select_task_keys(env: gym.Env, episodes: int, seed: int) -> list[str]:
    """The first ``episodes`` keys of a seeded permutation of the env's task pool."""
    tasks = env.unwrapped.tasks
    order = np.random.default_rng(seed).permutation(len(tasks))
    return [tasks[int(i)].task_key for i in order[: min(episodes, len(tasks))]]


def run_episode(env: gym.Env, agent: Agent, task_key: str, seed: int) -> EpisodeResult:
    observation, info = env.reset(seed=seed, options={"task_key": task_key})
    agent.begin(observation, info, env, seed)
    while True:
        observation, _, terminated, truncated, info = env.step(agent.act(observation, info))
        if terminated or truncated:
            break
    return EpisodeResult(
        agent=agent.name, task_key=task_key, task_type=info["task_type"], hops=info["hops"],
        em=info["em"], f1=info["f1"], searches=info["num_searches"], turns=info["turn"],
        answered=info["answered"], evidence_recall=info["evidence_recall"], prediction=info["prediction"],
    )


def summarize(results: Iterable[EpisodeResult], by: str) -> dict[str, dict[str, float]]:
    """Mean EM, F1, searches, turns and evidence recall per group (``by`` = a result field)."""
    groups: dict[str, list[EpisodeResult]] = defaultdict(list)
    for result in results:
        groups[str(getattr(result, by))].append(result)
        groups["all"].append(result)
    return {
        group: {
            "episodes": len(items),
            "em": float(np.mean([r.em for r in items])),
            "f1": float(np.mean([r.f1 for r in items])),
            "searches": float(np.mean([r.searches for r in items])),
            "turns": float(np.mean([r.turns for r in items])),
            "evidence_recall": float(np.mean([r.evidence_recall for r in items])),
        }
        for group, items in sorted(groups.items(), key=lambda kv: (kv[0] == "all", kv[0]))
    }


def evaluate(
    env_id: str,
    agents: list[Agent],
    episodes: int,
    *,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    console: Console | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Run every agent on the same ``episodes`` tasks; return a JSON-ready report."""
    console = console or Console()
    env = gym.make(env_id, **(env_kwargs or {}))
    try:
        keys = select_task_keys(env, episodes, seed)
        report: dict[str, Any] = {
            "env": env_id, "env_kwargs": env_kwargs or {}, "episodes": len(keys), "seed": seed,
            "world_id": env.unwrapped.world.world_id, "searchgym_version": searchgym.__version__,
            "python": platform.python_version(), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "agents": {},
        }
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, disable=not show_progress) as progress:
            for agent in agents:
                bar = progress.add_task(f"{agent.name:>10}", total=len(keys))
                results = []
                for index, key in enumerate(keys):
                    results.append(run_episode(env, agent, key, seed + index))
                    progress.advance(bar)
                report["agents"][agent.name] = {
                    "by_task_type": summarize(results, "task_type"),
                    "by_hops": summarize(results, "hops"),
                    "episodes": [asdict(r) for r in results],
                }
    finally:
        env.close()
    return report


def render_tables(report: dict[str, Any], console: Console) -> None:
    for grouping, title in (("by_task_type", "task type"), ("by_hops", "hops")):
        table = Table(title=f"{report['env']} — results by {title} ({report['episodes']} episodes)")
        for column in ("agent", title, "n", "EM", "F1", "searches", "turns", "evidence recall"):
            table.add_column(column, justify="left" if column in ("agent", title) else "right")
        for agent, data in report["agents"].items():
            for group, row in data[grouping].items():
                table.add_row(agent, group, str(row["episodes"]), f"{row['em']:.3f}", f"{row['f1']:.3f}",
                              f"{row['searches']:.2f}", f"{row['turns']:.2f}", f"{row['evidence_recall']:.3f}")
            table.add_section()
        console.print(table)


def save_report(report: dict[str, Any], path: Path) -> None:
    atomic_write_text(Path(path), json.dumps(report, indent=1, ensure_ascii=False))
