"""A classical multi-hop heuristic agent (no learning, no LLM).

Iterative retrieval in the style of pre-LLM multi-hop QA pipelines: search, rank sentences by
(stemmed) overlap with the question, take from the best one that yields something an entity
name (intermediate hops) or the answer (last hop), search that entity, and repeat once per
estimated hop. Comparisons search both options and compare the numbers
found next to the attribute's cue word. It is a reference point between the random floor and
the oracle ceiling, not a strong system.
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium as gym

_STOP = set("a an the of in on at by to is was were are did does do which what who whom whose how many "
            "much year and or for from with as it its their".split())
_NAME = re.compile(r"[A-Z][\w'-]*(?: (?:of|from|and|to|the)? ?[A-Z][\w'-]*)*")
_NUMBER = re.compile(r"\b\d[\d,]*\b")
_YEAR = re.compile(r"\b(1\d{3}|20\d{2})\b")
_DOC = re.compile(r"Doc \d+ \(Title: (?P<title>[^)]*)\)(?: \[id: [^\]]+\])? (?P<text>.*)")
_COMPARISON = re.compile(r"^Which (?P<type>[\w ]+?)(?P<bridge>'s [\w ]+?)? (?P<phrase>(?:was|is|has) [\w ]+): (?P<a>.+) or (?P<b>.+)\?$")
_SMALLER_WINS = ("earlier", "smaller", "fewer", "shorter")
_CUES = {"born": "born", "founded": "founded", "released": "released", "population": "population",
         "taller": "cm", "shorter": "cm", "employees": "employ", "students": "students",
         "longer": "minutes", "area": "area"}


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP}


def _stems(words: set[str]) -> set[str]:
    """Five-letter prefixes: a crude stemmer, so "produced" meets "production" and
    "founder" meets "founded" (what a pre-neural pipeline would get from Porter stemming)."""
    return {word[:5] for word in words}


def _sentences(observation: str) -> list[str]:
    sentences = []
    for line in observation.replace("<information>", "").replace("</information>", "").splitlines():
        match = _DOC.search(line)
        body = match.group("text") if match else line
        sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+", body) if s.strip()]
    return sentences


class HeuristicAgent:
    name = "heuristic"

    def __init__(self, max_hops: int = 4) -> None:
        self.max_hops = max_hops
        self._plan: list[str] = []

    def begin(self, observation: str, info: dict[str, Any], env: gym.Env, seed: int) -> None:
        self.question = observation.rsplit("Question:", 1)[-1].strip()
        self.words = _content_words(self.question)
        self.stems = _stems(self.words)
        self.comparison = _COMPARISON.match(self.question)
        # each nested "the <noun> of|that|where|whose ..." is one more hop, except the question's
        # own "What is the <attribute> of ...", which is the last hop itself
        nested = len(re.findall(r"\bthe \w+(?: \w+)? (?:of|that|where|in which|whose)\b", self.question))
        # ... and each reduced relative clause, "the university X attended"
        nested += len(re.findall(r"\bthe \w+ [^?]+? attended\b", self.question))
        own = 1 if re.match(r"(?:what|who) (?:is|was) the \w+(?: \w+)? (?:of|that|where|in which|whose)\b",
                            self.question, re.IGNORECASE) else 0
        self.hops_left = 1 + nested - own
        self.hops_left = min(self.hops_left, self.max_hops)
        self.candidate: str | None = None
        self.values: list[float | None] = []
        self.turn = 0

    # -- extraction ---------------------------------------------------------------------------
    def _ranked_sentences(self, observation: str, focus: str | None) -> list[str]:
        """Sentences by overlap with the question (stems), plus a bonus for naming ``focus``."""
        scored = []
        for sentence in _sentences(observation):
            score = len(_stems(_content_words(sentence)) & self.stems)
            score += 3 if focus and focus.lower() in sentence.lower() else 0
            scored.append((score, -len(scored), sentence))
        return [sentence for *_, sentence in sorted(scored, reverse=True)]

    def _best_extraction(self, observation: str, focus: str | None, final: bool) -> str | None:
        """What the best-overlapping sentence that yields something gives: the answer on the
        last hop, an entity name (the next bridge) before it.

        Why not only the best sentence: an entity's page opens with "X is a feature film.",
        which overlaps the question as much as "X is a production of Y." but names nothing.
        """
        for sentence in self._ranked_sentences(observation, focus):
            found = self._extract(sentence) if final else self._fresh_name(sentence)
            if found:
                return found
        return None

    def _fresh_name(self, sentence: str) -> str | None:
        """The last capitalised name in ``sentence`` that is neither in the question nor the
        entity being followed (a bridge must lead somewhere new)."""
        seen = self.question.lower()
        current = (self.candidate or "").lower()
        names = [n.strip() for n in _NAME.findall(sentence)]
        fresh = [n for n in names if n.lower() not in seen and n.lower() != current and n not in ("The", "A")]
        return fresh[-1] if fresh else None

    def _extract(self, sentence: str) -> str | None:
        lowered = self.question.lower()
        if lowered.startswith(("how many", "in how many")) and ("are " in sentence or "starred in" in sentence):
            items = re.split(r", | and ", sentence.split(" are ", 1)[-1].split(" in ", 1)[-1].rstrip("."))
            return str(len([i for i in items if i.strip()]))
        if "year" in lowered:
            years = _YEAR.findall(sentence)
            return years[0] if years else None
        if lowered.startswith(("how many", "how tall", "what is the population", "what is the area")):
            numbers = _NUMBER.findall(sentence)
            return numbers[-1] if numbers else None
        if lowered.startswith("what is the occupation"):
            role = re.search(r"\bas an? ([a-z][\w ]*?)\.$", sentence) or re.search(r"\bis an? ([a-z][\w ]*?) by profession\.$", sentence)
            return role.group(1) if role else None
        if lowered.startswith(("in which industry", "what is the genre")):
            tail = re.search(r"(?:is an? |as an? |the )(\w[\w ]*?)(?: by profession| industry| business| film| genre)?\.$", sentence)
            return tail.group(1) if tail else None
        return self._fresh_name(sentence)

    def _value_near_cue(self, observation: str) -> float | None:
        cue = next((c for key, c in _CUES.items() if key in self.question), None)
        for sentence in _sentences(observation):
            if cue is None or cue in sentence:
                numbers = _NUMBER.findall(sentence)
                if numbers:
                    return float(numbers[0].replace(",", ""))
        return None

    # -- policy -------------------------------------------------------------------------------
    def act(self, observation: str, info: dict[str, Any]) -> str:
        self.turn += 1
        if self.comparison is not None:
            return self._act_comparison(observation)
        if self.turn > 1:
            found = self._best_extraction(observation, self.candidate, final=self.hops_left <= 1)
            self.candidate = found or self.candidate
            self.hops_left -= 1
        if self.turn == 1:
            return f"<search>{self.question}</search>"
        if self.hops_left <= 0 or self.candidate is None:
            return f"<answer>{self.candidate or 'unknown'}</answer>"
        return f"<search>{self.candidate} {' '.join(sorted(self.words))}</search>"

    def _act_comparison(self, observation: str) -> str:
        options = [self.comparison.group("a"), self.comparison.group("b")]
        if self.turn > 1:
            self.values.append(self._value_near_cue(observation))
        if len(self.values) < 2:
            return f"<search>{options[len(self.values)]}</search>"
        first, second = self.values
        if first is None or second is None:
            return f"<answer>{options[0]}</answer>"
        smaller_wins = any(word in self.comparison.group("phrase") for word in _SMALLER_WINS)
        winner = 0 if (first < second) == smaller_wins else 1
        return f"<answer>{options[winner]}</answer>"
