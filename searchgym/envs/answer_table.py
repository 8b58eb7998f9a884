"""The one answer table: how an answer scores, for every task form and every path.

The env's built-in reward, the ``answer`` reward term (hence every spec composition and trainer
adapter) and trainer rows scored without a task (:mod:`searchgym.integrations.verl_reward`)
all score answers here, so an answer earns the same everywhere: registered answer forms (lists,
abstention, long-form profiles: :mod:`searchgym.answer_forms`) by their form, an abstention on
an answerable task by ``-abstain_penalty``, and classic answers by EM / F1 with the
anti-stuffing guard of :mod:`searchgym.answer_guard`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from searchgym.answer_forms import answer_form, score_form
from searchgym.answer_guard import score_answer
from searchgym.metrics import exact_match, token_f1
from searchgym.types import Task

__all__ = ["AnswerScore", "score_answer_step", "score_classic", "score_form_step"]


@dataclass
class AnswerScore:
    """An answer under the env's outcome table: EM, F1, the env's reward and the form's terms."""

    em: float
    f1: float
    reward: float
    terms: dict[str, float] = field(default_factory=dict)  # a list's set_f1 / set_exact, abstained, ...
    verdict: str | None = None  # why the guard zeroed it ("multiple_candidates", "abstained", ...)


def score_form_step(
    meta: dict[str, Any], prediction: str | None, metric: str, abstain_penalty: float, episode: Any = None
) -> AnswerScore | None:
    """The outcome of an answer to a task of a registered answer form, or of an abstention on an
    answerable task (``-abstain_penalty``); ``None`` for a classic answer, which the guard scores.
    Also the scorer of trainer rows that carry the form instead of a task (``meta`` from the
    row's ground truth, :func:`searchgym.integrations.verl_reward.compute_score`)."""
    form = score_form(meta, prediction, abstain_penalty, episode)
    if form is None:
        return None
    kind = answer_form(meta)
    penalised = bool(form["penalised"])
    value = form[kind.reward_key(metric) if kind is not None else "em"]
    return AnswerScore(
        form["em"],
        form["f1"],
        float(-abstain_penalty if penalised else value),
        {k: v for k, v in form.items() if k not in ("em", "f1")},
        "abstained" if penalised else None,
    )


def score_answer_step(
    task: Task,
    prediction: str | None,
    metric: str,
    abstain_penalty: float,
    candidates: Callable[[], Any],
    max_answer_tokens: int | None = None,
    reject_lists: bool = True,
    episode: Any = None,
) -> AnswerScore:
    """The one answer table: EM and F1 always, and the reward under ``metric`` (``em`` / ``f1``
    / ``substring_em``, with the anti-stuffing guard of :mod:`searchgym.answer_guard` for the
    lenient metrics, ``max_answer_tokens`` and ``reject_lists`` being its options); tasks of a
    registered answer form (lists, abstention, ...) score by their form
    (:mod:`searchgym.answer_forms`, handed ``episode``), and an abstention on an answerable task
    scores ``-abstain_penalty``. ``candidates`` gives the world's candidate index (built only
    when a lenient metric needs it). The env's built-in reward and the ``answer`` reward term
    both score here, so they agree on every form."""
    by_form = score_form_step(task.meta, prediction, metric, abstain_penalty, episode)
    if by_form is not None:
        return by_form
    return score_classic(prediction, task.answers, metric, candidates, max_answer_tokens, reject_lists)


def score_classic(
    prediction: str | None,
    answers: Sequence[str],
    metric: str,
    candidates: Callable[[], Any],
    max_answer_tokens: int | None = None,
    reject_lists: bool = True,
) -> AnswerScore:
    """A one-string answer against its gold aliases: EM, F1 and the reward under ``metric``
    with the anti-stuffing guard (``candidates()`` is called only for a lenient metric). The
    classic branch of :func:`score_answer_step`, and what trainer rows without a task score by."""
    em = exact_match(prediction, answers) if prediction is not None else 0.0
    f1 = token_f1(prediction, answers) if prediction is not None else 0.0
    # EM's reward is ``em`` itself; the guard still runs (on the gold alone) for its verdict.
    reward, verdict = score_answer(
        prediction,
        answers,
        metric,
        max_answer_tokens,
        reject_lists,
        candidates=None if metric == "em" else candidates(),
        exact=em,
    )
    return AnswerScore(em, f1, reward, verdict=verdict)
