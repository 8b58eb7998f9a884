"""The Search-R1-compatible retrieval server (``/retrieve``, ``/access``, ``/health``).

Serve any :class:`~searchgym.search.base.SearchEngine` so that Search-R1, verl, SkyRL and
ASearcher clients can use it unchanged; :class:`~searchgym.search.remote.RemoteEngine` is the
matching client.
"""

from searchgym.serve.app import create_app
from searchgym.serve.batcher import BatcherStats, QueryBatcher
from searchgym.serve.runner import BackgroundServer, serve
from searchgym.serve.schemas import AccessRequest, RetrieveRequest, ServerLimits

__all__ = [
    "AccessRequest",
    "BackgroundServer",
    "BatcherStats",
    "QueryBatcher",
    "RetrieveRequest",
    "ServerLimits",
    "create_app",
    "serve",
]
