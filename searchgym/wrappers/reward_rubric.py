"""Long-form rubric terms: nugget recall, citation support and the contradiction penalty.

The env grades a profile answer once, on the answer step (:mod:`searchgym.nuggets`), and puts
the grade in ``info`` (``nugget_recall``, ``citation_support``, ``contradictions``); these
terms expose it to :func:`~searchgym.wrappers.rewards.compose_rewards` and the registry:

======================  ==========================================================================
term (registry name)    value on the answer step of a profile task (0 elsewhere)
======================  ==========================================================================
``citation_support``    share of nuggets stated *and* cited from a searched passage stating them
``nugget_recall``       share of nuggets stated, cited or not (a diagnostic: it pays no citations)
``contradiction``       ``-min(contradictions, supported nuggets) / nuggets``
======================  ==========================================================================

``citation_support + contradiction`` equals the env's graded score (its ``f1`` on a profile):
each claim the graph refutes cancels one supported nugget, and the penalty never takes the sum
below 0, so that saying nothing never beats an honest wrong answer, while hedging over
candidate values ("born in 1950 ... or 2004", one sentence each) nets nothing. Training on
``nugget_recall`` alone pays uncited claims: use it with ``citation_support``, not instead.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.utils import RecordConstructorArgs

from searchgym.answer_forms import keeps_citations
from searchgym.wrappers.reward_base import RewardTerm, RewardTermWrapper, StepContext

__all__ = [
    "CitationSupportReward",
    "CitationSupportTerm",
    "ContradictionReward",
    "ContradictionTerm",
    "NuggetRecallReward",
    "NuggetRecallTerm",
]


class _RubricTerm(RewardTerm):
    """Reads the env's grade of a profile answer from the answer step's ``info``."""

    def reset(self, env: Any, observation: str, info: dict[str, Any]) -> None:
        self._details: dict[str, Any] | None = None

    def value(self, info: dict[str, Any], nuggets: int) -> float:
        raise NotImplementedError

    def score(self, ctx: StepContext) -> float:
        self._details = None
        if not ctx.answered or not keeps_citations(ctx.task.meta):
            return 0.0
        info = ctx.info
        self._details = {
            key: float(info.get(key, 0.0)) for key in ("nugget_recall", "citation_support", "contradictions")
        }
        return self.value(info, len(ctx.task.meta["nuggets"]))

    def details(self) -> dict[str, Any] | None:
        return getattr(self, "_details", None)


class NuggetRecallTerm(_RubricTerm):
    name = "nugget_recall"

    def value(self, info: dict[str, Any], nuggets: int) -> float:
        return float(info.get("nugget_recall", 0.0))


class CitationSupportTerm(_RubricTerm):
    name = "citation_support"

    def value(self, info: dict[str, Any], nuggets: int) -> float:
        return float(info.get("citation_support", 0.0))


class ContradictionTerm(_RubricTerm):
    name = "contradiction"

    def value(self, info: dict[str, Any], nuggets: int) -> float:
        supported = round(float(info.get("citation_support", 0.0)) * nuggets)
        cancelled = min(float(info.get("contradictions", 0.0)), supported)
        return -cancelled / max(1, nuggets) if cancelled else 0.0


class _RubricReward(RewardTermWrapper):
    term_class: type[_RubricTerm]

    def __init__(self, env: gym.Env, *, weight: float = 1.0, mode: str = "add", name: str | None = None) -> None:
        RecordConstructorArgs.__init__(self, weight=weight, mode=mode, name=name)
        super().__init__(env, self.term_class(), weight=weight, mode=mode, name=name or self.term_class.name)


class NuggetRecallReward(_RubricReward):
    """Share of a profile's nuggets the answer states (cited or not); see the module doc."""

    term_class = NuggetRecallTerm


class CitationSupportReward(_RubricReward):
    """Share of a profile's nuggets stated and cited from a searched passage that states them."""

    term_class = CitationSupportTerm


class ContradictionReward(_RubricReward):
    """Minus the share of supported nuggets cancelled by claims the graph refutes."""

    term_class = ContradictionTerm
