"""Episode trajectories: everything needed to see why an episode failed, without a replay.

``searchgym eval --save-trajectories`` writes one JSON line per episode next to the results
(``results.json`` -> ``results.trajectories.jsonl``; the report names the file in its
``"trajectories"`` field). A line holds:

* ``agent``, ``task_key``, ``seed``, ``seconds`` (wall time of the episode) and ``result`` (the
  episode's row of the results JSON: EM, F1, searches, evidence recall, ...);
* ``task``: question, gold answer and aliases, type, hops, measured depth (``min_searches``),
  the gold chain as readable facts, and the gold evidence units, each with its passages (title
  and text) and ``found_at`` (the turn at which a retrieved passage first covered it, or null);
* ``prompt`` and ``steps``: per turn the action as written, its parsed kind and queries, the
  observation, the structured results (``info["results"]``, each marked ``gold`` when it states
  a gold evidence unit), the evidence units it newly found, the reward and its parts (reward
  wrappers), any error, and timing: ``agent_seconds`` (time to choose the action; for batched
  agents, one call's time shared evenly among the episodes it served) and ``env_seconds``.

The recorder reads the gold task from ``env.unwrapped``: the evaluation loop is trusted code,
the agent never sees any of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from searchgym.cache import stable_json

__all__ = ["EpisodeRecorder", "describe_task", "read_trajectories", "trajectories_path"]


def trajectories_path(results_path: str | Path) -> Path:
    """``runs/x.json`` -> ``runs/x.trajectories.jsonl``."""
    path = Path(results_path)
    return path.with_name(f"{path.stem}.trajectories.jsonl")


def _value(world: Any, value: Any) -> str:
    return world.name(value) if isinstance(value, str) and value in world.entities else str(value)


def describe_task(env: Any) -> dict[str, Any]:
    """The gold side of the running episode, readable: chain facts by name, evidence passages."""
    base = env.unwrapped
    task, world, corpus = base.task, base.world, base.corpus
    chain = [
        {
            "subject": world.name(step.subject),
            "relation": step.relation.replace("_", " "),
            "object": _value(world, step.object),
            "fact_id": step.fact_id,
        }
        for step in task.chain
    ]
    units = []
    for index, passages in enumerate(task.evidence):
        shown = [doc_id for doc_id in task.gold_passages if doc_id in passages] or list(passages[:1])
        units.append(
            {
                "unit": index,
                "doc_ids": list(passages),
                "passages": [
                    {"doc_id": doc_id, "title": corpus[doc_id].title, "text": corpus[doc_id].text} for doc_id in shown
                ],
                "found_at": None,
            }
        )
    return {
        "question": task.question,
        "answer": task.answer,
        "aliases": list(task.aliases),
        "task_type": task.task_type,
        "hops": task.hops,
        "min_searches": task.min_searches,
        "split": task.split,
        "world_id": task.world_id,
        "chain": chain,
        "evidence": units,
    }


class EpisodeRecorder:
    """Collects one episode's trajectory; :meth:`to_dict` gives its JSON line."""

    def __init__(self, agent: str, task_key: str, seed: int, env: Any, prompt: str) -> None:
        self.agent, self.task_key, self.seed = agent, task_key, seed
        self.env = env
        self.task = describe_task(env)
        self.prompt = prompt
        self.steps: list[dict[str, Any]] = []
        self._gold = {doc_id: unit["unit"] for unit in self.task["evidence"] for doc_id in unit["doc_ids"]}
        self._found: set[int] = set()

    def record(
        self,
        action: Any,
        observation: str,
        reward: float,
        info: dict[str, Any],
        *,
        agent_seconds: float,
        env_seconds: float,
    ) -> None:
        """Add the step that ``action`` produced (call right after ``env.step``)."""
        turn = len(self.steps) + 1
        found_now = set(self.env.unwrapped.state.found_facts)
        fresh = sorted(found_now - self._found)
        self._found = found_now
        for unit in fresh:
            self.task["evidence"][unit]["found_at"] = turn
        results = [dict(r, gold=r.get("doc_id") in self._gold) for r in info.get("results") or []]
        self.steps.append(
            {
                "turn": turn,
                "action": action if isinstance(action, str) else stable_json(action),
                "kind": info.get("action_kind"),
                "queries": list(info.get("queries") or []),
                "observation": observation,
                "results": results,
                "new_evidence_units": fresh,
                "reward": float(reward),
                "reward_parts": dict(info.get("reward_parts") or {}),
                "error": info.get("error"),
                "agent_seconds": round(agent_seconds, 4),
                "env_seconds": round(env_seconds, 4),
            }
        )

    def to_dict(self, result: dict[str, Any]) -> dict[str, Any]:
        seconds = sum(step["agent_seconds"] + step["env_seconds"] for step in self.steps)
        return {
            "agent": self.agent,
            "task_key": self.task_key,
            "seed": self.seed,
            "seconds": round(seconds, 4),
            "result": result,
            "task": self.task,
            "prompt": self.prompt,
            "steps": self.steps,
        }


def read_trajectories(path: str | Path) -> Iterator[dict[str, Any]]:
    """The episodes of a trajectories JSONL file (a torn last line is skipped)."""
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue
