"""The server subcommands of the ``searchgym`` CLI: ``serve``, ``serve-llm``, ``serve-sim``, ``serve-env``.

Each builds what it serves only when run (``searchgym info`` stays fast) and binds loopback by
default: exposing a server to the network is a deliberate ``--host 0.0.0.0``.

``serve``      the env's corpus over Search-R1's ``/retrieve`` (+ ``/access``, ``/doc/<id>``)
``serve-llm``  a local model over the OpenAI API (chat with tools, completions, SSE)
``serve-sim``  ZeroSearch's simulated search endpoint, answered with grounded documents
``serve-env``  the env itself over OpenEnv's protocol (WebSocket sessions, HTTP reset/step)
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from searchgym.cli_support import parse_overrides, port_number
from searchgym.cli_support import positive_int as _positive

__all__ = ["add_server_parsers"]


def _overrides(pairs: list[str]) -> dict[str, Any]:
    return parse_overrides(pairs)


def _bundle_env(env_id: str, pairs: list[str]) -> Any:
    import gymnasium as gym

    import searchgym  # noqa: F401  (registers the envs)

    return gym.make(env_id, **_overrides(pairs)).unwrapped


def _cmd_serve(args: argparse.Namespace) -> int:
    from searchgym.serve import ServerLimits, serve
    from searchgym.serve.guard import API_KEY_ENV, GuardOptions

    limits = ServerLimits(
        max_batch=args.max_batch,
        max_query_chars=args.max_query_chars,
        max_topk=args.max_topk,
        max_body_bytes=args.max_body_bytes,
    )
    api_key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV) or None
    try:
        guard = GuardOptions(
            api_key=api_key,
            max_concurrent=args.max_concurrent,
            body_timeout_s=args.body_timeout,
            max_body_bytes=limits.max_body_bytes,
        )
    except ValueError as error:
        raise SystemExit(f"searchgym serve: {error}") from None
    env = _bundle_env(args.env, args.set)
    serve(
        env.engine,
        host=args.host,
        port=args.port,
        default_topk=args.topk,
        limits=limits,
        url_base=args.url_base,
        log_level=args.log_level,
        show_docs=not args.no_docs,
        guard=guard,
    )
    return 0


def _cmd_serve_llm(args: argparse.Namespace) -> int:
    import uvicorn

    from searchgym.llm import make_generator
    from searchgym.llm.openai_server import create_openai_app

    options: dict[str, Any] = {"batch_size": args.batch_size}
    for key in ("device", "dtype", "num_threads"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    generator = make_generator(args.model, **options)
    name = args.served_model_name or getattr(generator, "model_name", None) or str(args.model)
    app = create_openai_app(
        generator, name, max_tokens_limit=args.max_tokens_limit, default_max_tokens=args.default_max_tokens
    )
    print(f"serving {name} at http://{args.host}:{args.port}/v1 (any model name is accepted)")
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _cmd_serve_sim(args: argparse.Namespace) -> int:
    import uvicorn

    from searchgym.serve.sim import GroundedSimulator, create_sim_app

    env = _bundle_env(args.env, args.set)
    options = json.loads(args.engine_options) if args.engine_options else {}
    simulator = GroundedSimulator(env.bundle, args.simulator, seed=args.seed, **options)
    print(f"ZeroSearch-compatible simulated search for {env.config.id} at http://{args.host}:{args.port}/v1")
    uvicorn.run(create_sim_app(simulator), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _cmd_serve_env(args: argparse.Namespace) -> int:
    import uvicorn

    from searchgym.serve.openenv import create_openenv_app

    app = create_openenv_app(args.env, max_sessions=args.max_sessions, **_overrides(args.set))
    print(f"OpenEnv server for {args.env} at http://{args.host}:{args.port} (WebSocket /ws)")
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _common(parser: argparse.ArgumentParser, port: int, env: bool = True) -> None:
    if env:
        parser.add_argument("--env", default="SearchQA-v0", help="env id whose world is served")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="env setting override, e.g. --set world_size=300 (repeatable)",
        )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port_number, default=port, help="TCP port, 1..65535")
    parser.add_argument("--log-level", default="info")


def add_server_parsers(commands: Any) -> None:
    """Add the four server subcommands to the CLI's subparsers."""
    from searchgym.serve.schemas import ServerLimits

    defaults = ServerLimits()
    serving = commands.add_parser("serve", help="serve an env's corpus with the Search-R1 /retrieve API")
    _common(serving, 8000)
    serving.add_argument("--topk", type=_positive, default=3, help="hits for requests without topk (default 3)")
    serving.add_argument(
        "--max-batch",
        type=_positive,
        default=defaults.max_batch,
        help=f"most queries in one request (default {defaults.max_batch}: Search-R1's 512 x 5)",
    )
    serving.add_argument(
        "--max-query-chars",
        type=_positive,
        default=defaults.max_query_chars,
        help="longer queries are truncated to this",
    )
    serving.add_argument("--max-topk", type=_positive, default=defaults.max_topk)
    serving.add_argument("--max-body-bytes", type=_positive, default=defaults.max_body_bytes)
    serving.add_argument("--url-base", default=None, help="base of result urls (default: the url each request reached)")
    serving.add_argument(
        "--api-key",
        default=None,
        help="require this key on /retrieve, /access and /doc (default: $SEARCHGYM_API_KEY; none)",
    )
    serving.add_argument("--no-docs", action="store_true", help="do not serve /docs, /redoc and /openapi.json")
    serving.add_argument(
        "--max-concurrent",
        type=_positive,
        default=64,
        help="requests handled at once; more get 503 + Retry-After (default 64)",
    )
    serving.add_argument(
        "--body-timeout", type=float, default=10.0, help="seconds a client has to send its request body (default 10)"
    )
    serving.set_defaults(func=_cmd_serve)

    llm = commands.add_parser("serve-llm", help="serve a local model with the OpenAI API (tools, streaming)")
    _common(llm, 8001, env=False)
    llm.add_argument(
        "--model", default="smollm2", help="'smollm2' (bundled), a local HF folder, a .gguf file or 'hf:/path'"
    )
    llm.add_argument("--served-model-name", default=None, help="name in /v1/models (any name is accepted)")
    llm.add_argument("--device", default=None)
    llm.add_argument("--dtype", default=None)
    llm.add_argument("--batch-size", type=_positive, default=8)
    llm.add_argument("--num-threads", type=_positive, default=None)
    llm.add_argument("--max-tokens-limit", type=_positive, default=4096)
    llm.add_argument("--default-max-tokens", type=_positive, default=256)
    llm.set_defaults(func=_cmd_serve_llm)

    sim = commands.add_parser("serve-sim", help="serve ZeroSearch's simulated search with grounded documents")
    _common(sim, 6001)
    sim.add_argument(
        "--simulator",
        default="simulated",
        choices=("simulated", "simulated_llm"),
        help="template documents (default) or LLM-written grounded ones",
    )
    sim.add_argument("--engine-options", default=None, help='JSON options, e.g. \'{"generator": "smollm2"}\'')
    sim.add_argument("--seed", type=int, default=0)
    sim.set_defaults(func=_cmd_serve_sim)

    env = commands.add_parser("serve-env", help="serve the env over OpenEnv's protocol (TRL, SkyRL clients)")
    _common(env, 8002)
    env.add_argument("--max-sessions", type=_positive, default=64, help="concurrent episodes (WebSocket sessions)")
    env.set_defaults(func=_cmd_serve_env)
