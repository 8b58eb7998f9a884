"""TRL's ``environment_factory`` over a remote ``searchgym serve-env``, through OpenEnv's client.

Why: with OpenEnv the env runs in its own process (or machine, or container) and the trainer
holds a client, as TRL's OpenEnv examples do (an environment class whose tool methods call
``client.step``). :class:`OpenEnvTRLEnv` is that class for searchgym: the same tool methods,
docstrings (TRL's tool schemas) and prompt check as
:class:`~searchgym.integrations.trl.SearchGymTRLEnv`, each instance holding one WebSocket session
of ``openenv.core.GenericEnvClient`` (``pip install openenv-core``), so every rollout slot plays
its own episode on the server::

    # searchgym serve-env --env SearchQA-v0 --port 8002
    factory = openenv_trl_factory("http://127.0.0.1:8002")
    GRPOTrainer(..., environment_factory=factory)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from searchgym.integrations.tool_session import EpisodeOver, unwrap_information
from searchgym.integrations.trl import SearchGymTRLEnv, row_instruction

__all__ = ["OpenEnvSession", "OpenEnvTRLEnv", "openenv_trl_factory"]


class OpenEnvSession:
    """A :class:`~searchgym.integrations.tool_session.ToolSession`-like episode on a remote server."""

    def __init__(self, base_url: str, **client_options: Any) -> None:
        from openenv.core.generic_client import GenericEnvClient

        self.client = GenericEnvClient(base_url=base_url, **client_options).sync()
        self.client.connect()
        self.task_key: str | None = None
        self.reward = 0.0
        self.done = False

    def start(self, task_key: str | None = None, **options: Any) -> str:
        result = self.client.reset(**({"task_key": task_key} if task_key is not None else {}), **options)
        self.task_key = result.observation.get("task_key")
        self.reward, self.done = 0.0, False
        return str(result.observation["text"])

    def call(self, tool: str, argument: str, value: str) -> str:
        if self.done:
            raise EpisodeOver("the episode is over: the question was answered or the turn budget is spent")
        result = self.client.step({"tool": tool, argument: value})
        self.reward += float(result.reward or 0.0)
        self.done = bool(result.done)
        if self.done and result.observation.get("info", {}).get("answered"):
            return "Answer recorded. The episode is over."
        text = str(result.observation.get("text") or "")
        return unwrap_information(text) if text else "The turn budget is spent. The episode is over."

    def search(self, query: str) -> str:
        return self.call("search", "query", query)

    def access(self, doc_id: str) -> str:
        return self.call("access", "doc_id", doc_id)

    def answer(self, answer: str) -> str:
        return self.call("answer", "answer", answer)

    def close(self) -> None:
        self.client.close()


class OpenEnvTRLEnv(SearchGymTRLEnv):
    """:class:`SearchGymTRLEnv` whose episode runs on a ``serve-env`` server (tools inherited)."""

    def __init__(self, base_url: str, **client_options: Any) -> None:  # noqa: D107 - no local env
        self.session = OpenEnvSession(base_url, **client_options)  # type: ignore[assignment]

    def reset(self, **kwargs: Any) -> str:
        """Start the row's episode on the server (its ``task_key``; a random task without one)."""
        prompt = self.session.start(kwargs.get("task_key"))
        row_prompt = row_instruction(kwargs.get("prompt"))
        if row_prompt is not None and row_prompt != prompt:
            raise ValueError(
                f"the row's prompt is not the server's prompt for task {self.session.task_key!r}: "
                f"export the rows with the settings the server runs (prompt_style, world)"
            )
        return "" if row_prompt is not None else prompt


def openenv_trl_factory(base_url: str, **client_options: Any) -> Callable[[], OpenEnvTRLEnv]:
    """A zero-argument factory for ``GRPOTrainer(environment_factory=...)`` over OpenEnv."""
    return functools.partial(OpenEnvTRLEnv, base_url, **client_options)
