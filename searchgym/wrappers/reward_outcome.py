"""Outcome rewards: answer correctness (EM / substring EM / F1) with an anti-stuffing guard,
Search-R1's format-shaped table, and SSRL's 0.9·EM + 0.1·format.

All three are scored on the step that ends the episode (the answer, or truncation without one)
and are 0.0 on every other step; they default to ``mode="replace"``: they *are* the outcome
reward, so the env's built-in reward (EM) below them stops counting (it stays visible as
``info["reward_parts"]["env"]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
from gymnasium.utils import RecordConstructorArgs

from searchgym.answer_guard import METRICS, candidate_count, score_answer
from searchgym.envs.actions import parse_action
from searchgym.envs.answer_table import AnswerScore, score_answer_step
from searchgym.metrics import substring_match
from searchgym.wrappers.reward_base import RewardTerm, RewardTermWrapper, StepContext

__all__ = [
    "AnswerReward",
    "AnswerTerm",
    "SSRLReward",
    "SSRLTerm",
    "SearchR1FormatReward",
    "SearchR1FormatTerm",
    "answer_outcome",
    "candidate_count",
    "exact_outcome",
    "score_answer",
]


def _abstain_penalty(env: Any) -> float:
    config = getattr(env, "config", None)
    return float(getattr(config, "abstain_penalty", 0.0) or 0.0)


def _episode_of(env: Any) -> Any:
    """The running episode a term scores (the env's, or the episode itself under a spec's table)."""
    return getattr(env, "current", env)


def answer_outcome(
    ctx: StepContext, metric: str = "em", max_answer_tokens: int | None = None, reject_lists: bool = True
) -> AnswerScore:
    """The final answer of ``ctx``'s episode on the env's answer table under ``metric``, with
    the spec's ``abstain_penalty`` and the env's candidate index (what every outcome term reads)."""
    env = ctx.env
    return score_answer_step(
        ctx.task,
        ctx.state.prediction,
        metric,
        _abstain_penalty(env),
        lambda: getattr(env, "answer_candidates", None),
        max_answer_tokens,
        reject_lists,
        episode=_episode_of(env),
    )


def exact_outcome(ctx: StepContext) -> AnswerScore:
    """The final answer under ``em`` on the env's answer table, for the terms that pay exact
    correctness (Search-R1's format reward and SSRL's pay it; the citation and retrieval-cost
    terms gate on it): form-aware (a list's exact set, the
    declared abstention on a false premise) and with the spec's ``abstain_penalty`` as reward
    (verdict ``"abstained"``) for an abstention on an answerable task."""
    return answer_outcome(ctx)


class AnswerTerm(RewardTerm):
    """The outcome term: scores the final answer through the env's own answer table
    (:func:`~searchgym.envs.answer_table.score_answer_step`), so every answer form the env knows
    (classic, lists, abstention, any form registered in :mod:`searchgym.answer_forms`) pays
    here exactly what the env's built-in reward pays under the same metric, and an abstention
    on an answerable task costs the spec's ``abstain_penalty``. ``max_answer_tokens`` and
    ``reject_lists`` tune the anti-stuffing guard of classic answers (lists and abstentions have
    their own guards)."""

    name = "answer"

    def __init__(self, metric: str = "em", max_answer_tokens: int | None = None, reject_lists: bool = True):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if max_answer_tokens is not None and max_answer_tokens < 1:
            raise ValueError(f"max_answer_tokens must be >= 1 or None, got {max_answer_tokens}")
        self.metric = metric
        self.max_answer_tokens = max_answer_tokens
        self.reject_lists = reject_lists
        self._details: dict[str, Any] | None = None

    def reset(self, env: Any, observation: str, info: dict[str, Any]) -> None:
        self._details = None

    def score(self, ctx: StepContext) -> float:
        self._details = None
        if not ctx.done:
            return 0.0
        scored = answer_outcome(ctx, self.metric, self.max_answer_tokens, self.reject_lists)
        self._details = {"metric": self.metric, "guard": scored.verdict}
        return scored.reward

    def details(self) -> dict[str, Any] | None:
        return self._details


class AnswerReward(RewardTermWrapper):
    """Outcome reward: exact match (Search-R1), substring EM (Search-R1 ``subem``, ZeroSearch's
    "EM") or token F1 (ZeroSearch, ASearcher/SearchGym), max over the gold aliases, with an
    anti-stuffing guard (see :mod:`searchgym.answer_guard`): an answer naming several candidate
    answers of the world (``"A, B"``, ``"A B"``, ``"A - B"``, every name joined) scores 0 unless
    it is itself a gold alias, so a stuffed answer never beats an honest wrong one. Paid once,
    on the step that ends the episode (0 if no answer).

    Args:
        metric: ``"em"``, ``"f1"`` or ``"substring_em"``.
        max_answer_tokens: answers with more normalised tokens score 0 (``None``: no limit).
        reject_lists: zero answers that list more candidates than the gold answer has.
        weight, mode, name: see :mod:`searchgym.wrappers.reward_base` (default: replace the
            env's reward).
    """

    def __init__(
        self,
        env: gym.Env,
        metric: str = "em",
        max_answer_tokens: int | None = None,
        reject_lists: bool = True,
        *,
        weight: float = 1.0,
        mode: str = "replace",
        name: str = "answer",
    ) -> None:
        RecordConstructorArgs.__init__(
            self,
            metric=metric,
            max_answer_tokens=max_answer_tokens,
            reject_lists=reject_lists,
            weight=weight,
            mode=mode,
            name=name,
        )
        super().__init__(env, AnswerTerm(metric, max_answer_tokens, reject_lists), weight=weight, mode=mode, name=name)


# --------------------------------------------------------------------------- format tracking


class _FormatTracker:
    """Per-episode format bookkeeping shared by the Search-R1 and SSRL terms.

    A turn is well-formed when the env's ``info["format_ok"]`` is True (exactly one action,
    optionally after one ``<think>`` block, nothing else outside the tags; see
    :mod:`searchgym.envs.actions`) and, with ``require_think``, the turn has a ``<think>``
    block (Search-R1's state machine starts every turn with ``<think>``). The *episode* has a
    valid format when every turn was well-formed and the episode ended with an answer, as
    Search-R1's ``is_valid_sequence`` requires the final state to be after ``</answer>``.
    """

    def __init__(self, require_think: bool) -> None:
        self.require_think = require_think
        self.reset()

    def reset(self) -> None:
        self.all_ok = True
        self.thinks = 0
        self.searches = 0
        self.turns = 0

    def update(self, ctx: StepContext) -> None:
        self.turns += 1
        env = ctx.env
        parsed = parse_action(ctx.action, max_chars=env.config.max_action_chars, allowed_actions=env.allowed_actions)
        has_think = parsed.think is not None
        self.thinks += int(has_think)
        if ctx.info.get("action_kind") == "search":
            self.searches += 1
        ok = bool(ctx.info.get("format_ok")) and (has_think or not self.require_think)
        self.all_ok = self.all_ok and ok

    def valid(self, ctx: StepContext) -> bool:
        return self.all_ok and ctx.answered


def gold_in_retrieved_text(state: Any, answers: Sequence[str]) -> bool:
    """Whether a gold answer string occurs (normalised, whole tokens) in a passage a search
    returned this episode (Search-R1's ``is_retrieval_correct``). Only ``state.evidence_text``
    is read: an error message echoing the agent's words is in ``<information>`` too, but it
    was not retrieved."""
    return any(substring_match(text, answers) for text in state.evidence_text)


class SearchR1FormatTerm(RewardTerm):
    name = "search_r1"

    def __init__(
        self,
        structure_format_score: float = 0.2,
        final_format_score: float = 0.1,
        retrieval_score: float = 0.0,
        score: float = 1.0,
        require_think: bool = True,
    ):
        self.structure_format_score = float(structure_format_score)
        self.final_format_score = float(final_format_score)
        self.retrieval_score = float(retrieval_score)
        self.full_score = float(score)
        self.tracker = _FormatTracker(require_think)
        self._details: dict[str, Any] | None = None

    def reset(self, env: Any, observation: str, info: dict[str, Any]) -> None:
        self.tracker.reset()
        self._details = None

    def score(self, ctx: StepContext) -> float:
        self.tracker.update(ctx)
        self._details = None
        if not ctx.done:
            return 0.0
        valid = self.tracker.valid(ctx)
        answered = ctx.state.prediction is not None
        # Correctness on the env's answer table (EM for one string, the exact set for a list,
        # the declared abstention on a false premise); an abstention on an answerable task pays
        # the spec's penalty and no format credit, or abstaining everywhere would out-earn
        # answering honestly wrong (0.2) by the false-premise share.
        scored = exact_outcome(ctx) if answered else None
        if scored is not None and scored.verdict == "abstained":
            self._details = {"valid_format": valid, "correct": False, "retrieval_correct": False}
            return scored.reward
        correct = scored is not None and scored.em >= 1.0
        retrieval = (
            valid
            and not correct
            and self.retrieval_score != 0.0
            and gold_in_retrieved_text(ctx.state, ctx.task.answers)
        )
        if correct:
            value = self.full_score if valid else self.full_score - self.structure_format_score
        elif valid:
            value = self.structure_format_score + (self.retrieval_score if retrieval else 0.0)
        elif answered:
            value = self.final_format_score
        else:
            value = 0.0
        self._details = {"valid_format": valid, "correct": correct, "retrieval_correct": bool(retrieval)}
        return value

    def details(self) -> dict[str, Any] | None:
        return self._details


class SearchR1FormatReward(RewardTermWrapper):
    """Search-R1's format-shaped outcome reward (``verl/utils/reward_score/qa_em_format.py``,
    arXiv 2503.09516), paid on the step that ends the episode:

    ======================================================  =====================================
    correct (EM) and valid format                            ``score`` (1)
    correct, invalid format                                  ``score - structure_format_score`` (0.8)
    wrong answer, valid format                               ``structure_format_score`` (0.2)
    wrong, valid format, a gold answer was in <information>  ``structure_format_score + retrieval_score``
    wrong answer, invalid format                             ``final_format_score`` (0.1)
    abstention on an answerable task (any format)            ``-abstain_penalty`` (the spec's)
    no answer (truncated)                                    0
    ======================================================  =====================================

    "Correct" is EM on the env's answer table (a list: its exact set; a false premise: the
    declared abstention), so the format credit never pays an abstention that is wrong.

    Format validity is judged over the whole episode (see ``_FormatTracker``): every turn
    well-formed (with a ``<think>`` when ``require_think``) and the episode ended with an
    answer. Because of that last rule, "no answer, valid format" cannot happen here (Search-R1's
    state machine also rejects a sequence that does not end after ``</answer>``), so a
    truncated episode gets 0.
    """

    def __init__(
        self,
        env: gym.Env,
        structure_format_score: float = 0.2,
        final_format_score: float = 0.1,
        retrieval_score: float = 0.0,
        score: float = 1.0,
        require_think: bool = True,
        *,
        weight: float = 1.0,
        mode: str = "replace",
        name: str = "search_r1",
    ) -> None:
        RecordConstructorArgs.__init__(
            self,
            structure_format_score=structure_format_score,
            final_format_score=final_format_score,
            retrieval_score=retrieval_score,
            score=score,
            require_think=require_think,
            weight=weight,
            mode=mode,
            name=name,
        )
        super().__init__(
            env,
            SearchR1FormatTerm(structure_format_score, final_format_score, retrieval_score, score, require_think),
            weight=weight,
            mode=mode,
            name=name,
        )


class SSRLTerm(RewardTerm):
    name = "ssrl"

    def __init__(
        self, em_weight: float = 0.9, format_weight: float = 0.1, max_thinks: int = 8, require_think: bool = True
    ):
        self.em_weight = float(em_weight)
        self.format_weight = float(format_weight)
        self.max_thinks = int(max_thinks)
        self.tracker = _FormatTracker(require_think)
        self._details: dict[str, Any] | None = None

    def reset(self, env: Any, observation: str, info: dict[str, Any]) -> None:
        self.tracker.reset()
        self._details = None

    def format_score(self, ctx: StepContext) -> float:
        """SSRL's ``format_reward`` on the episode: 0 unless the format is valid and there are
        at most ``max_thinks`` think blocks; else ``min(thinks/2, 1) * ratio`` with
        ``ratio = min(thinks, searches+1) / max(thinks, searches+1)`` (about one think per
        search plus a final one)."""
        t = self.tracker
        if not t.valid(ctx) or t.thinks == 0 or t.thinks > self.max_thinks:
            return 0.0
        ratio = min(t.thinks, t.searches + 1) / max(t.thinks, t.searches + 1)
        return min(t.thinks / 2.0, 1.0) * ratio

    def score(self, ctx: StepContext) -> float:
        self.tracker.update(ctx)
        self._details = None
        if not ctx.done:
            return 0.0
        # EM on the answer table; an abstention on an answerable task pays em_weight x
        # (-abstain_penalty) and no format credit, so abstaining everywhere earns less than
        # answering honestly wrong (the env's rule: penalty > share / (1 - share)).
        scored = exact_outcome(ctx) if ctx.state.prediction is not None else None
        abstained = scored is not None and scored.verdict == "abstained"
        fmt = 0.0 if abstained else self.format_score(ctx)
        em = 0.0 if scored is None else scored.em
        self._details = {
            "em": em,
            "format": fmt,
            "abstained": abstained,
            "thinks": self.tracker.thinks,
            "searches": self.tracker.searches,
        }
        outcome = scored.reward if abstained and scored is not None else em
        return self.em_weight * outcome + self.format_weight * fmt

    def details(self) -> dict[str, Any] | None:
        return self._details


class SSRLReward(RewardTermWrapper):
    """SSRL's training reward (Self-Search RL, arXiv 2508.10874,
    ``verl/workers/reward_manager/naive.py``): ``0.9 * EM + 0.1 * format``, paid on the step
    that ends the episode. EM is on the final answer; ``format`` is SSRL's think/search ratio
    score (see :meth:`SSRLTerm.format_score`). ``info["reward_details"]["ssrl"]`` holds both
    sub-scores."""

    def __init__(
        self,
        env: gym.Env,
        em_weight: float = 0.9,
        format_weight: float = 0.1,
        max_thinks: int = 8,
        require_think: bool = True,
        *,
        weight: float = 1.0,
        mode: str = "replace",
        name: str = "ssrl",
    ) -> None:
        RecordConstructorArgs.__init__(
            self,
            em_weight=em_weight,
            format_weight=format_weight,
            max_thinks=max_thinks,
            require_think=require_think,
            weight=weight,
            mode=mode,
            name=name,
        )
        super().__init__(
            env, SSRLTerm(em_weight, format_weight, max_thinks, require_think), weight=weight, mode=mode, name=name
        )
