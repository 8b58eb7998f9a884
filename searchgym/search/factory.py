"""Build a search engine from its name: the one place configs and the CLI go through.

Why a registry: engines that live elsewhere (a remote HTTP retriever, an LLM-simulated search,
the agent's own corpus) register themselves with :func:`register_engine` instead of this module
importing them, which keeps heavy or optional dependencies out of ``import searchgym.search``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from searchgym.search.base import SearchEngine
from searchgym.types import Passage


class EngineFactory(Protocol):
    """``factory(passages, **options) -> SearchEngine``."""

    def __call__(self, passages: list[Passage], **options: Any) -> SearchEngine: ...


ENGINE_REGISTRY: dict[str, EngineFactory | Callable[..., SearchEngine]] = {}
"""Engine name -> factory. Add to it with :func:`register_engine`, read it with :func:`make_engine`."""

_SHARED_HYBRID_OPTIONS = ("cache", "show_progress")


def register_engine(
    name: str, factory: EngineFactory | Callable[..., SearchEngine], *, overwrite: bool = False
) -> None:
    """Make ``make_engine(name, passages, **options)`` call ``factory(passages, **options)``.

    Re-registering a name is an error unless ``overwrite=True``, so two plugins cannot
    silently shadow each other.
    """
    key = _normalise(name)
    if not key:
        raise ValueError("engine name must be a non-empty string")
    if not callable(factory):
        raise TypeError(f"factory for engine {key!r} must be callable, got {type(factory).__name__}")
    if key in ENGINE_REGISTRY and not overwrite:
        raise ValueError(f"engine {key!r} is already registered; pass overwrite=True to replace it")
    ENGINE_REGISTRY[key] = factory


def available_engines() -> list[str]:
    return sorted(ENGINE_REGISTRY)


def make_engine(name: str, passages: list[Passage], **options: Any) -> SearchEngine:
    """The engine called ``name`` over ``passages``; ``options`` go to its constructor.

    ``"bm25"`` -> :class:`~searchgym.search.bm25.BM25Engine`, ``"dense"`` ->
    :class:`~searchgym.search.dense.DenseEngine`, ``"hybrid"`` -> BM25 + dense fused by
    :class:`~searchgym.search.hybrid.HybridEngine` (see :func:`_make_hybrid` for its options).
    """
    key = _normalise(name)
    factory = ENGINE_REGISTRY.get(key)
    if factory is None:
        raise ValueError(f"unknown search engine {name!r}; valid names: {', '.join(available_engines())}")
    return factory(passages, **options)


def _normalise(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"engine name must be a str, got {type(name).__name__}")
    return name.strip().lower()


def _make_bm25(passages: list[Passage], **options: Any) -> SearchEngine:
    from searchgym.search.bm25 import BM25Engine

    return BM25Engine(passages, **options)


def _make_dense(passages: list[Passage], **options: Any) -> SearchEngine:
    from searchgym.search.dense import DenseEngine

    return DenseEngine(passages, **options)


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


register_engine("bm25", _make_bm25)
register_engine("dense", _make_dense)
register_engine("hybrid", _make_hybrid)


def _make_remote(passages: list[Passage], *, url: str | None = None, **options: Any) -> SearchEngine:
    """A Search-R1-compatible HTTP retriever (ours or an existing one); the local passages are
    not used — the server holds the corpus. ``url`` is required (``[engine_options] url = ...``)."""
    from searchgym.search.remote import RemoteEngine

    if not url:
        raise ValueError("the remote engine needs engine_options.url, e.g. 'http://127.0.0.1:8000/retrieve'")
    return RemoteEngine(url, **options)


register_engine("remote", _make_remote)
