"""Can the question text alone tell a false premise from an answerable question?

An abstention reward is only honest if the agent must *search* to find that a premise fits no
entity. If false-premise questions read differently (other wording, other lengths, decades or
categories the generator only uses for them), a policy learns to abstain on the text and never
searches. This measure trains a class-balanced logistic regression on word unigrams and bigrams of one
set of questions (the train split's, or half of the split when no train split is audited) and
reports its balanced accuracy on the other, over the false-premise tasks and the answerable
tasks made like them (obfuscated questions); chance is 0.5. A linear model on n-grams, fitted
by plain gradient descent in numpy: deterministic, dependency-free, and it finds any word or
phrase that marks one class (a planted one-word tell scores about 1.0) — the tell a policy's
gradient would find first.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from searchgym.types import Task

__all__ = ["FALSE_PREMISE_TYPES", "premise_tell"]

#: (false-premise type, the answerable types built the same way)
FALSE_PREMISE_TYPES = ("unanswerable", ("obfuscated",))
_WORD = re.compile(r"\w+")
_MIN_COUNT = 3  # features in fewer learning questions are noise


def _features(question: str) -> set[str]:
    words = _WORD.findall(question.casefold())
    return {*words, *(f"{a} {b}" for a, b in zip(words, words[1:]))}


def _split(tasks: Sequence[Task]) -> tuple[list[Task], list[Task]]:
    false_type, answerable = FALSE_PREMISE_TYPES
    return (
        [t for t in tasks if t.task_type in answerable],
        [t for t in tasks if t.task_type == false_type],
    )


def _matrix(questions: Sequence[str], vocabulary: dict[str, int]) -> np.ndarray:
    rows = np.zeros((len(questions), len(vocabulary) + 1), dtype=np.float64)
    rows[:, -1] = 1.0  # intercept
    for row, question in enumerate(questions):
        for feature in _features(question):
            column = vocabulary.get(feature)
            if column is not None:
                rows[row, column] = 1.0
    return rows


def _fit(x: np.ndarray, y: np.ndarray, steps: int = 300, l2: float = 1.0) -> np.ndarray:
    """Class-balanced L2 logistic regression by full-batch gradient descent (deterministic)."""
    weights = np.where(y == 1, 0.5 / max(1, int(y.sum())), 0.5 / max(1, int((1 - y).sum())))
    theta = np.zeros(x.shape[1])
    rate = 1.0 / (0.25 * float(np.max((x * x).sum(axis=1))) + l2 / len(y))  # 1 / Lipschitz constant
    for _ in range(steps):
        predicted = 1.0 / (1.0 + np.exp(-(x @ theta)))
        gradient = x.T @ (weights * (predicted - y)) + (l2 / len(y)) * np.r_[theta[:-1], 0.0]
        theta -= rate * gradient
    return theta


def premise_tell(learn: Sequence[Task], tasks: Sequence[Task]) -> dict[str, float] | None:
    """Balanced accuracy of a text-only false-premise classifier learned on ``learn`` and
    scored on ``tasks`` (``learn is tasks``: learned on the even positions, scored on the odd);
    ``None`` when either set lacks one of the two classes."""
    if learn is tasks:
        learn, tasks = list(tasks)[0::2], list(tasks)[1::2]
    train_sets, test_sets = _split(learn), _split(tasks)
    if not all(train_sets) or not all(test_sets):
        return None
    questions = [t.question for group in train_sets for t in group]
    labels = np.array([label for label, group in enumerate(train_sets) for _ in group], dtype=np.float64)
    frequency = Counter(f for q in questions for f in _features(q))
    vocabulary = {f: i for i, f in enumerate(sorted(f for f, n in frequency.items() if n >= _MIN_COUNT))}
    theta = _fit(_matrix(questions, vocabulary), labels)
    recalls = [
        float(np.mean((_matrix([t.question for t in group], vocabulary) @ theta > 0) == bool(label)))
        for label, group in enumerate(test_sets)
    ]
    return {
        "balanced_accuracy": sum(recalls) / 2,
        "answerable_n": float(len(test_sets[0])),
        "false_premise_n": float(len(test_sets[1])),
        "chance": 0.5,
    }
