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
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from searchgym.metrics import normalize_answer

__all__ = [
    "ABSTENTION",
    "ABSTENTION_NOTE",
    "LIST_NOTE",
    "AnswerScore",
    "abstains",
    "PROFILE_NOTE",
    "check_abstention",
    "keeps_citations",
    "max_list_items",
    "parse_list",
    "score_form",
]

ABSTENTION = "unanswerable"
ABSTENTION_NOTE = f'If the corpus cannot answer the question, answer "{ABSTENTION}".'
LIST_NOTE = "List every one, separated by semicolons."
PROFILE_NOTE = ("Write one sentence per fact, each followed by a citation of a passage you retrieved that "
                "states it, as [doc: <id>].")
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
        raise ValueError(f"abstain_penalty={penalty} lets abstaining everywhere pay with an unanswerable share of "
                         f"{share}: it must exceed share / (1 - share) = {share / (1 - share):.3f}")


def keeps_citations(meta: dict[str, Any]) -> bool:
    """Whether this task's answer is graded with its citations (a long-form profile)."""
    return meta.get("answer_kind") == "longform"


class AnswerScore(dict):
    """``em``, ``f1``, ``abstained``, ``penalised`` and, for lists, ``set_f1`` / ``set_exact``,
    for profiles ``nugget_recall`` / ``citation_support`` / ``contradictions`` (floats): the
    reward terms of one answer (``penalised``: the answer abstained on an answerable task,
    whose reward is then ``-abstain_penalty`` whatever the metric)."""


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


def score_form(meta: dict[str, Any], prediction: str | None, abstain_penalty: float = 0.0,
               env: Any = None) -> AnswerScore | None:
    """The scores of an answer to a task of a non-classic form (``meta["answer_kind"]``), or
    ``None`` for a classic single answer (scored as before). ``abstain_penalty`` applies to an
    abstention on any answerable task, classic ones included (pass it for every task). A
    long-form answer is graded against the episode: ``env`` is the episode (or unwrapped env)
    whose task it answers (its ``task``, ``state``, ``bundle`` and ``engine`` are read)."""
    kind = meta.get("answer_kind")
    abstained = float(abstains(prediction))
    if kind == "unanswerable":
        return AnswerScore(em=abstained, f1=abstained, abstained=abstained, penalised=0.0)
    from searchgym.nuggets import LONGFORM_TERMS, grade_longform

    listed = ({"set_f1": 0.0, "set_exact": 0.0} if kind == "list"
              else dict.fromkeys(LONGFORM_TERMS, 0.0) if kind == "longform" else {})
    if abstained and abstain_penalty:
        return AnswerScore(em=0.0, f1=0.0, abstained=1.0, penalised=1.0, **listed)
    if kind == "longform":
        if env is None:
            raise ValueError("a long-form answer is graded against its episode: pass env=")
        from searchgym.search.base import shows_agent_text

        graded = grade_longform(meta, prediction, env.task.evidence, env.state.shown, env.bundle.world,
                                trusted=not shows_agent_text(env.engine))
        return AnswerScore(**graded, abstained=abstained, penalised=0.0)
    if kind == "list":
        f1, exact = _list_scores(prediction, meta["answer_set"])
        return AnswerScore(em=exact, f1=f1, set_f1=f1, set_exact=exact, abstained=0.0, penalised=0.0)
    return None
