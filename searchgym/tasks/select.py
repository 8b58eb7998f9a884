"""Which verified candidates become tasks: depth acceptance and prior balancing.

A benchmark can be gamed by priors as well as by shortcuts: "always answer 1" on counting,
"the first-named option" on comparisons, "the most common capital" on a question form. The
selector keeps every such prior near chance while it fills each stratum's quota:

* within a question form, no answer is accepted more often than ``1/options + margin`` of the
  form's tasks so far (at least once), where ``options`` is how many answers the form admits;
* comparison winners alternate between the first- and second-named option (the maker is
  told which position to use next);
* counts are a question form too, so the most common count stays near ``1/max_count``.

Depth acceptance (applied before balancing): every evidence unit must be reachable by the
knowledge-free agent; a task of ``h >= 2`` hops needs at least ``h`` searches (its lower bound,
so inexact measurements only pass when provably deep enough) and must not have its answer
surfaced by one search of the question text (neither the answer's evidence nor, for entity
answers, the answer's name among the results).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from searchgym.tasks.candidates import Candidate
from searchgym.tasks.depth import Depth

__all__ = ["PRIOR_MARGIN", "Balancer", "accept_deep", "accept_depth"]

PRIOR_MARGIN = 0.03  # under the audit's 0.05 budget, so sampling noise does not break it


def accept_depth(candidate: Candidate, depth: Depth, answer_revealed: bool) -> str | None:
    """``None`` when the task's measured depth matches its label, else why it is rejected."""
    if depth.min_searches is None:
        return "unreachable"
    if candidate.hops >= 2:
        if depth.lower_bound is None or depth.lower_bound < candidate.hops:
            return "shallower than its hops"
        if all(depth.question_covers[i] for i in candidate.answer_units):
            return "question search retrieves the answer's evidence"
        if answer_revealed:
            return "question search names the answer"
    return None


def accept_deep(candidate: Candidate, depth: Depth, answer_revealed: bool) -> str | None:
    """The same shortcut checks for an obfuscated candidate, whose depth is not a hop label:
    every unit reachable, the question search (with the local descriptions it allows) neither
    retrieves all the answer's evidence nor names the answer. Its tier is decided after."""
    if depth.min_searches is None:
        return "unreachable"
    if all(depth.question_covers[i] for i in candidate.answer_units):
        return "question search retrieves the answer's evidence"
    if answer_revealed:
        return "question search names the answer"
    return None


class Balancer:
    """Online caps on answer frequency per question form (see the module docstring)."""

    def __init__(self, margin: float = PRIOR_MARGIN) -> None:
        self.margin = margin
        self.form_total: Counter[str] = Counter()
        self.answer_count: dict[str, Counter[str]] = defaultdict(Counter)

    def _caps(self, candidate: Candidate) -> list[tuple[str, float]]:
        return [(candidate.form, 1.0 / max(1, candidate.options) + self.margin), *candidate.extra_caps]

    def allows(self, candidate: Candidate) -> bool:
        answer = candidate.answer.casefold()
        for group, share in self._caps(candidate):
            allowance = share * (self.form_total[group] + 1)
            # Rounding down keeps a form of many possible answers (years, names) free of repeats
            # until it is large; a form of few answers (counts, categories) would deadlock that
            # way once each answer is used once, so it rounds up instead.
            many = candidate.options * share >= 2 if group == candidate.form else False
            limit = max(1, math.floor(allowance)) if many else math.ceil(allowance)
            if self.answer_count[group][answer] >= limit:
                return False
        return True

    def add(self, candidate: Candidate) -> None:
        for group, _ in self._caps(candidate):
            self.form_total[group] += 1
            self.answer_count[group][candidate.answer.casefold()] += 1
