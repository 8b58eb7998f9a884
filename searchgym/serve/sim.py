"""``searchgym serve-sim``: ZeroSearch's simulated search engine, answered from the world.

Why: ZeroSearch trains without a search engine by asking an LLM (``POST /v1/chat/completions``
on port 6001, ``model=''``) for five *useful* or *noisy* documents per query; which of the two
is decided in its trainer (``prob > gt_threshold``, a curriculum raises the noise). Its
documents can state wrong facts, which its maintainers acknowledge. This server speaks the same
chat endpoint and reads the same prompts (the SFT and the prompt-based ones, and
:func:`~searchgym.search.simulated.zerosearch_prompt`), but answers with *grounded* documents from
the world: a useful call gets real corpus passages about the entities the query names; a noisy
call gets the template simulator's controlled noise (look-alike entities, passages on the same
topic about other entities, distractors), never a statement about the asked entity and never one
containing the gold answer the prompt gave. A useful call with fewer true passages than asked for
is filled up with that noise, as a real engine ranks unrelated pages below the relevant ones.
So ZeroSearch's loop, prompts and noise schedule run unchanged, and its documents can no longer
contradict the gold answer.

The reply is ZeroSearch's text format, ``Doc 1: ...`` to ``Doc n:``, one document per line (its
post-processing splits at ``Doc {topk+1}``). The response also carries a ``searchgym`` object with
the mode, the doc ids shown and whether they state a fact the task needs (when the question is
one of the world's tasks), for logging; OpenAI clients ignore it.

``engine="simulated_llm"`` has an LLM write the documents instead (grounded in the graph facts and
checked against them; see :class:`~searchgym.search.simulated.LLMSimulatedEngine`).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from searchgym.llm.openai_server import add_error_handlers
from searchgym.llm.openai_wire import APIError, ChatCompletionRequest, ChunkWriter, chat_completion, chat_message
from searchgym.search.base import ContextualSearchEngine, last_calls
from searchgym.search.factory import ENGINE_REGISTRY, engine_entry, make_engine
from searchgym.search.grounding import normalize
from searchgym.search.simulated_base import SearchContext
from searchgym.types import Hit

__all__ = ["GroundedSimulator", "SimulationRequest", "create_sim_app", "parse_simulation_prompt"]

_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_COUNT = re.compile(r"generate (\w+) (?:related but )?(useful|noisy) documents", re.IGNORECASE)
_QUESTION = re.compile(
    r'The user is trying to answer the question: "(.*?)" whose answer is (.*?)\.?[ \t]*$', re.MULTILINE
)
_QUERY = re.compile(r"^Query:[ \t]*(.*?)[ \t]*\n(Useful|Noisy) Output:", re.MULTILINE | re.IGNORECASE)
MAX_DOCS = 10


@dataclass(frozen=True)
class SimulationRequest:
    """What a simulation prompt asks for (the last ``Query:`` of the prompt, after any demo)."""

    query: str
    useful: bool
    num_docs: int = 5
    question: str | None = None
    answer: str | None = None


def parse_simulation_prompt(text: str) -> SimulationRequest:
    """Read ZeroSearch's useful/noisy prompt; ValueError for anything else."""
    queries = list(_QUERY.finditer(text))
    if not queries:
        raise ValueError(
            "not a simulated-search prompt: expected a 'Query: ...' line followed by "
            "'Useful Output:' or 'Noisy Output:' (ZeroSearch's format)"
        )
    last = queries[-1]
    count = _COUNT.search(text)
    num_docs = 5
    if count is not None:
        word = count.group(1).lower()
        num_docs = _NUMBERS.get(word, int(word) if word.isdigit() else 5)
    question = _QUESTION.search(text)
    return SimulationRequest(
        query=last.group(1).strip(),
        useful=last.group(2).lower() == "useful",
        num_docs=max(1, min(MAX_DOCS, num_docs)),
        question=question.group(1).strip() if question else None,
        answer=question.group(2).strip() if question else None,
    )


def _simulator(bundle: Any, name: str, **options: Any) -> ContextualSearchEngine:
    """A simulated engine (one whose noise the caller sets) built from the bundle."""
    entry = engine_entry(name)
    if not (entry.needs_world and entry.options is not None and "noise_prob" in entry.options):
        simulators = [n for n, e in ENGINE_REGISTRY.items() if e.needs_world and "noise_prob" in (e.options or ())]
        raise ValueError(f"{name!r} is not a simulated search engine; simulators: {', '.join(sorted(simulators))}")
    engine = make_engine(name, bundle, **options)
    if not isinstance(engine, ContextualSearchEngine):  # pragma: no cover - a re-registered name
        raise TypeError(f"engine {name!r} built a {type(engine).__name__}, which takes no search contexts")
    return engine


