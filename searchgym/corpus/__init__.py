"""The aligned corpus: wiki-style passages written from a world, with fact provenance."""

from searchgym.corpus.corpus import Corpus
from searchgym.corpus.writer import CorpusOptions, write_corpus

__all__ = ["Corpus", "CorpusOptions", "write_corpus"]
