"""The framework-free half of the verifiers adapter: dataset rows, tool functions, replay scoring.

Why a module of its own: none of it needs verifiers installed (the v0 ``vf.ToolEnv`` and the v1
taskset in :mod:`searchgym.integrations.verifiers` both build on it), and scoring is the part
that must never drift from the env. :func:`score_messages` REPLAYS the agent's turns (tool calls
or tag text) through the env on the row's ``task_key``, so a verifiers rollout earns exactly
the reward the env gives for the same actions, and retrieved text can never be scored as an
answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from searchgym.envs.episode import run_search
from searchgym.envs.rendering import render_access, render_failure, render_search
from searchgym.export import task_records
from searchgym.integrations.tool_session import DEFAULT_ENV_ID, ToolSession, make_env

__all__ = [
    "agent_actions",
    "dataset_rows",
    "make_tools",
    "replay_actions",
    "score_messages",
    "searchgym_reward",
]


def dataset_rows(env_id: str = DEFAULT_ENV_ID, *, split: str | None = None, **overrides: Any) -> list[dict[str, Any]]:
    """verifiers v0 columns: ``prompt`` (messages), ``answer``, ``info`` (JSON string).

    ``answer`` is the gold answer (verifiers' reward-side column, never shown to the model);
    ``info`` carries ``task_key``, ``env_id`` and the overrides needed to replay the episode.
    """
    rows = []
    for record in task_records(env_id, split=split, **overrides):
        info = {
            "task_key": record["task_key"],
            "env_id": record["data_source"],
            "overrides": overrides,
            "hops": record["hops"],
            "task_type": record["task_type"],
        }
        rows.append(
            {
                "prompt": record["prompt"],
                "answer": record["answer"],
                "info": json.dumps(info),
                "task": record["data_source"],
            }
        )
    return rows


def make_tools(env_id: str = DEFAULT_ENV_ID, **overrides: Any) -> list[Callable[..., str]]:
    """Stateless ``search`` / ``access`` / ``answer`` tool functions over the env's shared engine.

    They render results exactly as the env does; the episode itself (turns, reward) is scored
    afterwards by :func:`score_messages`.
    """
    env = make_env(env_id, **overrides)
    engine, config, bundle = env.engine, env.config, env.bundle

    def search(query: str) -> str:
        """Search the knowledge base for documents relevant to a query.

        Args:
            query: The search query.

        Returns:
            The top-ranked documents, each with its title, document id and text.
        """
        results = run_search(engine, [query], config.top_k)
        if isinstance(results, Exception):
            return render_failure("search", results, wrap=False).observation
        return render_search(
            results,
            [query],
            engine=engine,
            max_doc_chars=config.max_doc_chars,
            show_ids=config.show_doc_ids,
            wrap=False,
        ).observation

    def access(doc_id: str) -> str:
        """Open one document by its id (as shown in search results) and read its full text.

        Args:
            doc_id: The document id, exactly as shown in a search result.

        Returns:
            The full text of the document.
        """
        return render_access(
            doc_id.strip(),
            engine=engine,
            bundle=bundle,
            max_doc_chars=config.max_doc_chars,
            show_ids=config.show_doc_ids,
            wrap=False,
        ).observation

    def answer(answer: str) -> str:
        """Give the final answer to the question. This ends the episode.

        Args:
            answer: The final answer, as short as possible, without explanation.

        Returns:
            A confirmation that the answer was recorded.
        """
        return "Answer recorded."

    tools: list[Callable[..., str]] = [search, access, answer]
    if not config.allow_access:
        tools.remove(access)
    return tools


def _as_dict(message: Any) -> dict[str, Any]:
    if isinstance(message, Mapping):
        return dict(message)
    if hasattr(message, "model_dump"):
        return message.model_dump()
    return {
        "role": getattr(message, "role", None),
        "content": getattr(message, "content", None),
        "tool_calls": getattr(message, "tool_calls", None),
    }


def _content_text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(
            part.get("text", "") if isinstance(part, Mapping) else str(getattr(part, "text", "")) for part in content
        )
    return str(content)


def agent_actions(messages: Sequence[Any]) -> list[Any]:
    """The agent's actions in a completion: one per tool call, else the assistant text."""
    actions: list[Any] = []
    for raw in messages:
        message = _as_dict(raw)
        if message.get("role") != "assistant":
            continue
        calls = message.get("tool_calls") or []
        if calls:
            for call in calls:
                call = _as_dict(call)
                function = call.get("function")
                if function is not None:
                    function = _as_dict(function)
                    actions.append({"name": function.get("name"), "arguments": function.get("arguments", {})})
                else:
                    actions.append({"name": call.get("name"), "arguments": call.get("arguments", {})})
        else:
            text = _content_text(message.get("content"))
            if text:
                actions.append(text)
    return actions


def score_messages(
    messages: Sequence[Any], task_key: str, env_id: str = DEFAULT_ENV_ID, **overrides: Any
) -> dict[str, float]:
    """Replay a completion's agent turns through the env; return its reward and metrics."""
    return replay_actions(agent_actions(messages), task_key, env_id, **overrides)


def replay_actions(
    actions: Sequence[Any], task_key: str, env_id: str = DEFAULT_ENV_ID, **overrides: Any
) -> dict[str, float]:
    """Step a fresh episode on ``task_key`` through ``actions``; its reward and metrics."""
    session = ToolSession(env_id, **overrides)
    session.replay(task_key, list(actions))
    return session.metrics()


def _info(info: Any) -> dict[str, Any]:
    if isinstance(info, str):
        return json.loads(info) if info else {}
    return dict(info or {})


def searchgym_reward(completion: Any = None, info: Any = None, **_: Any) -> float:
    """A verifiers rubric function (v0 signature: arguments injected by name)."""
    data = _info(info)
    messages = completion if isinstance(completion, list) else [{"role": "assistant", "content": str(completion or "")}]
    return score_messages(
        messages, data["task_key"], data.get("env_id", DEFAULT_ENV_ID), **dict(data.get("overrides") or {})
    )["reward"]
