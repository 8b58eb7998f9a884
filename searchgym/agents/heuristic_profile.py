"""The heuristic agent's long-form mode: an extractive, cited profile (no learning, no LLM).

"Write a short profile of X covering A, B and C" is what pre-LLM query-focused summarisers did
by extraction: find the subject, then for each requested aspect search "X aspect" and copy the
result sentence that is about X and carries the aspect's cue words, citing the passage it came
from. A described subject ("the mentor of the employer of Y") is resolved first, innermost step
first: search "Y employer", take the new name from the best sentence about Y, and so on — the
same bridge-following as the classic heuristic's chains.

It reads only what any agent reads (the prompt and ``info["results"]``) and writes only text it
retrieved, so it is a reference point for the long-form rubric between the random floor and the
oracle, not a strong system: it fails when a page states an aspect without its cue words, when
a sentence about X is phrased from another entity's side, or when a bridge step picks the wrong
name.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["ProfilePlan", "parse_profile_question"]

_PROFILE = re.compile(
    r"profile of (?P<subject>.+?)(?:,? citing sources,)? (?:covering|that covers|describing) (?P<aspects>.+?)\?"
)
_STEP = re.compile(r"^the (?P<aspect>[a-z][a-z ]*?) of (?P<rest>.+)$")
_NAME = re.compile(r"[A-Z][\w'-]*(?: (?:of|from|to|in|the)? ?[A-Z][\w'-]*)*")
_SPLIT = re.compile(r"(?<=[.!?])\s+| · ")
_PRONOUNS = re.compile(r"\b(?:he|she|it|its|his|her|they|their)\b", re.IGNORECASE)
# Words a page uses for an aspect besides the aspect's own (crude five-letter stems, as the
# classic heuristic's). Keys are aspect words; any one cue matching is enough.
_CUES: dict[str, tuple[str, ...]] = {
    "birth": ("born",),
    "birthplace": ("born",),
    "height": ("tall", "cm", "heigh", "stand"),
    "founding": ("found", "estab"),
    "employees": ("emplo", "workf", "staff"),
    "headquarters": ("headq", "based"),
    "population": ("popul", "inhab", "peopl"),
    "area": ("area", "km2", "squar"),
    "university": ("unive", "studi", "gradu", "educa", "alumn"),
    "occupation": ("occup", "profe", "works"),
    "capital": ("capit",),
    "country": ("count", "locat", "lies"),
    "mentor": ("mento", "train", "taugh"),
    "director": ("direc",),
    "producer": ("produ",),
    "founder": ("found",),
    "industry": ("indus", "secto"),
    "genre": ("genre",),
    "running": ("minut", "runni"),
    "release": ("relea", "premi"),
    "students": ("stude", "enrol"),
}
_STOP = {"the", "of", "a", "an", "number", "year"}


def parse_profile_question(question: str) -> tuple[list[str], str, list[str]] | None:
    """``(steps, anchor, aspects)`` of a profile question, or None if it asks for no profile.

    ``steps`` are the description's relation words from the outside in ("the country of the
    birthplace of Y" gives ``["country", "birthplace"]``), ``anchor`` the named entity it starts
    from (the subject itself when ``steps`` is empty)."""
    match = _PROFILE.search(question)
    if match is None:
        return None
    subject, steps = match.group("subject"), []
    while (step := _STEP.match(subject)) is not None:
        steps.append(step.group("aspect"))
        subject = step.group("rest")
    aspects = [
        a.strip().removeprefix("the ").strip() for a in re.split(r", | and ", match.group("aspects")) if a.strip()
    ]
    return steps, subject, aspects


def _cues(aspect: str) -> set[str]:
    words = [w for w in re.findall(r"[a-z]+", aspect.lower()) if w not in _STOP]
    cues = {w[:5] for w in words}
    for word in words:
        cues.update(_CUES.get(word, ()))
    return cues


def _sentences(record: dict[str, Any]) -> list[str]:
    return [s.strip() for s in _SPLIT.split(str(record.get("text", ""))) if s.strip()]


def _about(sentence: str, record: dict[str, Any], subject: str) -> bool:
    """Whether a sentence is about ``subject``: it names it, or it stands on the subject's own
    page and refers to it by pronoun."""
    if subject.lower() in sentence.lower():
        return True
    return str(record.get("title", "")).lower() == subject.lower() and bool(_PRONOUNS.search(sentence))


def _cue_positions(sentence: str, cues: set[str]) -> list[int]:
    """Where the sentence's words that start with a cue begin ("count" meets "country", not
    "accounts")."""
    return [
        m.start() for m in re.finditer(r"[a-z0-9]+", sentence.lower()) if any(m.group().startswith(c) for c in cues)
    ]


def _has_cue(sentence: str, cues: set[str]) -> bool:
    return bool(_cue_positions(sentence, cues))


class ProfilePlan:
    """One profile episode: resolve the described subject, then one search per aspect."""

    def __init__(self, question: str, steps: list[str], anchor: str, aspects: list[str]) -> None:
        self.question = question.lower()
        self.pending = list(reversed(steps))  # innermost step first
        self.subject = anchor
        self.aspects = aspects
        self.written: list[str] = []
        self.cited: set[str] = set()
        self.asked: str | None = None  # the step or aspect the last search was for

    def _bridge(self, records: list[dict[str, Any]], aspect: str) -> str | None:
        """The new name nearest the step's cue word in the first result sentence about the
        current subject that has one ("Y is the founder of X, Z and W": Y)."""
        cues = _cues(aspect)
        for record in records:
            for sentence in _sentences(record):
                cue_at = _cue_positions(sentence, cues)
                if not (cue_at and _about(sentence, record, self.subject)):
                    continue
                names = [
                    (min(abs(m.start() - c) for c in cue_at), m.group())
                    for m in _NAME.finditer(sentence)
                    if m.group().lower() != self.subject.lower()
                    and m.group().lower() not in self.question
                    and m.group() not in ("The", "A", "He", "She", "It", "His", "Her", "Its")
                ]
                if names:
                    return min(names)[1]
        return None

    def _extract(self, records: list[dict[str, Any]], aspect: str) -> str | None:
        """The best sentence about the subject stating ``aspect``, with its passage cited."""
        cues = _cues(aspect)
        for record in records:
            doc_id = str(record.get("doc_id", ""))
            for sentence in _sentences(record):
                if _about(sentence, record, self.subject) and _has_cue(sentence, cues):
                    self.cited.add(doc_id)
                    return f"{sentence.rstrip('.!?')} [doc: {doc_id}]."
        return None

    def act(self, info: dict[str, Any]) -> str:
        records = [r for r in info.get("results", []) if isinstance(r, dict)]
        if self.asked is not None and records:
            if self.pending and self.asked == self.pending[0]:
                found = self._bridge(records, self.pending.pop(0))
                self.subject = found or self.subject
            elif self.aspects and self.asked == self.aspects[0]:
                sentence = self._extract(records, self.aspects.pop(0))
                if sentence and sentence not in self.written:  # one sentence may state two aspects
                    self.written.append(sentence)
        elif self.asked is not None:  # nothing came back: skip what was asked
            if self.pending and self.asked == self.pending[0]:
                self.pending.pop(0)
            elif self.aspects and self.asked == self.aspects[0]:
                self.aspects.pop(0)
        if self.pending:
            self.asked = self.pending[0]
            return f"<search>{self.subject} {self.asked}</search>"
        if self.aspects:
            self.asked = self.aspects[0]
            return f"<search>{self.subject} {self.asked}</search>"
        return f"<answer>{' '.join(self.written) or self.subject}</answer>"
