"""The LLM-written simulated search engine (ZeroSearch-style, grounded in the world graph).

:class:`LLMSimulatedEngine` alone: its prompt and document parser are in
:mod:`searchgym.search.zerosearch_text`, the process-wide generators and result caches in
:mod:`searchgym.search.sim_resources`, and what it shares with the template engine in
:mod:`searchgym.search.simulated_base`; :mod:`searchgym.search.simulated` re-exports it. See that
module's docstring for the design.

Length (about 420 lines, formatted): one engine, its prompt assembly and its fact check; the
prompt text and the parser already live in their own modules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from searchgym.cache import cache_root, content_hash, stable_json
from searchgym.corpus.corpus import Corpus
from searchgym.search.base import UnknownDocumentError
from searchgym.search.corpus_index import check_k, clean_queries, shorten
from searchgym.search.grounding import Grounding, normalize, relation_vocabulary, tokenize
from searchgym.search.sim_resources import ResultCache, model_id, shared_cache, shared_generator
from searchgym.search.simulated_base import (
    GENERATED_TITLE,
    SIM_ID_PREFIX,
    SearchContext,
    SimulatedEngineBase,
    _hash_int,
    _rng,
)
from searchgym.search.zerosearch_text import parse_documents, zerosearch_prompt
from searchgym.types import Fact, Hit, Passage
from searchgym.world.world import World

__all__ = ["LLMSimulatedEngine"]


class LLMSimulatedEngine(SimulatedEngineBase):
    """ZeroSearch-style simulated search: an LLM writes the documents, grounded in graph facts.

    Args:
        world, corpus: the world (facts for grounding) and corpus (distractors for padding).
        generator: a :class:`~searchgym.llm.TextGenerator`, a :func:`~searchgym.llm.make_generator`
            spec string, or None for the bundled SmolLM2 (built lazily, shared in the process).
        noise_prob: probability of a noisy call (ZeroSearch's ``gt_threshold``; settable).
        seed, group_seed: mix into the noise decision and the sampling seed.
        cache: True = in-memory + on-disk JSON cache (``cache_dir``, default
            ``cache_root()/simulated_search``); ``"memory"`` = in-memory only; False = none
            (documents are still reproducible from the sampling seed, but regenerated).
        max_new_tokens, temperature, top_p: decoding (ZeroSearch: temperature 0.8).
        docs_per_query: documents the LLM is asked for (ZeroSearch: 5); a search returns
            ``min(k, docs_per_query)``. Missing documents (the model wrote fewer) are filled with
            template documents (true statements / real distractor passages), counted in
            ``last_calls[i]["num_fallback"]``.
        tasks: ``task_key -> Task`` mapping; with it, useful prompts carry the question and
            answer (as ZeroSearch's do) and ``contains_needed_fact`` is recorded.
        include_answer: put the task's question and answer in useful prompts.
        max_facts: at most this many facts in a prompt (the query's best-overlapping ones).

    Documents get ids ``sim:<cache key>-<i>``; ``access`` returns them (from memory, else the disk
    cache) and real corpus passages for any other id. Generation is batched across the queries of
    one call when decoding is greedy, or when the generator offers
    ``generate_seeded(prompts, config, seeds)``; otherwise each sampled prompt is its own call
    with its own seed, so a query's documents never depend on what else was in the batch.
    """

    name = "simulated_llm"

    def __init__(
        self,
        world: World,
        corpus: Corpus,
        generator: Any = None,
        *,
        noise_prob: float = 0.5,
        seed: int = 0,
        group_seed: int = 0,
        cache: bool | str = True,
        cache_dir: str | Path | None = None,
        max_new_tokens: int = 320,
        temperature: float = 0.8,
        top_p: float = 1.0,
        docs_per_query: int = 5,
        tasks: Any = None,
        include_answer: bool = True,
        max_facts: int = 12,
        generator_options: Mapping[str, Any] | None = None,
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
        from searchgym.llm.base import GenerationConfig

        self.generation = GenerationConfig(
            max_new_tokens=int(max_new_tokens), temperature=float(temperature), top_p=float(top_p)
        )
        self.num_docs = int(docs_per_query)
        self.include_answer = bool(include_answer)
        self.max_facts = int(max_facts)
        if isinstance(generator, (str, Path)) or generator is None:
            self._spec: str | None = None if generator is None else str(generator)
            self._generator: Any = None
            self._generator_options = dict(generator_options or {})
        else:
            if not callable(getattr(generator, "generate", None)):
                raise TypeError(
                    f"generator must have a generate(prompts, config) method, got {type(generator).__name__}"
                )
            self._spec, self._generator, self._generator_options = None, generator, {}
        self._generator_given = self._generator is not None
        if cache not in (True, False, "memory"):
            raise ValueError(f"cache must be True, False or 'memory', got {cache!r}")
        self.cache_mode = cache
        directory = None
        if cache is True:
            directory = Path(cache_dir) if cache_dir is not None else cache_root() / "simulated_search"
        self._cache_dir = directory
        # cache=False still remembers this engine's recent results (for access), never reuses them.
        self._cache = shared_cache(directory) if cache else ResultCache(None, max_entries=10_000)
        self.generated_prompts = 0  # prompts actually sent to the generator

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_cache"] = None  # a process-wide cache with a lock: reattached on load
        if self._spec is not None or not self._generator_given:
            state["_generator"] = None  # rebuilt lazily from its spec
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._cache = shared_cache(self._cache_dir) if self.cache_mode else ResultCache(None, max_entries=10_000)

    @property
    def generator(self) -> Any:
        """The text generator (built on first use when given as a spec or None)."""
        if self._generator is None:
            self._generator = shared_generator(self._spec, self._generator_options)
        return self._generator

    @property
    def model_id(self) -> str:
        return model_id(self.generator, self._spec)

    @property
    def nondeterministic(self) -> bool:
        """Sampling with temperature > 0 (reproducible only through the seed and the cache)."""
        return not self.generation.greedy

    # -- prompts ----------------------------------------------------------------------------
    def _prompt_for(
        self, query: str, useful: bool, grounding: Grounding, context: SearchContext
    ) -> tuple[str, list[Fact], str | None]:
        """(prompt text, facts it states, title for its documents)."""
        tokens = set(tokenize(query))
        task = self._task(context)
        needed = {step.fact_id for step in task.chain} if task is not None else set()
        if useful:
            facts = list(grounding.facts)
            title = self.world.name(grounding.entity_ids[0]) if grounding.entity_ids else None
            avoid: list[str] = []
        else:
            facts = []
            for other in grounding.look_alikes[:1]:
                facts = [
                    f
                    for f in self.grounder.facts_of(other)
                    if not {f.subject, str(f.object)} & set(grounding.entity_ids)
                ]
            title = self.world.name(grounding.look_alikes[0]) if facts else None
            avoid = [self.world.name(e) for e in grounding.entity_ids]

        def rank(fact: Fact) -> tuple[int, int, int, str]:
            overlap = len(tokens & set(tokenize(self.grounder.statements([fact])[0])))
            return (
                0 if fact.fact_id in needed else 1,
                -len(tokens & relation_vocabulary(self.world, fact.relation)),
                -overlap,
                fact.fact_id,
            )

        facts = sorted(facts, key=rank)[: self.max_facts]
        question = answer = None
        if useful and self.include_answer and task is not None:
            question, answer = task.question, task.answer
        prompt = zerosearch_prompt(
            query,
            useful=useful,
            num_docs=self.num_docs,
            question=question,
            answer=answer,
            facts=self.grounder.statements(facts),
            avoid=avoid,
        )
        return prompt, facts, title

    def _sampling_seed(self, query: str, useful: bool, context: SearchContext) -> int:
        return _hash_int("sample", self.seed, context.task_key or "", context.group_seed, query, useful) & (
            (1 << 63) - 1
        )

    def _cache_key(self, prompt: str, seed: int) -> str:
        config = self.generation
        return content_hash(
            self.model_id,
            prompt,
            str(seed),
            stable_json([config.max_new_tokens, config.temperature, config.top_p]),
            length=24,
        )

    # -- generation ---------------------------------------------------------------------------
    def _lookup(self, key: str) -> dict[str, Any] | None:
        return self._cache.get(key)

    def _store(self, key: str, entry: dict[str, Any]) -> None:
        self._cache.put(key, entry)

    def _generate(self, prompts: list[str], seeds: list[int]) -> list[str]:
        from dataclasses import replace

        generator = self.generator
        chats = [[{"role": "user", "content": prompt}] for prompt in prompts]
        self.generated_prompts += len(prompts)
        if self.generation.greedy:
            return list(generator.generate(chats, replace(self.generation, seed=0)))
        seeded = getattr(generator, "generate_seeded", None)
        if callable(seeded):
            return list(seeded(chats, self.generation, seeds))
        outputs: list[str] = []
        for chat, seed in zip(chats, seeds):
            outputs.extend(generator.generate([chat], replace(self.generation, seed=seed)))
        return outputs

    def search_batch(
        self, queries: list[str], k: int, contexts: Sequence[SearchContext | tuple[str | None, int]]
    ) -> list[list[Hit]]:
        """Like :meth:`search`, with one ``(task_key, group_seed)`` context per query; all
        uncached prompts of the batch go to the generator together."""
        cleaned = clean_queries(queries)
        k = check_k(k)
        contexts = self._contexts(cleaned, contexts)
        plans: list[dict[str, Any] | None] = []
        pending: dict[str, dict[str, Any]] = {}  # cache key -> the plan whose prompt generates it
        for query, context in zip(cleaned, contexts):
            if not query:
                plans.append(None)
                continue
            useful = not self.is_noisy(query, context)
            grounding = self.grounder.ground(query)
            prompt, facts, title = self._prompt_for(query, useful, grounding, context)
            seed = self._sampling_seed(query, useful, context)
            key = self._cache_key(prompt, seed)
            plan: dict[str, Any] = {
                "query": query,
                "context": context,
                "useful": useful,
                "grounding": grounding,
                "facts": facts,
                "title": title,
                "key": key,
                "prompt": prompt,
                "seed": seed,
            }
            plans.append(plan)
            if key not in pending and (not self.cache_mode or self._lookup(key) is None):
                pending[key] = plan
        cached_keys = {plan["key"] for plan in plans if plan is not None} - set(pending)
        if pending:
            keys = list(pending)
            texts = self._generate([pending[key]["prompt"] for key in keys], [pending[key]["seed"] for key in keys])
            if len(texts) != len(keys):
                raise RuntimeError(f"generator returned {len(texts)} outputs for {len(keys)} prompts")
            for key, text in zip(keys, texts):
                generated = pending[key]
                self._store(
                    key,
                    {
                        "key": key,
                        "model": self.model_id,
                        "prompt": generated["prompt"],
                        "seed": generated["seed"],
                        "text": str(text),
                        "query": generated["query"],
                        "useful": generated["useful"],
                        "fact_ids": [fact.fact_id for fact in generated["facts"]],
                        "title": generated["title"],
                        "mentioned": list(generated["grounding"].entity_ids),
                    },
                )
        results: list[list[Hit]] = []
        calls: list[dict[str, Any]] = []
        for query, context, planned in zip(cleaned, contexts, plans):
            if planned is None:
                results.append([])
                calls.append(
                    {
                        "query": query,
                        "noisy": False,
                        "mentioned": [],
                        "doc_ids": [],
                        "contains_needed_fact": None,
                        "task_key": context.task_key,
                        "group_seed": context.group_seed,
                    }
                )
                continue
            entry = self._lookup(planned["key"])
            assert entry is not None
            hits, call = self._finish(planned, entry, self._count(k))
            call["cached"] = planned["key"] in cached_keys
            results.append(hits)
            calls.append(call)
        self.last_calls = calls
        return results

    def _facts_by_id(self, fact_ids: Sequence[str]) -> list[Fact]:
        facts: list[Fact] = []
        for fact_id in fact_ids:
            subject = fact_id.split("|", 1)[0]
            if subject in self.world.entities:
                facts.extend(f for f in self.grounder.facts_of(subject) if f.fact_id == fact_id)
        return facts

    def _documents(self, entry: dict[str, Any]) -> list[Passage]:
        """All ``num_docs`` documents of a cached generation: parsed from the model's text, then
        padded with template documents (true statements, else real distractor passages)."""
        key = entry["key"]
        facts = self._facts_by_id(entry.get("fact_ids", ()))
        mentioned = list(entry.get("mentioned", ()))
        texts = parse_documents(entry["text"], self.num_docs)
        generated = len(texts)
        statements = self.grounder.statements(facts)
        start = 0
        while len(texts) < self.num_docs and start < len(statements):  # 2 true statements per doc
            texts.append(" ".join(statements[start : start + 2]))
            start += 2
        # Never the query as a title: what the agent typed must not come back as retrieved text.
        title = entry.get("title") or GENERATED_TITLE
        passages: list[Passage] = []
        for i, text in enumerate(texts):
            passages.append(
                Passage(
                    doc_id=f"{SIM_ID_PREFIX}{key}-{i}",
                    title=title,
                    text=text,
                    entity_id=None,
                    section="generated" if i < generated else "template",
                    facts=tuple(self.grounder.supported_facts(text, facts)),
                    mentions=tuple(mentioned) if entry.get("useful") else (),
                    kind="simulated",
                )
            )
        if len(passages) < self.num_docs:  # nothing true to pad with: real distractor passages
            asked = set(mentioned)
            pool = [r for r in self.index.distractors if self._safe_for(self.corpus.passages[r], asked)]
            if pool:
                rng = _rng("pad", key)
                picks = rng.choice(len(pool), size=min(len(pool), self.num_docs - len(passages)), replace=False)
                passages.extend(self.corpus.passages[pool[int(i)]] for i in picks)
        return passages

    def _finish(self, plan: dict[str, Any], entry: dict[str, Any], count: int) -> tuple[list[Hit], dict[str, Any]]:
        context: SearchContext = plan["context"]
        grounding: Grounding = plan["grounding"]
        docs = self._documents(entry)[:count]
        hits = [Hit(doc_id=p.doc_id, score=1.0 / (rank + 1), title=p.title, text=p.text) for rank, p in enumerate(docs)]
        asked_names = [self.world.name(e) for e in grounding.entity_ids]
        doc_facts = [list(p.facts) if p.kind == "simulated" else [] for p in docs]
        needed = self._needed_facts(context)
        call: dict[str, Any] = {
            "query": plan["query"],
            "noisy": not plan["useful"],
            "noise_kind": None if plan["useful"] else ("look_alike" if plan["facts"] else "unrelated"),
            "mentioned": list(grounding.entity_ids),
            "doc_ids": [hit.doc_id for hit in hits],
            "num_generated": sum(1 for p in docs if p.section == "generated"),
            "num_fallback": sum(1 for p in docs if p.section != "generated"),
            "doc_facts": [len(ids) for ids in doc_facts],
            "grounded": any(doc_facts[:count]) if plan["facts"] else None,
            "contains_needed_fact": None if needed is None else any(needed.intersection(ids) for ids in doc_facts),
            "generated_contains_needed_fact": None
            if needed is None
            else any(needed.intersection(ids) for p, ids in zip(docs, doc_facts) if p.section == "generated"),
            "mentions_asked_entity": [
                any(f" {normalize(name)} " in f" {normalize(p.text)} " for name in asked_names) for p in docs
            ],
            "task_key": context.task_key,
            "group_seed": context.group_seed,
            "key": plan["key"],
        }
        return hits, call

    def access(self, doc_id: str) -> Passage:
        """A generated document (``sim:`` id) or a corpus passage."""
        if isinstance(doc_id, str) and doc_id.startswith(SIM_ID_PREFIX):
            key, _, index = doc_id[len(SIM_ID_PREFIX) :].rpartition("-")
            entry = self._lookup(key) if re.fullmatch(r"[0-9a-f]{24}", key) else None
            docs = [] if entry is None else self._documents(entry)
            if not index.isdigit() or int(index) >= len(docs) or docs[int(index)].doc_id != doc_id:
                raise UnknownDocumentError(
                    f"unknown simulated document id {shorten(doc_id)!r}: this engine did not "
                    "generate it (or its cache was cleared)"
                )
            return docs[int(index)]
        return super().access(doc_id)

    def __repr__(self) -> str:
        spec = self._spec if self._generator is None else type(self._generator).__name__
        return (
            f"LLMSimulatedEngine({self.world.world_id!r}, generator={spec!r}, "
            f"noise_prob={self._noise_prob}, temperature={self.generation.temperature}, "
            f"cache={self.cache_mode!r})"
        )
