"""verifiers (Prime Intellect) adapter: ``load_environment(**kwargs)``.

verifiers has two APIs: the legacy v0 one (``vf.ToolEnv(dataset, tools, rubric)``; dataset
columns ``prompt``/``answer``/``info``; plain tool functions whose schema comes from the
docstring) and v1 (``import verifiers.v1 as vf``: a ``Taskset`` yielding ``Task`` objects with
``@vf.reward`` methods over a ``Trace``; verifiers >= 0.4 ships only v1).
:func:`load_environment` returns a ``vf.ToolEnv`` when the installed verifiers has one and
otherwise a v1 ``Taskset`` of searchgym tasks (the closest current API).

Scoring never trusts a regex over the transcript: :func:`score_messages` REPLAYS the agent's
turns (tool calls or tag text) through :class:`~searchgym.envs.search_qa.SearchQAEnv` on the
row's ``task_key``, so a verifiers rollout earns exactly the reward the env gives for the same
actions (tags and tool calls alike), and retrieved text can never be scored as an answer.

The framework-free surface (:func:`dataset_rows`, :func:`make_tools`, :func:`score_messages`,
:func:`searchgym_reward`) works without verifiers installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from searchgym.envs.observations import format_access, format_error, format_search_results
from searchgym.export import task_records
from searchgym.integrations.tool_session import DEFAULT_ENV_ID, ToolSession, make_env
from searchgym.search.base import UnknownDocumentError

__all__ = [
    "dataset_rows",
    "load_environment",
    "make_tools",
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
        info = {"task_key": record["task_key"], "env_id": record["data_source"], "overrides": overrides,
                "hops": record["hops"], "task_type": record["task_type"]}
        rows.append({"prompt": record["prompt"], "answer": record["answer"], "info": json.dumps(info),
                     "task": record["data_source"]})
    return rows


def make_tools(env_id: str = DEFAULT_ENV_ID, **overrides: Any) -> list[Callable[..., str]]:
    """Stateless ``search`` / ``access`` / ``answer`` tool functions over the env's shared engine.

    They render results exactly as the env does; the episode itself (turns, reward) is scored
    afterwards by :func:`score_messages`.
    """
    env = make_env(env_id, **overrides)
    engine, config = env.engine, env.config

    def search(query: str) -> str:
        """Search the knowledge base for documents relevant to a query.

        Args:
            query: The search query.

        Returns:
            The top-ranked documents, each with its title, document id and text.
        """
        results = engine.search([query], config.top_k)
        return format_search_results(results, [query], max_doc_chars=config.max_doc_chars,
                                     show_ids=config.show_doc_ids, wrap=False)

    def access(doc_id: str) -> str:
        """Open one document by its id (as shown in search results) and read its full text.

        Args:
            doc_id: The document id, exactly as shown in a search result.

        Returns:
            The full text of the document.
        """
        try:
            passage = engine.access(doc_id.strip())
        except UnknownDocumentError as missing:
            return format_error(f"{missing}. Use a document id shown in search results.", wrap=False)
        return format_access(passage, max_chars=4 * config.max_doc_chars, show_ids=config.show_doc_ids, wrap=False)

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
    return {"role": getattr(message, "role", None), "content": getattr(message, "content", None),
            "tool_calls": getattr(message, "tool_calls", None)}


def _content_text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") if isinstance(part, Mapping) else str(getattr(part, "text", ""))
                       for part in content)
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


def score_messages(messages: Sequence[Any], task_key: str, env_id: str = DEFAULT_ENV_ID,
                   **overrides: Any) -> dict[str, float]:
    """Replay a completion's agent turns through the env; return its reward and metrics."""
    session = ToolSession(env_id, **overrides)
    session.replay(task_key, agent_actions(messages))
    return session.metrics()


def _info(info: Any) -> dict[str, Any]:
    if isinstance(info, str):
        return json.loads(info) if info else {}
    return dict(info or {})


def searchgym_reward(completion: Any = None, info: Any = None, **_: Any) -> float:
    """A verifiers rubric function (v0 signature: arguments injected by name)."""
    data = _info(info)
    messages = completion if isinstance(completion, list) else [{"role": "assistant", "content": str(completion or "")}]
    return score_messages(messages, data["task_key"], data.get("env_id", DEFAULT_ENV_ID),
                          **dict(data.get("overrides") or {}))["reward"]


# --------------------------------------------------------------------------- verifiers objects


def _legacy_tool_env(vf: Any, env_id: str, split: str | None, overrides: dict[str, Any]) -> Any:
    from datasets import Dataset

    rows = dataset_rows(env_id, split=split, **overrides)
    rubric = vf.Rubric(funcs=[searchgym_reward], weights=[1.0])
    max_turns = make_env(env_id, **overrides).config.max_turns
    return vf.ToolEnv(dataset=Dataset.from_list(rows), tools=make_tools(env_id, **overrides), rubric=rubric,
                      max_turns=max_turns)


def _v1_taskset(env_id: str, split: str | None, overrides: dict[str, Any]) -> Any:
    import verifiers.v1 as vf

    records = task_records(env_id, split=split, **overrides)
    overrides_json = json.dumps(overrides, sort_keys=True)

    class SearchGymTaskData(vf.TaskData):
        task_key: str
        env_id: str = DEFAULT_ENV_ID
        overrides_json: str = "{}"

    class SearchGymTask(vf.Task[SearchGymTaskData, vf.State, vf.TaskConfig]):
        @property
        def key(self) -> str:  # the stable searchgym key, not a content hash
            return self.data.task_key

        @vf.reward
        def searchgym_reward(self, task: SearchGymTaskData, trace: Any) -> float:
            return score_messages(list(trace.messages), task.task_key, task.env_id,
                                  **json.loads(task.overrides_json))["reward"]

    class SearchGymTaskset(vf.Taskset[SearchGymTask, vf.TasksetConfig]):
        def load(self):
            for record in records:
                yield SearchGymTask(SearchGymTaskData(
                    id=record["task_key"], name=record["task_key"], prompt=record["prompt"][0]["content"],
                    task_key=record["task_key"], env_id=record["data_source"], overrides_json=overrides_json,
                ), self.config.task)

    return SearchGymTaskset(vf.TasksetConfig(id="searchgym"))


def load_environment(env_id: str = DEFAULT_ENV_ID, split: str | None = None, **overrides: Any) -> Any:
    """The verifiers entry point (``vf-eval searchgym`` passes ``env_args`` as kwargs).

    Returns ``vf.ToolEnv`` with searchgym tools and a replay rubric on legacy verifiers, or a
    v1 ``Taskset`` (tasks keyed by ``task_key``, ``@vf.reward`` replaying the trace) on
    verifiers >= 0.4.
    """
    import verifiers

    if hasattr(verifiers, "ToolEnv"):
        return _legacy_tool_env(verifiers, env_id, split, overrides)
    return _v1_taskset(env_id, split, overrides)
