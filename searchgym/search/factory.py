"""Build any search engine from its name: the one path envs, servers, the CLI and users go through.

``make_engine(name, source, **options)`` builds every engine, simulated ones included. ``source``
is a :class:`~searchgym.bundle.WorldBundle` (what an env holds; every engine can be built from
it) or a list of passages (enough for the engines that only index text: ``bm25``, ``dense``,
``hybrid``, ``remote``; a world-aware engine then also needs ``world=``).

Why a registry filled here, at import: the registry used to gain the simulated engines only once
their module was imported, so ``available_engines()`` depended on import order. Every built-in
engine is registered below with a factory that imports its module on first use, which keeps heavy
or optional dependencies (torch, httpx, an LLM) out of ``import searchgym``. Each entry declares
the option names its engine takes, so a typo in ``[engine_options]`` is a one-line error when the
env spec is read, before any world is built (:func:`validate_engine_options`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from searchgym.search.base import SearchEngine
from searchgym.search.engine_option_values import check_option_values
from searchgym.types import Passage

__all__ = [
    "ENGINE_REGISTRY",
    "EngineEntry",
    "available_engines",
    "engine_entry",
    "make_engine",
    "register_engine",
    "validate_engine_options",
]


@dataclass(frozen=True)
class EngineEntry:
    """How to build one engine.

    ``factory(passages, **options)``, or ``factory(bundle, **options)`` when ``needs_world``.
    ``options``: the option names the engine takes (``None``: not declared, anything is passed on).
    ``per_env``: the engine holds per-episode state (a simulated engine's context and
    ``last_calls``), so every env builds its own instead of sharing one per corpus.
    """

    factory: Callable[..., SearchEngine]
    options: frozenset[str] | None = None
    needs_world: bool = False
    per_env: bool = False


ENGINE_REGISTRY: dict[str, EngineEntry] = {}
"""Engine name -> :class:`EngineEntry`. Add to it with :func:`register_engine`."""


def register_engine(
    name: str,
    factory: Callable[..., SearchEngine],
    *,
    options: Sequence[str] | None = None,
    needs_world: bool = False,
    per_env: bool = False,
    overwrite: bool = False,
) -> None:
    """Make ``make_engine(name, source, **options)`` call ``factory``.

    The factory gets the passages (``factory(passages, **options)``), or with ``needs_world``
    the world bundle (``factory(bundle, **options)``: ``bundle.world``, ``bundle.corpus``,
    ``bundle.tasks``). Declare ``options`` (the keyword names the factory takes) to have a
    misspelt option rejected when an env spec is read. Re-registering a name is an error unless
    ``overwrite=True``, so two plugins cannot silently shadow each other.
    """
    key = _normalise(name)
    if not key:
        raise ValueError("engine name must be a non-empty string")
    if not callable(factory):
        raise TypeError(f"factory for engine {key!r} must be callable, got {type(factory).__name__}")
    if key in ENGINE_REGISTRY and not overwrite:
        raise ValueError(f"engine {key!r} is already registered; pass overwrite=True to replace it")
    declared = None if options is None else frozenset(options)
    ENGINE_REGISTRY[key] = EngineEntry(factory, declared, bool(needs_world), bool(per_env))


def available_engines() -> list[str]:
    """Every registered engine name (complete once ``searchgym`` is imported)."""
    return sorted(ENGINE_REGISTRY)


def engine_entry(name: str) -> EngineEntry:
    """The registry entry of ``name`` (``ValueError`` naming the valid engines if unknown)."""
    entry = ENGINE_REGISTRY.get(_normalise(name))
    if entry is None:
        raise ValueError(f"unknown search engine {name!r}; valid names: {', '.join(available_engines())}")
    return entry


def validate_engine_options(name: str, options: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` (one line) for an unknown engine, an option it does not take, or a
    value a built-in engine's option cannot take (:mod:`searchgym.search.engine_option_values`).

    Cheap and import-free: env specs call it when they are read, before any world is built.
    """
    entry = engine_entry(name)
    if not isinstance(options, Mapping):
        raise TypeError(f"engine options must be a mapping, got {type(options).__name__}")
    allowed = entry.options
    if allowed is not None and entry.needs_world:
        allowed = allowed | {"world"}
    if allowed is not None:
        for option in sorted(options):
            if option not in allowed:
                close = difflib.get_close_matches(str(option), sorted(allowed), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"engine {_normalise(name)!r} has no option {option!r}{hint}; "
                    f"its options: {', '.join(sorted(allowed))}"
                )
    check_option_values(_normalise(name), options)
    if _normalise(name) == "hybrid":
        for sub in ("bm25", "dense"):
            sub_options = options.get(sub)
            if sub_options is not None:
                if not isinstance(sub_options, Mapping):
                    raise ValueError(f"engine 'hybrid': option {sub!r} must be a table of {sub} options")
                validate_engine_options(sub, sub_options)


def make_engine(name: str, source: Any, **options: Any) -> SearchEngine:
    """The engine called ``name`` over ``source`` (a world bundle, or a list of passages).

    ``"bm25"`` -> :class:`~searchgym.search.bm25.BM25Engine`, ``"dense"`` ->
    :class:`~searchgym.search.dense.DenseEngine`, ``"hybrid"`` -> BM25 + dense fused by
    :class:`~searchgym.search.hybrid.HybridEngine`, ``"remote"`` ->
    :class:`~searchgym.search.remote.RemoteEngine`, ``"simulated"`` /
    ``"simulated_llm"`` -> the grounded ZeroSearch-style simulators, ``"self"`` -> self-search;
    plus whatever was registered with :func:`register_engine`. ``options`` are checked against
    the engine's declared options, then go to its constructor.
    """
    entry = engine_entry(name)
    validate_engine_options(name, options)
    if entry.needs_world:
        world = options.pop("world", None)
        return entry.factory(_as_bundle(name, source, world), **options)
    return entry.factory(_passages_of(source), **options)


