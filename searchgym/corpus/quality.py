"""How much a generated corpus reads like real prose: templates, n-gram diversity, lengths, defects.

The measures behind ``benchmarks/bench_corpus_quality.py`` (and the tests that keep the default
corpus above its targets):

* **distinct masked sentence templates**: every sentence with each entity name (full or short)
  replaced by ``<name>`` and each number by ``<num>``, counted once — how many sentence *shapes*
  an agent reads, independent of the invented names;
* **distinct-n** (unique n-grams / n-grams) and the **type/token ratio**, unmasked and masked,
  always on samples of the *same number of tokens* as the reference they are compared with
  (both measures fall as a sample grows, so unequal samples would compare nothing). Masking
  for this comparison is done the same way on both texts — numbers and capitalised words that
  do not start a sentence become placeholders — because the reference's names are not known;
* the **passage length** distribution (words) and the **defect count** (the wording-defect
  patterns of :mod:`searchgym.corpus.style`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from searchgym.corpus.style import wording_defects

__all__ = [
    "Diversity",
    "count_defects",
    "distinct_n",
    "heuristic_mask",
    "length_summary",
    "masked_templates",
    "sample_tokens",
    "sentences",
    "tokenize",
]

_TOKEN = re.compile(r"<\w+>|\w+(?:['\u2019-]\w+)*|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"(])")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_CAPITALISED = re.compile(r"(?<=[\w,;:)] )[A-Z][\w'-]*(?: [A-Z][\w'-]*)*")


def tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens (placeholders such as ``<name>`` kept whole)."""
    return [token.lower() for token in _TOKEN.findall(text)]


def sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def masked_templates(texts: Iterable[str], names: Iterable[str]) -> set[str]:
    """The distinct sentence shapes of ``texts`` with ``names`` and numbers masked."""
    ordered = sorted({n for n in names if n}, key=len, reverse=True)
    pattern = re.compile("|".join(rf"\b{re.escape(n)}\b" for n in ordered)) if ordered else None
    shapes = set()
    for text in texts:
        for sentence in sentences(text):
            masked = pattern.sub("<name>", sentence) if pattern else sentence
            shapes.add(_NUMBER.sub("<num>", masked))
    return shapes


def heuristic_mask(text: str) -> str:
    """Numbers -> ``<num>``, capitalised words not opening a sentence -> ``<name>``: the masking
    applied alike to the reference and the corpus when their masked diversity is compared."""
    return _CAPITALISED.sub("<name>", _NUMBER.sub("<num>", text))


def distinct_n(tokens: Sequence[str], n: int) -> float:
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


@dataclass(frozen=True)
class Diversity:
    tokens: int
    distinct: tuple[float, float, float]  # distinct-1, -2, -3
    type_token_ratio: float

    @classmethod
    def of(cls, tokens: Sequence[str]) -> Diversity:
        return cls(
            len(tokens),
            (distinct_n(tokens, 1), distinct_n(tokens, 2), distinct_n(tokens, 3)),
            len(set(tokens)) / max(1, len(tokens)),
        )

    @classmethod
    def mean(cls, items: Sequence[Diversity]) -> Diversity:
        return cls(
            items[0].tokens,
            tuple(float(np.mean([d.distinct[i] for d in items])) for i in range(3)),  # type: ignore[arg-type]
            float(np.mean([d.type_token_ratio for d in items])),
        )


def sample_tokens(texts: Sequence[str], size: int, rng: np.random.Generator, transform=lambda text: text) -> list[str]:
    """Tokens of passages drawn at random without replacement until ``size`` tokens (cut there)."""
    out: list[str] = []
    for index in rng.permutation(len(texts)):
        out.extend(tokenize(transform(texts[int(index)])))
        if len(out) >= size:
            return out[:size]
    raise ValueError(f"the corpus has fewer than {size} tokens")


def length_summary(word_counts: Sequence[int]) -> dict[str, float]:
    values = np.asarray(word_counts)
    return {
        "passages": int(len(values)),
        "min": int(values.min()),
        "p10": float(np.percentile(values, 10)),
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, 90)),
        "max": int(values.max()),
        "share_80_130": float(np.mean((values >= 80) & (values <= 130))),
    }


def count_defects(texts: Iterable[str]) -> dict[str, int]:
    """How many texts show each known wording defect."""
    counts: dict[str, int] = {}
    for text in texts:
        for defect in wording_defects(text):
            counts[defect] = counts.get(defect, 0) + 1
    return counts