class GroundedSimulator:
    """Documents for simulation requests, from a world bundle (see the module docstring).

    Two engines share the process-wide grounder and index: one never noisy, one always noisy,
    because the noise decision belongs to the client's prompt, not to a probability here.
    """

    def __init__(self, bundle: Any, engine: str = "simulated", *, seed: int = 0, **options: Any) -> None:
        self.bundle = bundle
        self.useful = _simulator(bundle, engine, noise_prob=0.0, seed=seed, **options)
        self.noisy = _simulator(bundle, engine, noise_prob=1.0, seed=seed, **options)
        self.lock = threading.Lock()  # the engines record last_calls: one request at a time
        self.tasks_by_question = {normalize(task.question): task.task_key for task in bundle.tasks}

    def documents(self, request: SimulationRequest) -> tuple[list[Hit], dict[str, Any]]:
        """The hits for one request and a record of the call."""
        task_key = self.tasks_by_question.get(normalize(request.question)) if request.question else None
        context = SearchContext(task_key, 0)
        engine = self.useful if request.useful else self.noisy
        # Noise that happens to contain the gold answer would be useful after all: ask for spares.
        wanted = request.num_docs if request.useful else 3 * request.num_docs
        with self.lock:
            (hits,) = engine.search_batch([request.query], wanted, [context])
            calls = last_calls(engine)
            call = dict(calls[0]) if calls else {}
        if not request.useful and request.answer and len(normalize(request.answer)) >= 2:
            gold = f" {normalize(request.answer)} "
            hits = [hit for hit in hits if gold not in f" {normalize(hit.title + ' ' + hit.text)} "]
        hits = hits[: request.num_docs]
        padding = 0
        if request.useful and len(hits) < request.num_docs:
            # Fewer true passages about the query than asked for: fill up with the noise a real
            # engine would rank below them (true statements about other entities), as 5 results.
            with self.lock:
                (extra,) = self.noisy.search_batch([request.query], 2 * request.num_docs, [context])
            shown = {hit.doc_id for hit in hits}
            extra = [hit for hit in extra if hit.doc_id not in shown][: request.num_docs - len(hits)]
            hits, padding = hits + extra, len(extra)
        record = {
            "mode": "useful" if request.useful else "noisy",
            "query": request.query,
            "task_key": task_key,
            "doc_ids": [hit.doc_id for hit in hits],
            "noise_kind": call.get("noise_kind"),
            "padding": padding,
            "contains_needed_fact": call.get("contains_needed_fact") if request.useful else None,
        }
        return hits, record

    @staticmethod
    def render(hits: list[Hit]) -> str:
        """ZeroSearch's format: ``Doc i: text``, one document per line."""
        return "\n".join(f"Doc {i}: {' '.join(hit.text.split())}" for i, hit in enumerate(hits, 1))


def create_sim_app(simulator: GroundedSimulator, model_name: str = "searchgym-sim") -> FastAPI:
    """The OpenAI chat endpoint ZeroSearch's ``ask_llm`` calls, answered by ``simulator``."""
    app = FastAPI(title="searchgym simulated search (ZeroSearch-compatible)")
    add_error_handlers(app, max_body_bytes=1024 * 1024)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "world_id": simulator.bundle.world.world_id,
            "engine": simulator.useful.name,
            "tasks": len(simulator.tasks_by_question),
        }

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "searchgym"}]}

    @app.post("/v1/chat/completions", response_model=None)
    def chat(request: ChatCompletionRequest) -> Any:
        user = [m for m in request.messages if m.role == "user"]
        if not user:
            raise APIError(400, "no user message: send the simulation prompt as the user message", param="messages")
        try:
            wanted = parse_simulation_prompt(user[-1].text())
        except ValueError as error:
            raise APIError(400, str(error), param="messages") from None
        hits, record = simulator.documents(wanted)
        text = simulator.render(hits)
        name = request.model or model_name
        if request.stream:
            writer = ChunkWriter(name, chat=True)
            events = [writer.start(), writer.text(text), writer.finish("stop", None, []), writer.done()]
            return StreamingResponse(iter(events), media_type="text/event-stream")
        choice = {"index": 0, "message": chat_message(text, []), "finish_reason": "stop", "logprobs": None}
        return chat_completion(name, [choice], None, {"searchgym": record})

    return app
