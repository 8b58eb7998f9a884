"""Search backends behind one batched interface (:class:`SearchEngine`)."""

from searchgym.search.base import SearchEngine, SearchError, UnknownDocumentError

__all__ = ["SearchEngine", "SearchError", "UnknownDocumentError"]
