"""Answer scoring that a stuffed answer cannot game: one guarded score for the env and every wrapper.

Why: substring EM and token F1 give credit to an answer that merely *contains* the gold, so a
policy learns to hedge: ``"Vihivik Teifialvik"`` on "which city was founded later: Vihivik or
Teifialvik?" scores 1.0 substring EM and 0.667 F1, while an honest wrong answer scores 0. The
rule enforced here: **a stuffed answer never beats an honest wrong one.** An answer is scored
with a partial-credit metric only when it names at most one candidate answer.

What counts as a candidate (:class:`CandidateIndex`): every string the world could give as an
answer, i.e. entity names and aliases, literal attribute values (years, numbers, categories) and
every gold answer, plus any number. A prediction names *one* candidate when all of its
*distinctive* tokens fit inside a single candidate. Distinctive tokens are numbers and tokens
that occur in few candidates (invented names, category values); tokens shared by many names
("university", "company", "of") prove nothing and are ignored, so "the city of Teifialvik"
is one candidate while "Vihivik Teifialvik", "Vihivik - Teifialvik", a tab-joined pair or every
name of the world space-joined is several, whatever separates them. Tokens no candidate has
(typos, filler) are ignored too: they cannot make an answer more likely to be right. The rule
is conservative on purpose: a right answer padded with a second candidate ("Trerus Trading
Company, a shipbuilding firm": the industry is a candidate too) scores 0 under these metrics,
as a hedge would; exact match is unaffected.

Two more guards stay from before: list separators (``, ; | / & + newline tab``, spaced dashes,
and the words or/and/nor/vs) and, optionally, a token budget. An exact match of a gold alias is
always accepted, before any guard: a gold answer may itself contain "and" or two names.

Without a world (``compute_score`` in a trainer process), :meth:`CandidateIndex.from_texts`
builds the index from the gold answers and the capitalised names of the question, which is
enough for comparison questions, where hedging pays most.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from searchgym.metrics import answer_token_count, exact_match, normalize_answer, substring_match, token_f1

__all__ = [
    "METRICS",
    "CandidateIndex",
    "candidate_count",
    "candidates_for_world",
    "question_names",
    "score_answer",
]

METRICS = ("em", "f1", "substring_em")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_LIST_SEPARATORS = re.compile(
    r"\s*(?:[,;|/&+\n\t\u2022\u00b7]|\s[-\u2010-\u2015~*:]+\s|\bor\b|\band\b|\bnor\b|\bversus\b|\bvs\.?)\s*",
    re.IGNORECASE,
)
# What every separator above needs in ASCII text: one of these characters or a separator word.
# Why: the separator scan costs ~4 µs on a short answer and most answers hold none of them.
_SEPARATOR_CHARS = frozenset(",;|/&+\n\t-~*:")
_SEPARATOR_WORDS = ("or", "and", "vs", "versus")  # "nor" holds "or"
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_WORD = re.compile(r"[\w'\-]+")
_CONNECTORS = frozenset({"of", "the", "de", "la", "von", "van"})
_QUESTION_WORDS = frozenset(
    {
        "which",
        "who",
        "what",
        "when",
        "where",
        "how",
        "is",
        "was",
        "are",
        "were",
        "did",
        "does",
        "do",
        "in",
        "the",
        "of",
        "name",
    }
)
# Function words are never evidence of a second candidate (articles are already dropped by
# SQuAD normalisation).
_STOPWORDS = frozenset(
    {
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "by",
        "from",
        "with",
        "is",
        "was",
        "it",
        "its",
        "answer",
        "and",
        "or",
        "de",
        "la",
        "von",
        "van",
    }
)


def candidate_count(text: str | None) -> int:
    """How many candidates ``text`` lists by its separators: the non-empty pieces after splitting
    on ``, ; | / & + newline tab``, bullets, dashes or colons between spaces, and the words
    or/and/nor/vs. Thousands separators (``1,234``) are not list separators."""
    if not text:
        return 0
    text = str(text)
    if text.isascii() and _SEPARATOR_CHARS.isdisjoint(text):
        lowered = text.lower()
        if not any(word in lowered for word in _SEPARATOR_WORDS):
            # No separator can match (ASCII text: IGNORECASE folds nothing else onto these
            # letters), and without a comma there is no thousands separator to drop.
            return 1 if text.strip(" .!?\"'") else 0
    cleaned = _THOUSANDS.sub("", text)
    return sum(1 for piece in _LIST_SEPARATORS.split(cleaned) if piece and piece.strip(" .!?\"'"))


def question_names(question: str) -> list[str]:
    """Runs of capitalised words (joined by "of", "the" ...) in a question, minus question words:
    the entities a question names, e.g. both options of a comparison."""
    names: list[str] = []
    run: list[str] = []
    for word in [*_WORD.findall(question), ""]:
        if word[:1].isupper() or word[:1].isdigit():
            run.append(word)
            continue
        if run and word.lower() in _CONNECTORS:
            run.append(word)
            continue
        while run and (run[-1].lower() in _CONNECTORS):
            run.pop()
        while run and run[0].lower() in _QUESTION_WORDS:
            run.pop(0)
        if run:
            names.append(" ".join(run))
        run = []
    return names


class CandidateIndex:
    """Every candidate answer as a set of normalised tokens, indexed by token.

    Args:
        candidates: the candidate strings (names, values, gold answers).
        max_share: a token held by more than ``max(min_df, max_share * len(candidates))``
            candidates is not distinctive (it cannot tell candidates apart).
        min_df: see ``max_share``; small worlds keep tokens shared by a few names distinctive.
    """

    def __init__(self, candidates: Iterable[str], *, max_share: float = 0.01, min_df: int = 3) -> None:
        postings: dict[str, list[int]] = {}
        count = 0
        for text in dict.fromkeys(normalize_answer(c) for c in candidates if isinstance(c, str)):
            tokens = {token for token in text.split() if token not in _STOPWORDS}
            if not tokens:
                continue
            for token in tokens:
                postings.setdefault(token, []).append(count)
            count += 1
        self.size = count
        limit = max(min_df, int(max_share * count))
        # Only distinctive tokens are kept: the others never decide anything.
        self._postings: dict[str, frozenset[int]] = {
            token: frozenset(ids) for token, ids in postings.items() if len(ids) <= limit
        }

    @classmethod
    def from_texts(cls, answers: Sequence[str], question: str | None = None) -> CandidateIndex:
        """A world-free index: the gold answers plus the capitalised names in ``question``."""
        names = list(answers) + (question_names(question) if question else [])
        return cls(names, max_share=1.0, min_df=len(names) + 1)

    def distinctive(self, token: str) -> bool:
        return token in self._postings or bool(_NUMBER.match(token))

    def names_one_candidate(self, prediction: str | None) -> bool:
        """True when every distinctive token of ``prediction`` fits in one candidate."""
        common: frozenset[int] | None = None
        numbers: set[str] = set()
        for token in dict.fromkeys(normalize_answer(prediction).split()):
            ids = self._postings.get(token)
            if ids is None:
                # a number no candidate holds is a candidate by itself (the first-character
                # test skips the regex for words: ``\d`` is Unicode category Nd, as isdecimal)
                if token[0].isdecimal() and _NUMBER.match(token):
                    numbers.add(token)
                    if len(numbers) > 1 or common is not None:
                        return False
                continue
            if numbers:
                return False
            common = ids if common is None else common & ids
            if not common:
                return False
        return True


_WORLD_INDEXES: dict[str, CandidateIndex] = {}
_WORLD_LOCK = threading.Lock()


def candidates_for_world(world: Any, tasks: Iterable[Any] = ()) -> CandidateIndex:
    """The :class:`CandidateIndex` of a world (names, aliases, attribute values) and its tasks'
    answers, built once per ``world_id`` in this process."""
    key = str(world.world_id)
    with _WORLD_LOCK:
        index = _WORLD_INDEXES.get(key)
    if index is not None:
        return index

    def strings() -> Iterable[str]:
        for entity in world.entities.values():
            yield entity.name
            yield from entity.aliases
            for value in entity.attributes.values():
                yield str(value)
        for task in tasks:
            yield from task.answers

    index = CandidateIndex(strings())
    with _WORLD_LOCK:
        return _WORLD_INDEXES.setdefault(key, index)


def score_answer(
    prediction: str | None,
    answers: Sequence[str],
    metric: str = "em",
    max_answer_tokens: int | None = None,
    reject_lists: bool = True,
    candidates: CandidateIndex | None = None,
    *,
    exact: float | None = None,
) -> tuple[float, str | None]:
    """Score ``prediction`` against gold ``answers``; returns ``(score, reason it was zeroed)``.
    ``exact`` is :func:`~searchgym.metrics.exact_match` of the two when the caller has it
    already (the env's answer table scores EM anyway; it is not worked out twice).

    * an exact match of a gold alias is always accepted (score 1.0);
    * with ``max_answer_tokens``, a longer answer (normalised tokens) scores 0 (``"too_long"``);
    * with ``reject_lists``, an answer listing more pieces than any gold alias does (see
      :func:`candidate_count`) scores 0 (``"multiple_candidates"``), and so does one naming
      several candidates of ``candidates`` (default: the gold answers alone, see the module doc).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if prediction is None:
        return 0.0, "no_answer"
    if exact_match(prediction, answers) if exact is None else exact:
        return 1.0, None
    if max_answer_tokens is not None and answer_token_count(prediction) > max_answer_tokens:
        return 0.0, "too_long"
    if reject_lists:
        gold_max, gold_index = _gold_guard(answers)
        index = candidates if candidates is not None else gold_index
        if candidate_count(prediction) > max(1, gold_max) or not index.names_one_candidate(prediction):
            return 0.0, "multiple_candidates"
    if metric == "em":
        return 0.0, None
    if metric == "f1":
        return token_f1(prediction, answers), None
    return substring_match(prediction, answers), None


def _gold_guard(answers: Sequence[str]) -> tuple[int, CandidateIndex]:
    """The gold side of the list guard: the most pieces a gold alias lists and the index of the
    gold answers alone, computed once per distinct tuple of aliases (a task's answers are scored
    at every episode of it; rebuilding both cost ~6 µs an answer)."""
    aliases = tuple(answers)
    if all(type(alias) is str for alias in aliases):
        return _gold_guard_cached(aliases)
    # Other aliases are not cached: equal keys may print differently (0.5 and Fraction(1, 2),
    # 10**16 and 1e16), and the guard counts an alias's printed pieces.
    return _gold_guard_of(answers)


def _gold_guard_of(answers: Sequence[str]) -> tuple[int, CandidateIndex]:
    return max((candidate_count(gold) for gold in answers), default=1), CandidateIndex.from_texts(answers)


_gold_guard_cached = lru_cache(maxsize=8192)(_gold_guard_of)
