"""One finished episode's outcome, the row every evaluation table and report is built from.

Why a module of its own: the sequential evaluator (:mod:`searchgym.evaluation`) and the batched
one (:mod:`searchgym.batched_eval`) both produce it, and evaluation re-exports the batched API,
so it cannot live in either without an import circle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["EpisodeResult"]


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
    tier: int = 0  # the task's difficulty tier (searchgym.tasks.tiers)

    @classmethod
    def from_info(cls, agent: str, task_key: str, info: dict[str, Any]) -> EpisodeResult:
        """The result of an episode from its last step's ``info``."""
        return cls(
            agent=agent,
            task_key=task_key,
            task_type=info["task_type"],
            hops=int(info["hops"]),
            em=float(info["em"]),
            f1=float(info["f1"]),
            searches=int(info["num_searches"]),
            turns=int(info["turn"]),
            answered=bool(info["answered"]),
            evidence_recall=float(info["evidence_recall"]),
            prediction=info["prediction"],
            invalid=int(info["num_invalid"]),
            min_searches=int(info.get("min_searches", 0)),
            tier=int(info.get("tier", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
