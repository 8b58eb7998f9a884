"""Self-search (SSRL): the documents of a search come from a model, usually the policy itself.

In SSRL the policy writes its own ``<information>`` block after each ``<search>``, and the trainer
masks those tokens out of the loss ("information masking": the model is not trained to imitate
text it pretended to retrieve). :class:`SelfSearchEngine` gives that setup the normal env
interface: the documents come from a ``generate_docs(queries, k)`` callable the caller provides,
each becomes a :class:`Hit` with a synthetic ``self:`` id that ``access`` can open, and
``last_spans`` lists the generated texts of the last search so a trainer can find and mask them.

:func:`policy_self_search` turns any :class:`~searchgym.llm.TextGenerator` into such a callable
(prompting it to write documents for the query). With ``world=...`` the engine also checks each
generated document against the graph (``last_checks``), measuring how much the self-search
hallucinates.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from searchgym.cache import content_hash
from searchgym.search.base import UnknownDocumentError
from searchgym.search.corpus_index import check_k, clean_queries, shorten
from searchgym.types import Hit, Passage

__all__ = [
    "SELF_ID_PREFIX",
    "SSRL_DOC_PROMPT",
    "DocGenerator",
    "SelfSearchEngine",
    "make_self_search_engine",
    "policy_self_search",
    "split_title",
]

DocGenerator = Callable[[list[str], int], list[list[str]]]
"""``generate_docs(queries, k) -> one list of at most k document texts per query``."""

SELF_ID_PREFIX = "self:"
DEFAULT_TITLE = "Self-search"

SSRL_DOC_PROMPT = (
    "You are a search engine. Using only your own knowledge, write {k_word} short documents "
    "(about 30 words each) that would help answer the search query below. Write each document on "
    'one line starting with "Doc 1:", "Doc 2:" and so on, and output nothing else.\n\n'
    "Query: {query}\nDocuments:"
)
"""Default prompt of :func:`policy_self_search` (fields: ``{query}``, ``{k}``, ``{k_word}``)."""

_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


def split_title(document: str) -> tuple[str | None, str]:
    """``'"Title"\\ntext'`` (Search-R1's ``contents``) -> ``("Title", "text")``; else ``(None, doc)``."""
    head, newline, rest = document.partition("\n")
    head = head.strip()
    if newline and len(head) >= 2 and head[0] == head[-1] == '"' and rest.strip():
        return head[1:-1].strip() or None, rest.strip()
    return None, document.strip()


class SelfSearchEngine:
    """A search engine whose documents are written by ``generate_docs`` (SSRL self-search).

    Args:
        generate_docs: ``(queries, k) -> list[list[str]]``, one list of document texts per query
            (more than ``k`` are cut; a document may start with a ``"Title"`` line).
        world: optional; when given, each document is checked against the facts of the entities
            the query names and the result is stored in ``last_checks``.
        max_docs_kept: generated documents remembered for ``access`` (oldest dropped first).

    ``last_spans``: ``[(query, (doc text, ...)), ...]`` for the last search, the generated text a
    trainer masks. Swap the source at run time by assigning ``engine.generate_docs``.
    """

    name = "self"
    agent_written = True
    """The documents are the policy's own text: the env never counts them as retrieved evidence."""

    def __init__(
        self,
        generate_docs: DocGenerator,
        *,
        world: Any = None,
        max_docs_kept: int = 100_000,
        name: str | None = None,
    ) -> None:
        if not callable(generate_docs):
            raise TypeError(f"generate_docs must be callable, got {type(generate_docs).__name__}")
        self.generate_docs = generate_docs
        self._initial_generate_docs = generate_docs
        self.world = world
        self.max_docs_kept = check_k(max_docs_kept)
        if name:
            self.name = name
        self._docs: OrderedDict[str, Passage] = OrderedDict()
        self._lock = threading.Lock()
        self.last_spans: list[tuple[str, tuple[str, ...]]] = []
        self.last_checks: list[dict[str, Any]] = []
        self._grounder = None
        if world is not None:
            from searchgym.search.grounding import get_grounder

            self._grounder = get_grounder(world)

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        cleaned = clean_queries(queries)
        k = check_k(k)
        asked = [query for query in cleaned if query]
        generated = self.generate_docs(list(asked), k) if asked else []
        if not isinstance(generated, Sequence) or isinstance(generated, (str, bytes)) or len(generated) != len(asked):
            raise ValueError(
                f"generate_docs returned {type(generated).__name__} of length "
                f"{len(generated) if isinstance(generated, Sequence) else '?'} for {len(asked)} queries; "
                "expected one list of document strings per query"
            )
        by_query = iter(generated)
        results: list[list[Hit]] = []
        spans: list[tuple[str, tuple[str, ...]]] = []
        checks: list[dict[str, Any]] = []
        for query in cleaned:
            if not query:
                results.append([])
                continue
            docs = next(by_query)
            if isinstance(docs, str) or not isinstance(docs, Sequence) or not all(isinstance(d, str) for d in docs):
                raise ValueError(f"generate_docs must return a list of strings per query; got {docs!r:.80}")
            texts = [doc for doc in docs if doc.strip()][:k]
            hits = []
            for rank, document in enumerate(texts):
                title, text = split_title(document)
                doc_id = f"{SELF_ID_PREFIX}{content_hash(query, str(rank), document)}"
                passage = Passage(
                    doc_id=doc_id, title=title or DEFAULT_TITLE, text=text, section="self-search", kind="generated"
                )
                self._remember(passage)
                hits.append(Hit(doc_id=doc_id, score=1.0 / (rank + 1), title=passage.title, text=text))
            results.append(hits)
            spans.append((query, tuple(texts)))
            if self._grounder is not None:
                checks.append(self._check(query, [hit.text for hit in hits]))
        self.last_spans = spans
        self.last_checks = checks
        return results

    def _check(self, query: str, texts: list[str]) -> dict[str, Any]:
        assert self._grounder is not None
        grounding = self._grounder.ground(query)
        facts = list(grounding.facts)
        supported = [self._grounder.supported_facts(text, facts) for text in texts]
        return {
            "query": query,
            "mentioned": list(grounding.entity_ids),
            "doc_facts": [len(ids) for ids in supported],
            "grounded": any(supported) if facts else None,
        }

    def _remember(self, passage: Passage) -> None:
        with self._lock:
            self._docs[passage.doc_id] = passage
            self._docs.move_to_end(passage.doc_id)
            while len(self._docs) > self.max_docs_kept:
                self._docs.popitem(last=False)

    def access(self, doc_id: str) -> Passage:
        with self._lock:
            passage = self._docs.get(doc_id) if isinstance(doc_id, str) else None
        if passage is None:
            shown = shorten(doc_id) if isinstance(doc_id, str) else shorten(repr(doc_id))
            raise UnknownDocumentError(
                f"unknown document id {shown!r}: self-search can only open documents it generated"
            )
        return passage

    # -- snapshots and pickling ---------------------------------------------------------------
    def snapshot_state(self, doc_ids: Sequence[str] = ()) -> dict[str, Any]:
        """What an env snapshot carries: the documents generated for ``doc_ids`` (so ``access``
        still opens them in a copy built in another process), the last spans and checks, and
        ``generate_docs`` when it was swapped for another callable (the policy's)."""
        with self._lock:
            docs = {doc_id: self._docs[doc_id] for doc_id in doc_ids if doc_id in self._docs}
        swapped = self.generate_docs is not self._initial_generate_docs
        return {
            "docs": docs,
            "last_spans": list(self.last_spans),
            "last_checks": [dict(c) for c in self.last_checks],
            "generate_docs": self.generate_docs if swapped else None,
        }

    def restore_state(self, state: Mapping[str, Any]) -> None:
        for passage in state["docs"].values():
            self._remember(passage)
        self.last_spans = list(state["last_spans"])
        self.last_checks = [dict(check) for check in state["last_checks"]]
        if state.get("generate_docs") is not None:
            self.generate_docs = state["generate_docs"]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_lock"] = state["_grounder"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        if self.world is not None:
            from searchgym.search.grounding import get_grounder

            self._grounder = get_grounder(self.world)

    def __repr__(self) -> str:
        return f"SelfSearchEngine({getattr(self.generate_docs, '__name__', type(self.generate_docs).__name__)})"


def policy_self_search(
    generator: Any,
    prompt_template: str = SSRL_DOC_PROMPT,
    config: Any = None,
    *,
    chat: bool = True,
) -> DocGenerator:
    """A ``generate_docs`` callable that asks ``generator`` (a TextGenerator) to write the
    documents, one batched ``generate`` call per search.

    ``prompt_template`` may use ``{query}``, ``{k}`` and ``{k_word}``; ``chat=False`` sends it
    as raw text instead of a user message. ``config`` is a
    :class:`~searchgym.llm.GenerationConfig` (default: greedy, 256 new tokens).
    """
    from searchgym.llm.base import GenerationConfig
    from searchgym.search.zerosearch_text import parse_documents

    if not callable(getattr(generator, "generate", None)):
        raise TypeError(f"generator must have a generate(prompts, config) method, got {type(generator).__name__}")
    config = config if config is not None else GenerationConfig(max_new_tokens=256)
    for field in ("{query}",):
        if field not in prompt_template:
            raise ValueError(f"prompt_template must contain {field}")

    def generate_docs(queries: list[str], k: int) -> list[list[str]]:
        texts = [prompt_template.format(query=q, k=k, k_word=_WORDS.get(k, str(k))) for q in queries]
        prompts = [[{"role": "user", "content": t}] for t in texts] if chat else texts
        outputs = generator.generate(prompts, config)
        docs = []
        for output in outputs:
            parsed = parse_documents(output, k)
            docs.append(parsed or ([" ".join(output.split())] if output.strip() else []))
        return docs

    generate_docs.__name__ = f"policy_self_search({type(generator).__name__})"
    return generate_docs


def template_self_search(world: Any, corpus: Any) -> DocGenerator:
    """A stand-in for the policy: the template simulator's useful documents (real passages, as
    ``"Title"\\ntext``). Fast and deterministic; replace it with :func:`policy_self_search`."""
    from searchgym.search.simulated import TemplateSimulatedEngine

    return _TemplateDocs(TemplateSimulatedEngine(world, corpus, noise_prob=0.0))


class _TemplateDocs:
    """The :func:`template_self_search` callable (a class, not a closure, so it pickles)."""

    __name__ = "template_self_search"

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def __call__(self, queries: list[str], k: int) -> list[list[str]]:
        return [[passage.contents for passage in self.engine.useful_documents(query, k)] for query in queries]


def make_self_search_engine(
    bundle: Any,
    *,
    generator: str | None = "template",
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    seed: int | None = 0,
    prompt_template: str = SSRL_DOC_PROMPT,
    check: bool = True,
    generator_options: dict[str, Any] | None = None,
) -> SelfSearchEngine:
    """The ``"self"`` engine of an env spec. ``generator="template"`` (default) uses
    :func:`template_self_search`; any other value is a :func:`~searchgym.llm.make_generator`
    spec (``"smollm2"``, ``"openai:URL#model"``, ...) prompted by :func:`policy_self_search`.
    In training, assign the policy's own callable to ``env.unwrapped.engine.generate_docs``."""
    if generator == "template":
        docs = template_self_search(bundle.world, bundle.corpus)
    else:
        from searchgym.llm.base import GenerationConfig
        from searchgym.search.sim_resources import shared_generator

        config = GenerationConfig(max_new_tokens=int(max_new_tokens), temperature=float(temperature), seed=seed)
        docs = policy_self_search(shared_generator(generator, generator_options or {}), prompt_template, config)
    return SelfSearchEngine(docs, world=bundle.world if check else None)
