"""A wrapper that makes an engine unreliable on purpose, deterministically.

Why: an agent trained only on a clean retriever learns to trust the first hit. Injecting
irrelevant passages with a controllable probability (raised by a curriculum) teaches it to
verify, re-query, or ``<access>`` before answering. The noise is a pure function of
``(seed, query)`` so that a rollout can be replayed exactly and two agents compared on the
same noisy results.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from searchgym.cache import content_hash
from searchgym.search.base import SearchEngine, UnknownDocumentError, engine_passages
from searchgym.search.corpus_index import PassageStore, check_k, clean_queries, shorten
from searchgym.search.engine_option_values import check_option_values
from searchgym.types import Hit, Passage

NOISE_MODES = ("replace", "mix")


class NoisyEngine:
    """Wrap ``engine``; with probability ``noise_prob`` per query, corrupt its results.

    The noise pool is ``distractors`` when given and non-empty (passages with
    ``kind="distractor"``, which state no asked fact), else the wrapped engine's corpus
    (``corpus`` or ``engine.passages``), in which case noise passages are random passages
    other than the ones the engine actually returned for that query.

    ``mode="replace"`` swaps the whole result list for noise passages; ``mode="mix"`` replaces
    ``mix_fraction`` of the slots (at least one) at random positions, keeping the engine's other
    hits in order. Noise hits take the score of the slot they fill, so scores do not give
    them away. An empty query is never noised (its result stays ``[]``).

    Determinism: a query's randomness comes from a numpy Generator seeded by a hash of
    ``(seed, query)``. Its first draw ``u`` decides noise (``u < noise_prob``), so raising
    ``noise_prob`` only ever *adds* noisy queries, and a noisy query always gets the same
    passages. ``last_noisy`` holds, for the last batch, which queries were noised. The
    attribute makes the wrapper stateful: use one instance per concurrent caller.
    """

    def __init__(
        self,
        engine: SearchEngine,
        distractors: Sequence[Passage] | None = None,
        noise_prob: float = 0.0,
        seed: int = 0,
        *,
        mode: str = "replace",
        mix_fraction: float = 0.5,
        corpus: Sequence[Passage] | None = None,
        name: str | None = None,
    ) -> None:
        if mode not in NOISE_MODES:
            raise ValueError(f"unknown noise mode {mode!r}; valid: {', '.join(NOISE_MODES)}")
        if not 0.0 < mix_fraction <= 1.0:
            raise ValueError(f"mix_fraction must be in (0, 1], got {mix_fraction}")
        self.engine = engine
        self.mode = mode
        self.mix_fraction = float(mix_fraction)
        self.seed = int(seed)
        self.noise_prob = noise_prob  # validated by the property
        self.name = name or f"noisy({getattr(engine, 'name', '?')})"
        if distractors:
            self.pool = PassageStore(distractors)
            self.pool_kind = "distractors"
        else:
            store = getattr(engine, "store", None)
            if corpus is None and isinstance(store, PassageStore):
                source: Sequence[Passage] | PassageStore | None = store  # reuse its id lookup
            else:
                source = corpus if corpus is not None else engine_passages(engine)
            if not source:
                raise ValueError(
                    "NoisyEngine needs a noise pool: pass distractors=[...], corpus=[...], "
                    f"or wrap an engine with a .passages corpus ({type(engine).__name__} has none)"
                )
            self.pool = source if isinstance(source, PassageStore) else PassageStore(source)
            self.pool_kind = "corpus"
        self.last_noisy: list[bool] = []

    @property
    def noise_prob(self) -> float:
        return self._noise_prob

    @noise_prob.setter
    def noise_prob(self, value: float) -> None:
        check_option_values("simulated", {"noise_prob": value}, label="NoisyEngine")  # the spec reader's rule
        self._noise_prob = float(value)

    @property
    def passages(self) -> tuple[Passage, ...]:
        return tuple(engine_passages(self.engine) or ())

    def _rng(self, query: str) -> np.random.Generator:
        return np.random.default_rng(int(content_hash(str(self.seed), query), 16))

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        cleaned = clean_queries(queries)
        k = check_k(k)
        results = self.engine.search(cleaned, k)
        noisy_flags: list[bool] = []
        output: list[list[Hit]] = []
        for query, hits in zip(cleaned, results):
            if not query:
                noisy_flags.append(False)
                output.append(hits)
                continue
            rng = self._rng(query)
            if rng.random() >= self._noise_prob:
                noisy_flags.append(False)
                output.append(hits)
                continue
            noised, injected = self._corrupt(hits, k, rng)
            noisy_flags.append(injected)
            output.append(noised)
        self.last_noisy = noisy_flags
        return output

    def _corrupt(self, hits: list[Hit], k: int, rng: np.random.Generator) -> tuple[list[Hit], bool]:
        """The corrupted list for one query, and whether any noise passage was injected."""
        length = len(hits) if hits else min(k, len(self.pool))
        if self.mode == "replace":
            slots = list(range(length))
        else:
            count = min(length, max(1, round(length * self.mix_fraction)))
            slots = sorted(int(i) for i in rng.choice(length, size=count, replace=False))
        rows = self._sample_rows(len(slots), {hit.doc_id for hit in hits}, rng)
        noise_at = dict(zip(slots, rows))  # a tiny pool may not fill every slot
        kept = iter(hits)
        output: list[Hit] = []
        for position in range(length):
            if position in noise_at:
                score = hits[position].score if position < len(hits) else 0.0
                output.append(self.pool.hit(noise_at[position], score))
            elif self.mode == "mix":
                hit = next(kept, None)
                if hit is not None:
                    output.append(hit)
        return output, bool(noise_at)

    def _sample_rows(self, count: int, exclude: set[str], rng: np.random.Generator) -> list[int]:
        """``count`` distinct pool rows whose passages are not in ``exclude``.

        Small pools are permuted; large ones are sampled by rejection so a query costs
        O(count), not O(pool size).
        """
        if count <= 0:
            return []
        size = len(self.pool)

        def candidates() -> Iterator[int]:
            needed = count + len(exclude)
            if size > 4 * needed + 64:
                yield from (int(row) for row in rng.integers(0, size, size=16 * needed + 64))
            yield from (int(row) for row in rng.permutation(size))  # small pool, or rare bad luck

        chosen: list[int] = []
        seen: set[int] = set()
        for row in candidates():
            if row in seen or self.pool[row].doc_id in exclude:
                continue
            seen.add(row)
            chosen.append(row)
            if len(chosen) == count:
                break
        return chosen

    def access(self, doc_id: str) -> Passage:
        """The wrapped engine's passage, or a distractor this wrapper may have shown."""
        try:
            return self.engine.access(doc_id)
        except UnknownDocumentError:
            passage = self.pool.get(doc_id)
            if passage is None:
                raise UnknownDocumentError(
                    f"unknown document id {shorten(str(doc_id))!r}: neither the corpus nor the distractor pool has it"
                ) from None
            return passage

    def __repr__(self) -> str:
        return (
            f"NoisyEngine({self.engine!r}, noise_prob={self._noise_prob}, mode={self.mode!r}, "
            f"pool={self.pool_kind}[{len(self.pool)}], seed={self.seed})"
        )
