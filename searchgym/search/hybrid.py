"""Hybrid retrieval by reciprocal rank fusion (RRF) of several engines.

Why RRF: BM25 scores and cosine similarities live on unrelated scales, so adding scores needs
per-corpus calibration; RRF only uses ranks (``score(d) = sum_i w_i / (rrf_k + rank_i(d))``),
is robust across corpora, and is the usual way to combine lexical and dense retrieval.
"""

from __future__ import annotations

from collections.abc import Sequence

from searchgym.search.base import SearchEngine, UnknownDocumentError
from searchgym.search.corpus_index import check_k, clean_queries, shorten
from searchgym.search.engine_option_values import check_option_values
from searchgym.types import Hit, Passage


class HybridEngine:
    """Fuse the ranked lists of ``engines`` with weighted reciprocal rank fusion.

    Each sub-engine is asked once per batch for ``max(depth, k)`` hits; a document's fused score
    is the sum over engines of ``weight / (rrf_k + rank)`` (ranks start at 1, a document an
    engine did not return contributes nothing from it). Ties are broken by ``doc_id`` so the
    order never depends on dict or engine iteration order. The displayed title/text come from
    the first engine (in ``engines`` order) that returned the document.
    """

    def __init__(
        self,
        engines: Sequence[SearchEngine],
        *,
        rrf_k: float = 60,
        depth: int = 50,
        weights: Sequence[float] | None = None,
        name: str | None = None,
    ) -> None:
        self.engines = list(engines)
        if not self.engines:
            raise ValueError("HybridEngine needs at least one engine to fuse")
        listed = None if weights is None else list(weights)
        check_option_values("hybrid", {"rrf_k": rrf_k, "depth": depth, "weights": listed})
        self.rrf_k = float(rrf_k)
        self.depth = depth
        self.weights = [1.0] * len(self.engines) if listed is None else [float(w) for w in listed]
        if len(self.weights) != len(self.engines):
            raise ValueError(f"got {len(self.weights)} weights for {len(self.engines)} engines")
        self.name = name or "hybrid(" + "+".join(getattr(e, "name", "?") for e in self.engines) + ")"

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        cleaned = clean_queries(queries)
        k = check_k(k)
        depth = max(self.depth, k)
        per_engine = [engine.search(cleaned, depth) for engine in self.engines]
        return [self._fuse([results[q] for results in per_engine], k) for q in range(len(cleaned))]

    def _fuse(self, ranked_lists: list[list[Hit]], k: int) -> list[Hit]:
        contributions: dict[str, list[float]] = {}
        shown: dict[str, Hit] = {}
        for weight, hits in zip(self.weights, ranked_lists):
            if weight == 0:
                continue
            for rank, hit in enumerate(hits, start=1):
                contributions.setdefault(hit.doc_id, []).append(weight / (self.rrf_k + rank))
                shown.setdefault(hit.doc_id, hit)
        # Summing sorted terms makes equal multisets of contributions give bit-identical
        # totals, so genuine ties are ties and fall through to the doc_id tie-break.
        fused = sorted(
            ((sum(sorted(terms)), doc_id) for doc_id, terms in contributions.items()),
            key=lambda pair: (-pair[0], pair[1]),
        )
        return [
            Hit(doc_id=doc_id, score=score, title=shown[doc_id].title, text=shown[doc_id].text)
            for score, doc_id in fused[:k]
        ]

    @property
    def passages(self) -> tuple[Passage, ...]:
        """The first sub-engine's corpus (sub-engines normally share one)."""
        return tuple(getattr(self.engines[0], "passages", ()))

    def access(self, doc_id: str) -> Passage:
        for engine in self.engines:
            try:
                return engine.access(doc_id)
            except UnknownDocumentError:
                continue
        raise UnknownDocumentError(
            f"unknown document id {shorten(str(doc_id))!r}: none of the {len(self.engines)} fused engines has it"
        )

    def __repr__(self) -> str:
        return f"HybridEngine({self.engines!r}, rrf_k={self.rrf_k}, depth={self.depth}, weights={self.weights})"