@dataclass(frozen=True)
class _EngineInputs:
    """A bundle's engine-facing parts built from passages plus a world (no tasks)."""

    world: Any
    corpus: Any
    tasks: Any = None


def _is_bundle(source: Any) -> bool:
    return hasattr(source, "world") and hasattr(source, "corpus")


def _passages_of(source: Any) -> Any:
    # The corpus's own list (not a copy): it carries the precomputed store hash engines key by.
    return source.corpus.passages if _is_bundle(source) else source


def _as_bundle(name: str, source: Any, world: Any) -> Any:
    if _is_bundle(source):
        return source
    if world is None:
        raise ValueError(
            f"engine {_normalise(name)!r} simulates search from the world graph: call "
            f"make_engine({_normalise(name)!r}, bundle, ...) with a WorldBundle, or pass world=world "
            "with the passages"
        )
    from searchgym.corpus.corpus import Corpus

    return _EngineInputs(world, Corpus(world.world_id, source))


def _normalise(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"engine name must be a str, got {type(name).__name__}")
    return name.strip().lower()


# -- the built-in engines ---------------------------------------------------------------------
def _make_bm25(passages: list[Passage], **options: Any) -> SearchEngine:
    from searchgym.search.bm25 import BM25Engine

    return BM25Engine(passages, **options)


def _make_dense(passages: list[Passage], **options: Any) -> SearchEngine:
    from searchgym.search.dense import DenseEngine

    return DenseEngine(passages, **options)


_SHARED_HYBRID_OPTIONS = ("cache", "show_progress")


def _make_hybrid(
    passages: list[Passage],
    *,
    bm25: Mapping[str, Any] | None = None,
    dense: Mapping[str, Any] | None = None,
    **options: Any,
) -> SearchEngine:
    """BM25 + dense with RRF. ``bm25`` / ``dense`` are the sub-engines' options; ``cache`` and
    ``show_progress`` are passed to both; the rest (``rrf_k``, ``depth``, ``weights``, ``name``)
    go to :class:`HybridEngine`."""
    from searchgym.search.hybrid import HybridEngine

    shared = {key: options.pop(key) for key in _SHARED_HYBRID_OPTIONS if key in options}
    engines = [
        _make_bm25(passages, **{**shared, **(bm25 or {})}),
        _make_dense(passages, **{**shared, **(dense or {})}),
    ]
    return HybridEngine(engines, **options)


def _make_remote(passages: list[Passage], *, url: str | None = None, **options: Any) -> SearchEngine:
    """A Search-R1-compatible HTTP retriever (ours or an existing one); the local passages are
    not used — the server holds the corpus. ``url`` is required (``[engine_options] url = ...``)."""
    from searchgym.search.remote import RemoteEngine

    if not url:
        raise ValueError("the remote engine needs engine_options.url, e.g. 'http://127.0.0.1:8000/retrieve'")
    return RemoteEngine(url, **options)


def _make_simulated(bundle: Any, **options: Any) -> SearchEngine:
    from searchgym.search.simulated import TemplateSimulatedEngine

    tasks = options.pop("tasks", bundle.tasks)
    return TemplateSimulatedEngine(bundle.world, bundle.corpus, tasks=tasks, **options)


def _make_simulated_llm(bundle: Any, **options: Any) -> SearchEngine:
    from searchgym.search.simulated_llm import LLMSimulatedEngine

    tasks = options.pop("tasks", bundle.tasks)
    return LLMSimulatedEngine(bundle.world, bundle.corpus, options.pop("generator", None), tasks=tasks, **options)


def _make_self(bundle: Any, **options: Any) -> SearchEngine:
    from searchgym.search.self_search import make_self_search_engine

    return make_self_search_engine(bundle, **options)


_BM25_OPTIONS = ("k1", "b", "method", "stemmer", "cache", "show_progress", "threads", "kernel", "name")
_DENSE_OPTIONS = (
    "model",
    "index",
    "batch_size",
    "device",
    "normalize",
    "cache",
    "show_progress",
    "nlist",
    "nprobe",
    "hnsw_m",
    "ef_construction",
    "ef_search",
    "backend",
    "name",
)
_SIMULATED_OPTIONS = ("noise_prob", "seed", "group_seed", "docs_per_query", "tasks", "name")

register_engine("bm25", _make_bm25, options=_BM25_OPTIONS)
register_engine("dense", _make_dense, options=_DENSE_OPTIONS)
register_engine(
    "hybrid", _make_hybrid, options=("bm25", "dense", *_SHARED_HYBRID_OPTIONS, "rrf_k", "depth", "weights", "name")
)
register_engine(
    "remote",
    _make_remote,
    options=("url", "timeout", "max_retries", "backoff", "batch_size", "name", "headers", "api_key"),
)
register_engine("simulated", _make_simulated, options=_SIMULATED_OPTIONS, needs_world=True, per_env=True)
register_engine(
    "simulated_llm",
    _make_simulated_llm,
    needs_world=True,
    per_env=True,
    options=(
        *_SIMULATED_OPTIONS,
        "generator",
        "cache",
        "cache_dir",
        "max_new_tokens",
        "temperature",
        "top_p",
        "include_answer",
        "max_facts",
        "generator_options",
    ),
)
register_engine(
    "self",
    _make_self,
    needs_world=True,
    per_env=True,
    options=("generator", "max_new_tokens", "temperature", "seed", "prompt_template", "check", "generator_options"),
)
