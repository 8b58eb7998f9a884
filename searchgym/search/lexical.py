"""bm25s's tokenisation, reimplemented lean: the same terms, a fraction of the cost per query.

Why not call ``bm25s.tokenize`` per query: it builds three tqdm progress objects and a fresh
stopword set on every call, so a one-word query costs about 47 µs before any scoring (issue 18),
which is more than the whole ranking of a name query. The rules are bm25s's exactly (tested
against ``bm25s.tokenize`` on whole corpora and random text): lower-case, scikit-learn's token
pattern ``(?u)\\b\\w\\w+\\b``, bm25s's English stopwords removed *before* stemming, then each
remaining word stemmed on its own by PyStemmer.

Why a sorted vocabulary: bm25s numbers stems in the iteration order of a ``set``, which changes
with ``PYTHONHASHSEED``, so its index files (and, through summation order, its scores) differ
between processes. Numbering the stems in sorted order makes an index byte-identical wherever
it is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Final

from bm25s.stopwords import STOPWORDS_EN

TOKEN_PATTERN: Final = r"(?u)\b\w\w+\b"
_split = re.compile(TOKEN_PATTERN).findall
STOPWORDS: Final = frozenset(STOPWORDS_EN)

_STOPWORD: Final = -2  # word-cache marker: a stopword, never a term
_UNKNOWN: Final = -1  # word-cache marker: stems to nothing the corpus has
MAX_CACHED_WORDS: Final = 1_000_000
"""Words whose term id is remembered by a :class:`QueryTokenizer` (cleared when full, so the
memory an adversarial stream of distinct words can take stays bounded)."""


def make_stemmer(name: str | None) -> Any:
    """A PyStemmer stemmer for ``name`` (``None``: no stemming)."""
    if name is None:
        return None
    import Stemmer  # PyStemmer

    try:
        return Stemmer.Stemmer(name)
    except KeyError:
        valid = ", ".join(sorted(Stemmer.algorithms()))
        raise ValueError(f"unknown stemmer {name!r}; PyStemmer knows: {valid}") from None


def words(text: str) -> list[str]:
    """The non-stopword words of ``text``, lower-cased, in order (before stemming)."""
    return [word for word in _split(text.lower()) if word not in STOPWORDS]


def tokenize_corpus(texts: Iterable[str], stemmer: Any) -> tuple[list[list[int]], list[str]]:
    """``(token ids per text, vocabulary)``: the terms ``bm25s.tokenize`` gives, numbered by
    sorted stem so the result does not depend on the hash seed.

    Each distinct word is stemmed once (as bm25s does), so a corpus costs one regex pass plus
    one stem per distinct word.
    """
    word_ids: dict[str, int] = {}
    documents: list[list[int]] = []
    for text in texts:
        documents.append([word_ids.setdefault(word, len(word_ids)) for word in words(text)])
    unique_words = list(word_ids)
    stems = stemmer.stemWords(unique_words) if stemmer is not None else unique_words
    vocabulary = sorted(set(stems))
    term_of_stem = {stem: term for term, stem in enumerate(vocabulary)}
    term_of_word = [term_of_stem[stem] for stem in stems]
    return [[term_of_word[word] for word in document] for document in documents], vocabulary


class QueryTokenizer:
    """Query text -> term ids of a fixed vocabulary, with a word -> term cache.

    A word the corpus does not know, and a stopword, give no term. Repeated words give their
    term repeatedly: bm25s counts a query term as often as it occurs.
    """

    def __init__(self, vocabulary: Sequence[str], stemmer: Any) -> None:
        self._term_of_stem = {stem: term for term, stem in enumerate(vocabulary)}
        self._stemmer = stemmer
        self._cache: dict[str, int] = {}

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("QueryTokenizer holds a PyStemmer object; rebuild it instead of pickling")

    def terms(self, text: str) -> list[int]:
        cache = self._cache
        found: list[int] = []
        for word in _split(text.lower()):
            term = cache.get(word)
            if term is None:
                term = self._lookup(word)
            if term >= 0:
                found.append(term)
        return found

    def _lookup(self, word: str) -> int:
        if word in STOPWORDS:
            term = _STOPWORD
        else:
            stem = self._stemmer.stemWord(word) if self._stemmer is not None else word
            term = self._term_of_stem.get(stem, _UNKNOWN)
        if len(self._cache) >= MAX_CACHED_WORDS:
            self._cache.clear()
        self._cache[word] = term
        return term
