"""The servers of searchgym.

* :mod:`~searchgym.serve.app`: the Search-R1-compatible retrieval server (``/retrieve``,
  ``/access``, ``/doc/<id>``, ``/health``) over any :class:`~searchgym.search.base.SearchEngine`,
  so that Search-R1, verl, SkyRL, ASearcher and ZeroSearch clients use it unchanged
  (:mod:`~searchgym.serve.dialects`, :mod:`~searchgym.serve.schemas`);
  :class:`~searchgym.search.remote.RemoteEngine` is the matching client.
* :mod:`~searchgym.serve.sim`: ZeroSearch's simulated search endpoint, with grounded documents.
* :mod:`~searchgym.serve.openenv`: the env over OpenEnv's protocol.
* :mod:`~searchgym.serve.commands`: the ``serve``, ``serve-llm``, ``serve-sim`` and ``serve-env``
  subcommands (the OpenAI server itself is :mod:`searchgym.llm.openai_server`).
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
