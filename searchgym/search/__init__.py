"""Search backends behind one batched interface (:class:`SearchEngine`).

Build any of them by name with :func:`make_engine` (``"bm25"``, ``"dense"``, ``"hybrid"``,
``"remote"``, ``"simulated"``, ``"simulated_llm"``, ``"self"``, and whatever else has been
registered with :func:`register_engine`); :mod:`searchgym.search.base` declares the optional
members an engine may have and their defaults.
"""

from searchgym.search.base import ContextualSearchEngine, SearchEngine, SearchError, UnknownDocumentError
from searchgym.search.factory import (
    available_engines,
    engine_entry,
    make_engine,
    register_engine,
    validate_engine_options,
)

__all__ = [
    "ContextualSearchEngine",
    "SearchEngine",
    "SearchError",
    "UnknownDocumentError",
    "available_engines",
    "engine_entry",
    "make_engine",
    "register_engine",
    "validate_engine_options",
]
