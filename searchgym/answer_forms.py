"""Answer forms beyond one string: complete lists, declared abstention and long-form profiles.

**Lists** (O²-Searcher's open-ended questions with several correct answers): the agent's answer
is parsed into items (separated by ``;``, ``,``, ``|``, newlines or bullets; a last item's
"and" is dropped, but "and" never splits, since a title may hold it); each
item matches at most one gold member (by any of its aliases, SQuAD-normalised, each member at
most once) and scores

* ``set_f1``: the F1 of the matched items against the gold set (precision over the *distinct*
  items given, so repeating one right item does not pay), and
* ``set_exact``: 1 when the items are exactly the gold set.

Stuffing is the trick that set F1 rewards on its own (naming every film of the world has
recall 1): an answer of more than :func:`max_list_items` items scores 0 on both terms, so
listing every candidate never beats an honest wrong list.

**Abstention** (ASearcher's invalid-question answer, DeepResearcher's honesty): a task the
corpus cannot answer (its premise fits no entity, proved by an exhaustive count) has the
declared answer :data:`ABSTENTION`; saying it there scores 1. Saying it on an answerable task
scores ``-abstain_penalty`` (the spec's): with an unanswerable share ``s`` and a penalty ``p``,
abstaining everywhere earns ``s - (1 - s) p``, below the 0 of honest wrong answers whenever
``p > s / (1 - s)`` (:func:`check_abstention`).

**Long-form profiles** (Search-Gen-V's nuggets, CaRR's citations): free text with citations,
graded against the episode (what its searches returned) by :mod:`searchgym.nuggets`; the
answer keeps its citations (:func:`keeps_citations`), since they are what is graded.

**One table of forms.** Each form is an :class:`AnswerForm` in :data:`ANSWER_FORMS`, keyed by
the task's ``meta["answer_kind"]``, registered with one :func:`register_answer_form` line: its
scorer, its own terms and which of them the env's ``reward`` metric pays. :func:`score_form`
dispatches on it, and everything that scores an answer (the env's built-in reward, the
``answer`` reward term, hence every trainer path) goes through
:func:`searchgym.envs.answer_table.score_answer_step`, so a new form is scored the same everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from searchgym.metrics import normalize_answer

__all__ = [
    "ABSTENTION",
    "ABSTENTION_NOTE",
    "ANSWER_FORMS",
    "LIST_NOTE",
    "AnswerForm",
    "AnswerScore",
    "abstains",
    "answer_form",
    "PROFILE_NOTE",
    "check_abstention",
    "keeps_citations",
    "max_list_items",
    "parse_list",
    "register_answer_form",
    "score_form",
]

ABSTENTION = "unanswerable"
ABSTENTION_NOTE = f'If the corpus cannot answer the question, answer "{ABSTENTION}".'
LIST_NOTE = "List every one, separated by semicolons."
PROFILE_NOTE = (
    "Write one sentence per fact, each followed by a citation of a passage you retrieved that "
    "states it, as [doc: <id>]."
)
_ITEM_SEPARATORS = re.compile(r"\s*(?:[;\n\t\u2022|]|,(?!\d{3}))\s*")
_LEADING = re.compile(r"^(?:[-*]\s+|and\s+|or\s+)", re.IGNORECASE)  # "A, B and C": the last item's "and"


def max_list_items(gold_size: int) -> int:
    """The longest list that is still scored: twice the gold size, and at least 3 more than it."""
    return max(2 * gold_size, gold_size + 3)


def parse_list(prediction: str | None) -> list[str]:
    """The distinct normalised items of a list answer, in order."""
    if not prediction:
        return []
    items = (normalize_answer(_LEADING.sub("", piece.strip())) for piece in _ITEM_SEPARATORS.split(prediction))
    return list(dict.fromkeys(item for item in items if item))


def abstains(prediction: str | None) -> bool:
    return prediction is not None and normalize_answer(prediction) == normalize_answer(ABSTENTION)


def check_abstention(share: float, penalty: float) -> None:
    """Refuse settings under which abstaining everywhere beats answering (see the module doc)."""
    if share > 0 and penalty <= share / (1 - share):
        raise ValueError(
            f"abstain_penalty={penalty} lets abstaining everywhere pay with an unanswerable share of "
            f"{share}: it must exceed share / (1 - share) = {share / (1 - share):.3f}"
        )


def keeps_citations(meta: dict[str, Any]) -> bool:
    """Whether this task's answer is graded with its citations (a long-form profile)."""
    return meta.get("answer_kind") == "longform"


class AnswerScore(dict):
    """``em``, ``f1``, ``abstained``, ``penalised`` and the form's own terms (for lists
    ``set_f1`` / ``set_exact``, for profiles ``nugget_recall`` / ``citation_support`` /
    ``contradictions``), all floats: the reward terms of one answer (``penalised``: the
    answer abstained on an answerable task, whose reward is then ``-abstain_penalty`` whatever
    the metric)."""


FormScorer = Callable[[dict[str, Any], "str | None", Any], dict[str, float]]


