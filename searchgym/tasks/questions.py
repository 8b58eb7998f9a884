"""Word a task's question from the schema's wording, the way a person would write it.

Every question form has several wordings (chosen by the task's random generator, so the same
seed gives the same question), nested noun phrases read inside-out ("the birthplace of the
director of X"), possessive wordings are used only on plain names, and a candidate wording
with a known defect (:mod:`searchgym.corpus.style`) is redrawn rather than kept.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from searchgym.corpus.style import wording_defects
from searchgym.world.wording import Wording

__all__ = ["QuestionWriter", "WordingExhausted"]

_TRIES = 16


class WordingExhausted(ValueError):
    """No wording of this form reads without a defect (the task is dropped)."""


def _possessive(template: str) -> bool:
    return "{x}'s" in template or "{a}'s" in template


class QuestionWriter:
    """Question and noun-phrase wording for one world's schema."""

    def __init__(self, wording: Wording, type_of: Callable[[str], str]) -> None:
        self.wording = wording
        self.type_of = type_of

    def _pick(self, rng: np.random.Generator, options: tuple[str, ...], *, nested: bool) -> str:
        usable = [o for o in options if not (nested and _possessive(o))] or list(options)
        return self.wording.pick(rng, usable)

    def _clean(self, rng: np.random.Generator, make: Callable[[np.random.Generator], str]) -> str:
        for _ in range(_TRIES):
            text = make(rng)
            if not wording_defects(text):
                return text[:1].upper() + text[1:]
        raise WordingExhausted(f"every wording tried has a defect, e.g. {text!r}")

    def noun_phrase(self, rng: np.random.Generator, steps: list[tuple[str, str]], topic_name: str) -> str:
        """ "the country of the birthplace of X" for steps [(born_in, forward), (located_in, forward)]."""
        phrase, nested = topic_name, False
        for relation, direction in steps:
            words = self.wording.relations[relation]
            options = words.noun if direction == "forward" else words.inverse_noun
            phrase = self._pick(rng, options, nested=nested).format(x=phrase)
            nested = True
        return phrase

    def chain(self, rng: np.random.Generator, steps: list[tuple[str, str]], topic_name: str) -> str:
        """The question of a chain whose last step is ``steps[-1]`` (direction ``forward``,
        ``inverse`` or ``attribute``) and whose earlier steps are read as noun phrases."""

        def make(draw: np.random.Generator) -> str:
            phrase = self.noun_phrase(draw, steps[:-1], topic_name)
            relation, direction = steps[-1]
            if direction == "attribute":
                options = self.wording.attributes[relation].question
            elif direction == "forward":
                options = self.wording.relations[relation].question
            else:
                options = self.wording.relations[relation].inverse_question
            return self._pick(draw, options, nested=len(steps) > 1).format(x=phrase)

        return self._clean(rng, make)

    def comparison(
        self, rng: np.random.Generator, type_name: str, attribute: str, larger: bool, first: str, second: str
    ) -> str:
        type_wording = self.wording.types[type_name]
        words = self.wording.attributes[attribute]

        def make(draw: np.random.Generator) -> str:
            predicate = self._pick(draw, words.larger if larger else words.smaller, nested=False)
            template = self._pick(draw, self.wording.questions["comparison"], nested=False)
            return template.format(
                type=type_wording.noun, plural=type_wording.plural, predicate=predicate, a=first, b=second
            )

        return self._clean(rng, make)

    def bridge_comparison(
        self,
        rng: np.random.Generator,
        type_name: str,
        relation: str,
        attribute: str,
        larger: bool,
        first: str,
        second: str,
    ) -> str:
        type_wording = self.wording.types[type_name]
        bridge_words = self.wording.relations[relation].bridge
        words = self.wording.attributes[attribute]

        def make(draw: np.random.Generator) -> str:
            predicate = self._pick(draw, words.larger if larger else words.smaller, nested=False)
            bridge = self._pick(draw, bridge_words, nested=False)
            template = self._pick(draw, self.wording.questions["bridge_comparison"], nested=False)
            return template.format(
                type=type_wording.noun,
                plural=type_wording.plural,
                bridge=bridge,
                predicate=predicate,
                a=first,
                b=second,
            )

        return self._clean(rng, make)

    def intersection(
        self, rng: np.random.Generator, type_name: str, first: tuple[str, str], second: tuple[str, str]
    ) -> str:
        """Which <type> <filter of first> and <filter of second>? (relation, object name) each."""
        type_wording = self.wording.types[type_name]
        (r1, o1), (r2, o2) = first, second

        def make(draw: np.random.Generator) -> str:
            if r1 == r2:
                pair = self.wording.relations[r1].filter_pair
                if not pair:
                    raise WordingExhausted(f"{r1} has no filter_pair wording for two objects")
                f = self._pick(draw, pair, nested=False).format(o1=o1, o2=o2)
                template = self._pick(draw, self.wording.questions["intersection_same"], nested=False)
                return template.format(type=type_wording.noun, plural=type_wording.plural, f=f)
            f1 = self._pick(draw, self.wording.relations[r1].filter, nested=False).format(o=o1)
            f2 = self._pick(draw, self.wording.relations[r2].filter, nested=False).format(o=o2)
            template = self._pick(draw, self.wording.questions["intersection"], nested=False)
            return template.format(type=type_wording.noun, plural=type_wording.plural, f1=f1, f2=f2)

        return self._clean(rng, make)

    def counting(self, rng: np.random.Generator, relation: str, subject_name: str) -> str:
        options = self.wording.relations[relation].count
        return self._clean(rng, lambda draw: self._pick(draw, options, nested=False).format(x=subject_name))
