"""The searchgym retrieval server as a Ray Serve deployment.

Why: one retriever process becomes the bottleneck of a multi-node rollout. Ray Serve runs
``num_replicas`` copies of the SAME FastAPI app as ``searchgym serve``
(:func:`searchgym.serve.app.create_app`, via ``serve.ingress`` with an app builder evaluated on
each replica) behind one HTTP address, so Search-R1 / verl / SkyRL clients and
:class:`~searchgym.search.remote.RemoteEngine` use it unchanged. Each replica builds (or loads
from the shared disk cache) the env's bundle and engine once, at start.

    import ray
    from searchgym.distributed.serve_ray import serve_retriever
    ray.init()
    url = serve_retriever("SearchQA-v0", num_replicas=4, port=8000)   # http://127.0.0.1:8000
"""

from __future__ import annotations

from typing import Any

__all__ = ["retriever_app", "serve_retriever", "shutdown_retriever"]

DEFAULT_APP_NAME = "searchgym-retriever"


def retriever_app(
    env_id: str = "SearchQA-v0",
    *,
    num_replicas: int = 1,
    default_topk: int = 3,
    batch_window_ms: float = 2.0,
    max_batch: int = 256,
    ray_actor_options: dict[str, Any] | None = None,
    max_ongoing_requests: int = 256,
    **overrides: Any,
) -> Any:
    """A bound Ray Serve application serving ``env_id``'s engine over the searchgym HTTP API.

    ``overrides`` are :class:`~searchgym.envs.config.EnvConfig` fields (``world_size=...``,
    ``engine="dense"``); ``ray_actor_options`` go to each replica (``{"num_cpus": 2}``,
    ``{"num_gpus": 0.25}`` for a dense encoder).
    """
    from ray import serve

    if num_replicas < 1:
        raise ValueError(f"num_replicas must be >= 1, got {num_replicas}")
    env_overrides = dict(overrides)

    def build_asgi_app():  # evaluated on each replica
        from searchgym.integrations.tool_session import make_env
        from searchgym.serve.app import create_app

        engine = make_env(env_id, **env_overrides).engine
        return create_app(engine, default_topk=default_topk, batch_window_ms=batch_window_ms, max_batch=max_batch)

    # Any: Ray's overloads of serve.deployment type this call (an ingress class) as the decorator form
    deployment: Any = serve.deployment(
        serve.ingress(build_asgi_app)(),
        name="SearchGymRetriever",
        num_replicas=num_replicas,
        ray_actor_options=dict(ray_actor_options or {}),
        max_ongoing_requests=max_ongoing_requests,
    )
    return deployment.bind()


def serve_retriever(
    env_id: str = "SearchQA-v0",
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    name: str = DEFAULT_APP_NAME,
    route_prefix: str = "/",
    **app_options: Any,
) -> str:
    """Start Ray Serve's HTTP proxy on ``host:port`` and deploy :func:`retriever_app` there.

    Connects to (or starts) Ray with ``ray.init`` defaults when Ray is not initialised. Returns
    the base url (``/retrieve``, ``/access``, ``/health`` below it). Loopback by default.
    """
    import ray
    from ray import serve

    if not ray.is_initialized():
        ray.init()
    serve.start(http_options={"host": host, "port": port})
    serve.run(retriever_app(env_id, **app_options), name=name, route_prefix=route_prefix)
    prefix = "" if route_prefix == "/" else route_prefix.rstrip("/")
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{prefix}"


def shutdown_retriever(name: str = DEFAULT_APP_NAME, *, all_of_serve: bool = False) -> None:
    """Delete the application (and stop Serve entirely with ``all_of_serve``)."""
    from ray import serve

    if all_of_serve:
        serve.shutdown()
    else:
        serve.delete(name)
