"""Trivial priors: what a policy scores without searching, from the question's form alone.

Each prior is a function of the tasks it may learn from (another split, or the others of the
same split: leave-one-out) and the task it answers, scored by exact match after normalisation.
An honest benchmark keeps every one of them near chance (``1/options``, where ``options`` is how
many answers the question form admits).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from searchgym.metrics import exact_match
from searchgym.types import Task

__all__ = ["PriorScore", "count_prior", "first_option", "form_prior_cross", "form_prior_loo", "most_common_count_share"]

COMPARISON_TYPES = ("comparison", "bridge_comparison")


def _key(answer: str) -> str:
    return answer.casefold().strip()


class PriorScore(dict):
    """``{"em": ..., "n": ..., "chance": ...}``: the prior's EM, on how many tasks, against what chance."""


def _score(hits: Sequence[float], chance: Sequence[float]) -> PriorScore:
    n = len(hits)
    return PriorScore(em=sum(hits) / n if n else 0.0, n=n, chance=sum(chance) / n if n else 0.0)


def first_option(tasks: Sequence[Task], position: int = 0) -> PriorScore:
    """Answer the option named first (``position=0``) or second (``1``) of a comparison."""
    chosen = [t for t in tasks if t.task_type in COMPARISON_TYPES and len(t.topic_entities) == 2]
    hits = []
    for task in chosen:
        option = task.meta.get("option_names", [None, None])[position]
        hits.append(exact_match(option, task.answers) if option else 0.0)
    return _score(hits, [0.5] * len(chosen))


def _options(task: Task) -> int:
    return max(1, int(task.meta.get("options", 1)))


def form_prior_cross(learn_from: Sequence[Task], tasks: Sequence[Task]) -> PriorScore:
    """For each question form, answer the form's most common answer among ``learn_from``."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    surface: dict[str, str] = {}
    for task in learn_from:
        counts[task.meta["form"]][_key(task.answer)] += 1
        surface[_key(task.answer)] = task.answer
    hits, chance = [], []
    for task in tasks:
        form = counts.get(task.meta["form"])
        guess = surface[form.most_common(1)[0][0]] if form else None
        hits.append(exact_match(guess, task.answers) if guess is not None else 0.0)
        chance.append(1.0 / _options(task))
    return _score(hits, chance)


def form_prior_loo(tasks: Sequence[Task]) -> tuple[PriorScore, dict[str, PriorScore]]:
    """Leave-one-out within a split: the most common answer of the task's form among the other
    tasks (ties: the first seen). Returns the overall score and the score of each form."""
    by_form: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        by_form[task.meta["form"]].append(task)
    all_hits, all_chance = [], []
    per_form: dict[str, PriorScore] = {}
    for form, members in by_form.items():
        counts = Counter(_key(t.answer) for t in members)
        hits = []
        for task in members:
            key = _key(task.answer)
            counts[key] -= 1
            best = max(counts.values(), default=0)
            # the guess is right when the task's own answer is (one of) the most common others
            hits.append(1.0 if best > 0 and counts[key] == best and _unique_best(counts, key) else 0.0)
            counts[key] += 1
        chance = [1.0 / _options(t) for t in members]
        per_form[form] = _score(hits, chance)
        all_hits += hits
        all_chance += chance
    return _score(all_hits, all_chance), per_form


def _unique_best(counts: Counter[str], key: str) -> bool:
    """Whether ``key`` wins the most-common tie-break (the prior picks one answer)."""
    best = max(counts.values())
    leaders = sorted(k for k, v in counts.items() if v == best)
    return leaders[0] == key


def most_common_count_share(tasks: Sequence[Task]) -> tuple[str | None, float, int]:
    """The most common counting answer, its share among counting tasks, and their number."""
    answers = Counter(t.answer for t in tasks if t.task_type == "counting")
    total = sum(answers.values())
    if not total:
        return None, 0.0, 0
    answer, count = answers.most_common(1)[0]
    return answer, count / total, total


def count_prior(learn_from: Sequence[Task], tasks: Sequence[Task]) -> PriorScore:
    """Answer every counting task with the most common count of ``learn_from``."""
    answer, _, _ = most_common_count_share(learn_from)
    counting = [t for t in tasks if t.task_type == "counting"]
    values = {t.answer for t in learn_from if t.task_type == "counting"} or {"1"}
    hits = [exact_match(answer, t.answers) if answer else 0.0 for t in counting]
    return _score(hits, [1.0 / len(values)] * len(counting))
