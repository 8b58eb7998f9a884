"""Simulated search engines grounded in the world graph (ZeroSearch-style, but never lying).

ZeroSearch replaces the web with an LLM told to write *useful* or *noisy* documents for a query;
the noise probability is raised by a curriculum. Its documents can state wrong facts (its
maintainers say so). Here the world is known, so the simulation is *grounded*:

* :class:`TemplateSimulatedEngine` (no LLM, fast, deterministic, the embedded default): a useful
  call returns real corpus passages about the entities the query names, ranked by query overlap
  (so doc ids are real, ``access`` works and evidence recall counts them); a noisy call returns
  controlled noise — passages about a *look-alike* entity (a name one letter apart) or unrelated
  distractor passages — and never any statement about the asked entity.
* :class:`LLMSimulatedEngine`: an LLM writes the documents with ZeroSearch's useful/noisy prompt,
  plus the graph facts it may use (useful) or a look-alike's facts (noisy). Each document is then
  checked against the facts and the check is recorded in ``last_calls``. Results are cached by
  (model, prompt, sampling seed) in memory and on disk, so every rollout of a GRPO group sees the
  same documents.

The noise decision, the episode context (``set_context``, ``search_batch``), ``last_calls`` and
snapshots are shared by both (:mod:`searchgym.search.simulated_base`). Both engines are stateful:
``make_engine`` builds one instance per env. Heavy parts (the grounder, the overlap index, the
generator, the result cache) are shared in the process. This module holds the template engine;
the LLM engine lives in :mod:`searchgym.search.simulated_llm` and is re-exported here. Both
pickle: the shared parts are dropped and reattached on the other side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from searchgym.corpus.corpus import Corpus
from searchgym.search.corpus_index import check_k, clean_queries
from searchgym.search.grounding import tokenize
from searchgym.search.simulated_base import (
    GENERATED_TITLE,
    SIM_ID_PREFIX,
    SearchContext,
    SimulatedEngineBase,
    _rng,
    noise_draw,
)
from searchgym.search.simulated_llm import LLMSimulatedEngine
from searchgym.search.zerosearch_text import parse_documents, zerosearch_prompt
from searchgym.types import Hit, Passage
from searchgym.world.world import World

__all__ = [
    "GENERATED_TITLE",
    "SIM_ID_PREFIX",
    "LLMSimulatedEngine",
    "SearchContext",
    "TemplateSimulatedEngine",
    "noise_draw",
    "parse_documents",
    "zerosearch_prompt",
]


# -- template simulator -----------------------------------------------------------------------
class TemplateSimulatedEngine(SimulatedEngineBase):
    """Grounded ZeroSearch-style simulation without an LLM: real passages, controlled noise.

    Args:
        world, corpus: the world and its aligned corpus.
        noise_prob: probability that a query gets noise (settable; a curriculum raises it).
        seed: mixes into every noise decision and noise sample.
        group_seed: initial GRPO group seed (see :meth:`set_context`).
        docs_per_query: cap on documents per query (default: the ``k`` of each search).
        tasks: a :class:`~searchgym.tasks.TaskSet` (or any ``task_key -> Task`` mapping); with it,
            ``last_calls`` records whether a query's documents contain a gold fact of the task.

    ``last_calls``: one dict per query of the last search: ``query``, ``noisy``, ``noise_kind``
    (``"look_alike"``/``"related"``/``"distractor"``, that of the first document; None if useful),
    ``mentioned`` (entity ids), ``doc_ids``, ``contains_needed_fact`` (bool, or None when the task
    is unknown), ``task_key``, ``group_seed``.
    """

    name = "simulated"

    def __init__(
        self,
        world: World,
        corpus: Corpus,
        *,
        noise_prob: float = 0.0,
        seed: int = 0,
        group_seed: int = 0,
        docs_per_query: int | None = None,
        tasks: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            world,
            corpus,
            noise_prob=noise_prob,
            seed=seed,
            group_seed=group_seed,
            docs_per_query=docs_per_query,
            tasks=tasks,
            name=name,
        )

    def search_batch(
        self, queries: list[str], k: int, contexts: Sequence[SearchContext | tuple[str | None, int]]
    ) -> list[list[Hit]]:
        """Like :meth:`search`, with one ``(task_key, group_seed)`` context per query."""
        cleaned = clean_queries(queries)
        k = check_k(k)
        contexts = self._contexts(cleaned, contexts)
        results: list[list[Hit]] = []
        calls: list[dict[str, Any]] = []
        for query, context in zip(cleaned, contexts):
            hits, call = self._one(query, self._count(k), context)
            results.append(hits)
            calls.append(call)
        self.last_calls = calls
        return results

    def _one(self, query: str, count: int, context: SearchContext) -> tuple[list[Hit], dict[str, Any]]:
        call: dict[str, Any] = {
            "query": query,
            "noisy": False,
            "noise_kind": None,
            "mentioned": [],
            "doc_ids": [],
            "contains_needed_fact": None,
            "task_key": context.task_key,
            "group_seed": context.group_seed,
        }
        if not query:
            return [], call
        grounding = self.grounder.ground(query)
        tokens = tokenize(query)
        call["mentioned"] = list(grounding.entity_ids)
        useful = self._useful_rows(grounding, tokens, count)
        if self.is_noisy(query, context):
            rng = _rng("noise-docs", self.seed, context.group_seed, context.task_key or "", query)
            rows, kind = self._noise_rows(grounding, tokens, count, rng, exclude=set(useful))
            call["noisy"], call["noise_kind"] = True, kind
        else:
            rows = useful
        hits = [
            Hit(doc_id=p.doc_id, score=1.0 / (rank + 1), title=p.title, text=p.text)
            for rank, p in enumerate(self.corpus.passages[row] for row in rows)
        ]
        call["doc_ids"] = [hit.doc_id for hit in hits]
        needed = self._needed_facts(context)
        if needed is not None:
            stated = {fact for row in rows for fact in self.corpus.passages[row].facts}
            call["contains_needed_fact"] = bool(needed & stated)
        return hits, call

    def useful_documents(self, query: str, k: int) -> list[Passage]:
        """The passages a useful call returns for ``query`` (no noise, no context)."""
        grounding = self.grounder.ground(clean_queries([query])[0])
        rows = self._useful_rows(grounding, tokenize(query), check_k(k))
        return [self.corpus.passages[row] for row in rows]

    def __repr__(self) -> str:
        return (
            f"TemplateSimulatedEngine({self.world.world_id!r}, noise_prob={self._noise_prob}, "
            f"seed={self.seed}, docs_per_query={self.docs_per_query})"
        )