@dataclass(frozen=True)
class AnswerForm:
    """How the answers to tasks of one ``meta["answer_kind"]`` are scored.

    Attributes:
        kind: the ``answer_kind`` it scores.
        score: ``(meta, prediction, episode) -> {"em", "f1", *terms}``; ``episode`` is the
            running :class:`~searchgym.envs.episode.Episode` (its ``task``, ``state``, ``engine``
            and ``bundle``) for forms graded against what the episode retrieved, or ``None``
            where no episode runs.
        terms: the form's own terms, reported (as 0.0) when an abstention on an answerable
            task replaces the form's grade.
        abstention_answers: the declared abstention *is* this form's answer (never penalised).
        metric_terms: which score the env's ``reward`` metric pays: ``{metric: key}``; a metric
            not listed pays ``em`` (a list pays its set F1 under ``"f1"``, its exact set match
            otherwise, since substring credit means nothing for a set).
    """

    kind: str
    score: FormScorer
    terms: tuple[str, ...] = ()
    abstention_answers: bool = False
    metric_terms: Mapping[str, str] = field(default_factory=lambda: {"f1": "f1"})

    def reward_key(self, metric: str) -> str:
        return self.metric_terms.get(metric, "em")


#: The registry of non-classic answer forms, by ``answer_kind`` (:func:`register_answer_form`).
ANSWER_FORMS: dict[str, AnswerForm] = {}


def register_answer_form(form: AnswerForm) -> AnswerForm:
    """Add a form to :data:`ANSWER_FORMS` (one line per form); every scorer of answers (the env's
    built-in reward, ``AnswerTerm`` in specs and wrappers, every trainer path) dispatches here."""
    if form.kind in ANSWER_FORMS and ANSWER_FORMS[form.kind] != form:
        raise ValueError(f"answer form {form.kind!r} is already registered")
    ANSWER_FORMS[form.kind] = form
    return form


def answer_form(meta: Mapping[str, Any]) -> AnswerForm | None:
    """The registered form of a task (``None``: a classic single answer)."""
    kind = meta.get("answer_kind")
    if kind is None:
        return None
    form = ANSWER_FORMS.get(kind)
    if form is None:
        raise ValueError(f"task answer_kind {kind!r} has no registered answer form; known: {sorted(ANSWER_FORMS)}")
    return form


def _list_scores(prediction: str | None, members: Sequence[Sequence[str]]) -> tuple[float, float]:
    items = parse_list(prediction)
    if not items or len(items) > max_list_items(len(members)):
        return 0.0, 0.0
    gold = [{normalize_answer(alias) for alias in aliases} for aliases in members]
    matched: set[int] = set()
    for item in items:
        hit = next((i for i, aliases in enumerate(gold) if i not in matched and item in aliases), None)
        if hit is not None:
            matched.add(hit)
    if not matched:
        return 0.0, 0.0
    precision, recall = len(matched) / len(items), len(matched) / len(gold)
    exact = float(len(matched) == len(gold) == len(items))
    return 2 * precision * recall / (precision + recall), exact


def _score_list(meta: dict[str, Any], prediction: str | None, episode: Any) -> dict[str, float]:
    f1, exact = _list_scores(prediction, meta["answer_set"])
    return {"em": exact, "f1": f1, "set_f1": f1, "set_exact": exact}


def _score_unanswerable(meta: dict[str, Any], prediction: str | None, episode: Any) -> dict[str, float]:
    abstained = float(abstains(prediction))
    return {"em": abstained, "f1": abstained}


def _score_longform(meta: dict[str, Any], prediction: str | None, episode: Any) -> dict[str, float]:
    """A profile is graded against its episode: the passages its searches returned (issue 13)."""
    if episode is None:
        raise ValueError("a long-form answer is graded against its episode: pass episode=")
    from searchgym.nuggets import grade_longform
    from searchgym.search.base import shows_agent_text

    return grade_longform(
        meta,
        prediction,
        episode.task.evidence,
        episode.state.shown,
        episode.bundle.world,
        trusted=not shows_agent_text(episode.engine),
    )


#: the terms of a long-form grade (:data:`searchgym.nuggets.LONGFORM_TERMS`; not imported here,
#: which would load the claim reader with every import of this module)
_LONGFORM_TERMS = ("nugget_recall", "citation_support", "contradictions")

register_answer_form(AnswerForm("list", _score_list, terms=("set_f1", "set_exact")))
register_answer_form(AnswerForm("unanswerable", _score_unanswerable, abstention_answers=True))
register_answer_form(AnswerForm("longform", _score_longform, terms=_LONGFORM_TERMS))


def score_form(
    meta: dict[str, Any], prediction: str | None, abstain_penalty: float = 0.0, episode: Any = None
) -> AnswerScore | None:
    """The scores of an answer to a task of a registered form (``meta["answer_kind"]``), or
    ``None`` for a classic single answer (scored by :mod:`searchgym.answer_guard`).
    ``abstain_penalty`` applies to an abstention on any answerable task, classic ones included
    (pass it for every task); ``episode`` is handed to the form's scorer (see :class:`AnswerForm`)."""
    form = answer_form(meta)
    abstained = float(abstains(prediction))
    if form is not None and form.abstention_answers:
        return AnswerScore(form.score(meta, prediction, episode), abstained=abstained, penalised=0.0)
    if abstained and abstain_penalty:
        zeros = dict.fromkeys(form.terms, 0.0) if form is not None else {}
        return AnswerScore(em=0.0, f1=0.0, abstained=1.0, penalised=1.0, **zeros)
    if form is None:
        return None
    return AnswerScore(form.score(meta, prediction, episode), abstained=0.0, penalised=0.0)
