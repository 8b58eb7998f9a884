"""Answer-matching metrics: SQuAD-style normalisation, exact match, token F1, substring match.

These are the scores every search-agent paper reports (Search-R1 EM, ZeroSearch/ASearcher F1,
Search-R1's ``subem``), so they follow the SQuAD / HotpotQA evaluation scripts closely and the
differences are deliberate and listed here:

* Invisible characters: format characters (Unicode category ``Cf``: zero-width space and
  joiners, soft hyphen, word joiner, byte-order mark, bidi marks, tag characters) and variation
  selectors are deleted, and control characters become spaces, before anything else: a
  zero-width space inside the right answer must not make it wrong.
* Unicode: the text is NFKC-normalised first (full-width letters and digits, ligatures and
  non-breaking spaces become their plain forms) and case-folded (``str.casefold``, a superset of
  ``lower`` that also maps e.g. ``ß`` to ``ss``). Punctuation removal covers every Unicode
  punctuation character (categories ``P*``: curly quotes, dashes, ``¿`` ...) in addition to
  ASCII ``string.punctuation``. For plain ASCII text the result equals SQuAD's.
* Numbers: a ``.`` between two digits is kept, so ``"3.5"`` does not match ``"35"`` (SQuAD
  deletes it). Thousands separators are dropped: a comma between a digit and a group of exactly
  three digits is removed (``"1,234,567"`` -> ``"1234567"``), so ``"1,234"`` matches ``"1234"``.
  Any other comma is punctuation and is deleted too, as in SQuAD.
* Empty gold: an alias that normalises to the empty string never matches anything under
  :func:`substring_match` (Search-R1's ``subem`` would match every prediction, since
  ``"" in s`` is always true).

``answers`` may be a single string or a sequence of aliases; every score is the max over
aliases, and an empty alias list scores 0.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache

__all__ = [
    "normalize_answer",
    "exact_match",
    "token_f1",
    "substring_match",
    "answer_token_count",
]

_ASCII_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SPECIAL = ("yes", "no", "noanswer")  # HotpotQA's F1 special case


def _is_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def _remove_punct(text: str) -> str:
    """Delete punctuation, but keep a decimal point between two ASCII digits."""
    out: list[str] = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        if _is_punct(ch):
            if ch == "." and 0 < i < last and "0" <= text[i - 1] <= "9" and "0" <= text[i + 1] <= "9":
                out.append(ch)
            continue
        out.append(ch)
    return "".join(out)


def normalize_answer(text: str | None) -> str:
    """SQuAD normalisation (lower, drop punctuation and articles, collapse whitespace), plus
    NFKC, casefolding, thousands separators and decimal points as described in the module doc.
    """
    if not text:
        return ""
    text = str(text)
    if len(text) > _CACHE_MAX_CHARS:  # huge model outputs: don't pin them in the cache
        return _normalize(text)
    return _normalize_cached(text)


_CACHE_MAX_CHARS = 512


def _is_invisible(ch: str) -> bool:
    return unicodedata.category(ch) == "Cf" or "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef"


def _drop_invisible(text: str) -> str:
    """Delete format characters and variation selectors; turn control characters into spaces."""
    if text.isascii():
        return text if text.isprintable() else "".join(" " if ch < " " or ch == "\x7f" else ch for ch in text)
    out = []
    for ch in text:
        if _is_invisible(ch):
            continue
        out.append(" " if unicodedata.category(ch) == "Cc" else ch)
    return "".join(out)


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", _drop_invisible(text)).casefold()
    text = _THOUSANDS.sub("", text)
    text = _remove_punct(text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


# Gold answers and aliases are normalised again at every scored step of every episode; caching
# the pure normalisation makes EM/F1 nearly free in vector-env rollouts.
_normalize_cached = lru_cache(maxsize=65536)(_normalize)


def _aliases(answers: str | Sequence[str]) -> list[str]:
    # A bare string is one alias, not a sequence of one-character aliases.
    if isinstance(answers, str):
        return [answers]
    return [a for a in answers if isinstance(a, str)]


def exact_match(prediction: str | None, answers: str | Sequence[str]) -> float:
    """1.0 if the normalised prediction equals some normalised alias, else 0.0."""
    pred = normalize_answer(prediction)
    for gold in _aliases(answers):  # a loop, not any(...): it runs at every scored answer
        if pred == normalize_answer(gold):
            return 1.0
    return 0.0


def _f1(pred: str, pred_counts: Mapping[str, int], pred_length: int, gold: str) -> float:
    # HotpotQA rule: yes/no/noanswer must match exactly, no partial credit.
    if (pred in _SPECIAL or gold in _SPECIAL) and pred != gold:
        return 0.0
    gold_counts, gold_length = _token_counts(gold) if len(gold) <= _CACHE_MAX_CHARS else _count_tokens(gold)
    if not pred_length or not gold_length:
        # SQuAD v2 rule: two empty strings agree; empty vs non-empty scores 0.
        return float(pred_length == gold_length)
    same = 0  # the size of the tokens' multiset intersection
    for token, count in pred_counts.items():
        other = gold_counts.get(token)
        if other is not None:
            same += count if count < other else other
    if same == 0:
        return 0.0
    precision = same / pred_length
    recall = same / gold_length
    return 2 * precision * recall / (precision + recall)


def _count_tokens(text: str) -> tuple[dict[str, int], int]:
    """A text's token counts and length. A short answer is counted in a plain dict: building a
    ``Counter`` costs ~0.7 µs more for the 2-4 tokens of a typical answer, and F1 is computed
    at every scored answer; a long text (a model's rambling) goes to ``Counter``'s C loop."""
    tokens = text.split()
    if len(tokens) > _SHORT_TOKENS:
        return Counter(tokens), len(tokens)
    counts: dict[str, int] = {}
    for token in tokens:
        counts[token] = counts.get(token, 0) + 1
    return counts, len(tokens)


_SHORT_TOKENS = 16


# A gold alias's token counts, made once (up to the normalisation cache's length): an alias is
# scored at every episode of its task. The counts are shared between calls and never mutated.
_token_counts = lru_cache(maxsize=65536)(_count_tokens)


def token_f1(prediction: str | None, answers: str | Sequence[str]) -> float:
    """Bag-of-tokens F1 between the normalised prediction and the best alias (SQuAD/HotpotQA)."""
    pred = normalize_answer(prediction)
    pred_counts, pred_length = _count_tokens(pred)
    best = 0.0  # the max over aliases, without a generator's frames (F1 is never negative)
    for gold in _aliases(answers):
        score = _f1(pred, pred_counts, pred_length, normalize_answer(gold))
        if score > best:
            best = score
    return best


def substring_match(prediction: str | None, answers: str | Sequence[str], *, word_boundary: bool = True) -> float:
    """1.0 if some normalised alias occurs inside the normalised prediction (Search-R1 ``subem``).

    ``word_boundary=True`` (default) only counts whole-token occurrences, so gold ``"art"``
    does not match ``"party"`` and ``"1990"`` does not match ``"19901"``; pass ``False`` for
    Search-R1's raw substring test. Empty aliases never match.
    """
    pred = normalize_answer(prediction)
    padded = f" {pred} "
    for gold in _aliases(answers):
        norm = normalize_answer(gold)
        if not norm:
            continue
        if (f" {norm} " in padded) if word_boundary else (norm in pred):
            return 1.0
    return 0.0


def answer_token_count(prediction: str | None) -> int:
    """Number of tokens in the normalised prediction (for length penalties and reward hacking
    diagnostics, e.g. answers that list many candidates to farm substring/F1 credit)."""
    return len(normalize_answer(prediction).split())
