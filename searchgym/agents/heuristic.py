"""A classical multi-hop heuristic agent (no learning, no LLM).

Iterative retrieval in the style of pre-LLM multi-hop QA pipelines: search the question, rank
result sentences by (stemmed) overlap with the question, take from the best one that yields
something an entity name (intermediate hops) or the answer (last hop), search that entity, and
repeat once per estimated hop (a long-form profile question goes to the extractive writer of
:mod:`searchgym.agents.heuristic_profile`). The hop count is estimated from the question's nested noun
phrases ("the X of the Y of ..."). Comparisons look up each named option (and, for "whose
<bridge> ...", the option's neighbour first) and compare the numbers found next to the
attribute's cue word. It reads only what any agent reads — the prompt and its observations —
and is a reference point between the random floor and the oracle ceiling, not a strong system.
"""

from __future__ import annotations

import re
from typing import Any

from searchgym.agents.heuristic_profile import ProfilePlan, parse_profile_question

_STOP = {
    "a",
    "an",
    "the",
    "of",
    "in",
    "on",
    "at",
    "by",
    "to",
    "is",
    "was",
    "were",
    "are",
    "did",
    "does",
    "do",
    "which",
    "what",
    "who",
    "whom",
    "whose",
    "how",
    "many",
    "much",
    "year",
    "and",
    "or",
    "for",
    "from",
    "with",
    "as",
    "it",
    "its",
    "their",
}
_NAME = re.compile(r"[A-Z][\w'-]*(?: (?:of|from|to|in)? ?[A-Z][\w'-]*)*")
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?![\w])")
_YEAR = re.compile(r"\b(1\d{3}|20\d{2})\b")
_DOC = re.compile(r"Doc \d+ \(Title: (?P<title>[^)]*)\)(?: \[id: [^\]]+\])? (?P<text>.*)")
_OPTIONS = (  # the comparison wordings, most specific first
    re.compile(r"^Whose (?P<cue>.+?), (?P<a>.+?)'s or (?P<b>.+?)'s\?$"),
    re.compile(r"^Between (?P<a>.+?) and (?P<b>.+?), which (?P<cue>.+)\?$"),
    re.compile(r"^Of (?:the \w+ )?(?P<a>.+?) and (?P<b>.+?), (?:which|whose) (?P<cue>.+)\?$"),
    re.compile(r"^Which of the \w+ (?P<a>[A-Z].+?) and (?P<b>[A-Z].+?) (?P<cue>(?:is|was|has|covers) .+)\?$"),
    re.compile(r"^(?P<a>[A-Z].+?) or (?P<b>[A-Z].+?): which (?P<cue>.+)\?$"),
    re.compile(r"^Which (?P<cue>.+?): (?P<a>.+) or (?P<b>.+)\?$"),
)
_SMALLER_WINS = ("earlier", "smaller", "fewer", "shorter", "less", "older")
_CUES = (
    ("born", ("born",)),
    ("founded", ("founded", "establish", "founding")),
    ("released", ("releas", "premier")),
    ("populous", ("population", "inhabitants", "people live")),
    ("population", ("population", "inhabitants")),
    ("taller", ("cm", "tall", "height")),
    ("shorter", ("minutes", "cm", "tall", "height", "running")),
    ("employees", ("employ", "workforce")),
    ("workforce", ("employ", "workforce")),
    ("students", ("student", "enrol")),
    ("student body", ("student", "enrol")),
    ("longer", ("minutes", "running")),
    ("running time", ("minutes", "running")),
    ("area", ("area", "km2", "square")),
    ("land", ("area", "km2", "square")),
    ("younger", ("born", "founded")),
    ("older", ("born", "founded")),
    ("recent", ("releas",)),
)
_OWN_THE = re.compile(r"^(?:what|who|which \w+|where) (?:is|was) the\b", re.IGNORECASE)


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP}


def _stems(words: set[str]) -> set[str]:
    """Five-letter prefixes: a crude stemmer, so "produced" meets "production"."""
    return {word[:5] for word in words}


def _sentences(observation: str) -> list[str]:
    sentences = []
    for line in observation.replace("<information>", "").replace("</information>", "").splitlines():
        match = _DOC.search(line)
        body = match.group("text") if match else line
        sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+| · ", body) if s.strip()]
    return sentences


def estimate_hops(question: str) -> int:
    """Nested noun phrases start with a lower-case "the" ("the birthplace of the director of
    X"); the question's own "What is the ..." is the last hop itself, not one more."""
    nested = len(re.findall(r"\bthe\b", question))
    own = 1 if _OWN_THE.match(question) else 0
    return max(1, min(4, nested + 1 - own))


