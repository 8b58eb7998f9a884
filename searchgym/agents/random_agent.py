"""A random agent: the floor every learned agent must beat.

It searches random words of the question, opens random documents it has seen and answers a
random capitalised span from what it read. All draws come from a generator seeded per episode.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

_ID = re.compile(r"\[id: ([^\]]+)\]")
_NAME = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*")


class RandomAgent:
    name = "random"

    def __init__(self, answer_prob: float = 0.25) -> None:
        self.answer_prob = answer_prob
        self._rng = np.random.default_rng(0)
        self._question_words: list[str] = []
        self._seen_ids: list[str] = []
        self._seen_names: list[str] = []

    def begin(self, observation: str, info: dict[str, Any], seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        question = observation.rsplit("Question:", 1)[-1]
        self._question_words = re.findall(r"\w+", question) or ["search"]
        self._seen_ids, self._seen_names = [], _NAME.findall(question)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        self._seen_ids += _ID.findall(observation)
        self._seen_names += _NAME.findall(observation)
        draw = self._rng.random()
        if draw < self.answer_prob and self._seen_names:
            return f"<answer>{self._seen_names[int(self._rng.integers(len(self._seen_names)))]}</answer>"
        if draw < 0.4 and self._seen_ids:
            return f"<access>{self._seen_ids[int(self._rng.integers(len(self._seen_ids)))]}</access>"
        size = min(len(self._question_words), int(self._rng.integers(1, 5)))
        words = self._rng.choice(self._question_words, size=size, replace=False)
        return f"<search>{' '.join(words)}</search>"
