"""Search backends behind one batched interface (:class:`SearchEngine`).

Build one by name with :func:`make_engine` (``"bm25"``, ``"dense"``, ``"hybrid"``, ``"remote"``,
and whatever else has been registered with :func:`register_engine`).
"""

from searchgym.search.base import SearchEngine, SearchError, UnknownDocumentError
from searchgym.search.factory import available_engines, make_engine, register_engine

__all__ = ["SearchEngine", "SearchError", "UnknownDocumentError", "available_engines", "make_engine",
           "register_engine"]