class HeuristicAgent:
    name = "heuristic"

    def __init__(self, max_hops: int = 4) -> None:
        self.max_hops = max_hops

    def begin(self, observation: str, info: dict[str, Any], seed: int) -> None:
        self.question = observation.rsplit("Question:", 1)[-1].strip()
        self.words = _content_words(self.question)
        self.stems = _stems(self.words)
        self.options = next((m for m in (p.match(self.question) for p in _OPTIONS) if m), None)
        self.bridge = bool(self.options) and (
            "'s " in self.question or self.question.startswith("Whose") or " has the " in self.question
        )
        self.counting = bool(re.match(r"^(?:how many|in how many|what is the number of)\b", self.question, re.I))
        self.hops_left = min(self.max_hops, estimate_hops(self.question)) if not self.counting else 1
        self.candidate: str | None = None
        self.values: list[float | None] = []
        self.pending: list[str] = []
        self.turn = 0
        profile = parse_profile_question(self.question)
        self.profile = ProfilePlan(self.question, *profile) if profile else None

    # -- extraction ---------------------------------------------------------------------------
    def _ranked_sentences(self, observation: str, focus: str | None) -> list[str]:
        scored: list[tuple[int, int, str]] = []
        for sentence in _sentences(observation):
            score = len(_stems(_content_words(sentence)) & self.stems)
            score += 3 if focus and focus.lower() in sentence.lower() else 0
            scored.append((score, -len(scored), sentence))
        return [sentence for *_, sentence in sorted(scored, reverse=True)]

    def _fresh_name(self, sentence: str) -> str | None:
        """The last capitalised name in ``sentence`` that is neither in the question nor the
        entity being followed (a bridge must lead somewhere new)."""
        seen, current = self.question.lower(), (self.candidate or "").lower()
        names = [n.strip() for n in _NAME.findall(sentence.split(": ", 1)[-1])]
        fresh = [
            n
            for n in names
            if n.lower() not in seen
            and n.lower() != current
            and n not in ("The", "A", "He", "She", "It", "His", "Her", "Its")
        ]
        return fresh[-1] if fresh else None

    def _extract(self, sentence: str) -> str | None:
        lowered = self.question.lower()
        if self.counting:
            listed = re.split(
                r", | and ",
                re.split(
                    r" (?:are|include|includes|directed|produced|founded|mentored|"
                    r"starred in|appeared in|set up)\b|: ",
                    sentence,
                    maxsplit=1,
                )[-1].rstrip("."),
            )
            items = [i for i in listed if i.strip() and i.strip()[:1].isupper()]
            return str(len(items)) if items else None
        if "year" in lowered or lowered.startswith("when "):
            years = _YEAR.findall(sentence)
            return years[0] if years else None
        if lowered.startswith(
            (
                "how many",
                "how tall",
                "how large",
                "how long",
                "what is the population",
                "what is the area",
                "what is the size",
                "what is the height",
                "what height",
                "what is the running",
                "what is the runtime",
                "what is the total area",
                "what is the enrolment",
                "what is the number",
            )
        ):
            numbers = _NUMBER.findall(sentence)
            return numbers[-1].replace(",", "") if numbers else None
        if re.search(r"\b(occupation|profession|for a living|industry|sector|business|genre|kind of film)\b", lowered):
            return self._category(sentence)
        return self._fresh_name(sentence)

    @staticmethod
    def _category(sentence: str) -> str | None:
        """A lower-case category value: an infobox entry ("Occupation: engineer") or the noun
        after "a"/"as"/"the" in prose ("works as an engineer", "in the mining industry")."""
        labelled = re.search(r"\b(?:Occupation|Industry|Genre): ([a-z][a-z ]*?)(?:\.| ·|$)", sentence)
        if labelled:
            return labelled.group(1)
        for pattern in (
            r"\bas an? ([a-z][a-z ]*?)\b(?: at| by|\.)",
            r"\bis an? ([a-z][a-z ]*?) by profession\b",
            r"\bthe ([a-z][a-z ]*?) (?:industry|sector|genre)\b",
            r"\bis an? ([a-z][a-z ]*?) (?:business|film)\.",
            r"\b(?:profession|genre|business) is ([a-z][a-z ]*?)\.",
        ):
            prose = re.search(pattern, sentence)
            if prose:
                return prose.group(1)
        return None

    def _best(self, observation: str, final: bool) -> str | None:
        for sentence in self._ranked_sentences(observation, self.candidate):
            found = self._extract(sentence) if final else self._fresh_name(sentence)
            if found:
                return found
        return None

    def _value_near_cue(self, observation: str) -> float | None:
        cue_words = next((cues for key, cues in _CUES if key in self.question), ())
        for sentence in _sentences(observation):
            if not cue_words or any(c in sentence.lower() for c in cue_words):
                numbers = _NUMBER.findall(sentence)
                if numbers:
                    return float(numbers[0].replace(",", ""))
        return None

    # -- policy -------------------------------------------------------------------------------
    def act(self, observation: str, info: dict[str, Any]) -> str:
        self.turn += 1
        if self.profile is not None:
            return self.profile.act(info)
        if self.options is not None:
            return self._act_comparison(observation)
        if self.turn > 1:
            found = self._best(observation, final=self.hops_left <= 1)
            self.candidate = found or self.candidate
            self.hops_left -= 1
        if self.turn == 1:
            return f"<search>{self.question}</search>"
        if self.hops_left <= 0 or self.candidate is None:
            return f"<answer>{self.candidate or 'unknown'}</answer>"
        return f"<search>{self.candidate} {' '.join(sorted(self.words))}</search>"

    def _act_comparison(self, observation: str) -> str:
        assert self.options is not None
        options = [self.options.group("a"), self.options.group("b")]
        if self.turn > 1:
            if self.pending:  # a bridge: the option's page named its neighbour; look that up next
                name = self._best(observation, final=False)
                self.pending.pop(0)
                if name is not None:
                    return f"<search>{name}</search>"
                self.values.append(None)
            else:
                self.values.append(self._value_near_cue(observation))
        if len(self.values) < 2:
            option = options[len(self.values)]
            if self.bridge:
                self.pending = [option]
            return f"<search>{option}</search>"
        first, second = self.values
        if first is None or second is None:
            return f"<answer>{options[0] if first is not None else options[1]}</answer>"
        smaller_wins = any(word in self.options.group("cue") for word in _SMALLER_WINS)
        winner = 0 if (first < second) == smaller_wins else 1
        return f"<answer>{options[winner]}</answer>"
