"""verl adapter: a rule reward (``compute_score``) and search tool configs for the tool agent loop.

verl has no environment abstraction; a searchgym run in verl is three pieces:

1. the dataset: ``searchgym export --env SearchQA-v0 --format verl --output train.parquet``
   (``reward_model.ground_truth.target`` = answers, ``agent_name="tool_agent"``,
   ``extra_info.tools_kwargs`` with the ``task_key``);
2. the retriever: ``searchgym serve --env SearchQA-v0`` (Search-R1 ``/retrieve`` API) and a
   tool config pointing at it (:func:`search_tool_config` / :func:`write_search_tool_config`) for
   ``actor_rollout_ref.rollout.multi_turn.tool_config_path``;
3. the reward: ``custom_reward_function.path=<this file> custom_reward_function.name=compute_score``.

Two tool flavours: ``tool="verl"`` targets verl's own ``verl.tools.search_tool.SearchTool``
(verl <= 0.8; ``query_list`` schema, ``retrieval_service_url`` config), ``tool="searchgym"``
targets :class:`SearchGymSearchTool` / :class:`SearchGymAccessTool` below, ``BaseTool``
subclasses that work with verl releases without ``SearchTool`` (0.9 removed it) and render
results exactly like the env. They talk to the same server (or search in-process when no url
is configured).

``compute_score`` scores the agent's LAST answer, ``<answer>…</answer>`` or an ``answer`` tool
call, and never text inside ``<information>`` / ``<tool_response>`` blocks, so a retrieved
document cannot be scored as the answer (SkyRL's and Search-R1's history-wide regexes can).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from searchgym.envs.observations import format_access, format_error, format_search_results
from searchgym.envs.tools import tool_schemas
from searchgym.integrations.tool_session import DEFAULT_ENV_ID, extract_final_answer, make_env
from searchgym.metrics import exact_match, substring_match, token_f1

__all__ = [
    "SearchGymAccessTool",
    "SearchGymSearchTool",
    "compute_score",
    "ground_truth_answers",
    "search_tool_config",
    "write_search_tool_config",
]

_METRICS = {"em": exact_match, "f1": token_f1, "substring_em": substring_match}


def ground_truth_answers(ground_truth: Any) -> list[str]:
    """Answers from verl's ``ground_truth``: ``{"target": [...]}``, a list/array, or a string."""
    if isinstance(ground_truth, Mapping):
        ground_truth = ground_truth.get("target", ground_truth.get("answers", ground_truth.get("answer")))
    if ground_truth is None:
        return []
    if isinstance(ground_truth, (str, bytes)):
        return [ground_truth.decode() if isinstance(ground_truth, bytes) else ground_truth]
    if hasattr(ground_truth, "tolist"):  # numpy arrays from parquet
        ground_truth = ground_truth.tolist()
    if isinstance(ground_truth, Iterable):
        return [str(item) for item in ground_truth]
    return [str(ground_truth)]


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    *,
    metric: str = "em",
    format_score: float = 0.0,
    **_: Any,
) -> float:
    """verl rule reward for a searchgym rollout.

    Args:
        data_source: the row's ``data_source`` (env id); not needed for scoring.
        solution_str: the decoded response (may include tool responses / observations).
        ground_truth: ``reward_model.ground_truth`` (``{"target": [answer, *aliases]}``).
        extra_info: the row's ``extra_info`` (unused).
        metric: ``em`` (default, as the env), ``f1`` or ``substring_em``.
        format_score: reward for a well-formed but wrong answer (Search-R1's format shaping);
            an episode without any answer always scores 0.0.
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}, got {metric!r}")
    prediction = extract_final_answer(solution_str or "")
    if prediction is None:
        return 0.0
    score = float(_METRICS[metric](prediction, ground_truth_answers(ground_truth)))
    if score <= 0.0:
        return float(format_score)
    return score


# --------------------------------------------------------------------------- tool configs


def search_tool_config(
    url: str = "http://127.0.0.1:8000",
    *,
    tool: str = "searchgym",
    topk: int = 3,
    timeout: int = 30,
    num_workers: int = 120,
    rate_limit: int = 120,
    include_access: bool = True,
    env_id: str = DEFAULT_ENV_ID,
) -> dict[str, Any]:
    """verl ``tool_config_path`` content (a dict; :func:`write_search_tool_config` writes YAML).

    ``url`` is the ``searchgym serve`` base url (``/retrieve`` is appended when missing).
    ``tool="verl"`` configures verl's built-in ``SearchTool`` (search only);
    ``tool="searchgym"`` configures this module's tools (search and, with ``include_access``,
    access).
    """
    base = url.rstrip("/")
    retrieve = base if base.endswith("/retrieve") else base + "/retrieve"
    search_schema = tool_schemas(allow_access=False, multi_query=True)[0]
    if tool == "verl":
        return {"tools": [{
            "class_name": "verl.tools.search_tool.SearchTool",
            "config": {"retrieval_service_url": retrieve, "num_workers": num_workers, "rate_limit": rate_limit,
                       "timeout": timeout, "topk": topk, "type": "native"},
            "tool_schema": search_schema,
        }]}
    if tool != "searchgym":
        raise ValueError(f"tool must be 'searchgym' or 'verl', got {tool!r}")
    common = {"retrieval_service_url": retrieve, "topk": topk, "timeout": timeout, "env_id": env_id, "type": "native"}
    tools = [{"class_name": f"{__name__}.SearchGymSearchTool", "config": dict(common), "tool_schema": search_schema}]
    if include_access:
        access_schema = next(s for s in tool_schemas(allow_access=True) if s["function"]["name"] == "access")
        tools.append({"class_name": f"{__name__}.SearchGymAccessTool", "config": dict(common),
                      "tool_schema": access_schema})
    return {"tools": tools}


def write_search_tool_config(path: str | Path, url: str = "http://127.0.0.1:8000", **kwargs: Any) -> Path:
    """Write :func:`search_tool_config` as YAML (JSON, a YAML subset, if PyYAML is missing)."""
    config = search_tool_config(url, **kwargs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import yaml

        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    except ImportError:  # pragma: no cover
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- BaseTool subclasses

try:
    from verl.tools.base_tool import BaseTool as _VerlBaseTool
    from verl.tools.schemas import ToolResponse as _ToolResponse

    HAVE_VERL = True
except Exception:  # noqa: BLE001 - verl absent or broken: plain-Python tools still work
    HAVE_VERL = False
    _ToolResponse = None

    class _VerlBaseTool:  # type: ignore[no-redef]
        def __init__(self, config: dict, tool_schema: Any) -> None:
            self.config = config
            self.tool_schema = tool_schema
            function = tool_schema.get("function", {}) if isinstance(tool_schema, Mapping) else tool_schema.function
            self.name = function["name"] if isinstance(function, Mapping) else function.name

        async def create(self, instance_id: str | None = None, **kwargs: Any):
            from uuid import uuid4

            return instance_id or str(uuid4()), None

        async def calc_reward(self, instance_id: str, **kwargs: Any) -> float:
            return 0.0

        async def release(self, instance_id: str, **kwargs: Any) -> None:
            return None


def _response(text: str) -> Any:
    return _ToolResponse(text=text) if _ToolResponse is not None else text


class _SearchGymTool(_VerlBaseTool):
    """Stateless searchgym tool: in-process engine, or the server at ``retrieval_service_url``."""

    def __init__(self, config: dict, tool_schema: Any = None) -> None:
        if tool_schema is None and HAVE_VERL:
            from verl.tools.schemas import OpenAIFunctionToolSchema

            tool_schema = OpenAIFunctionToolSchema.model_validate(self._default_schema())
        super().__init__(config, tool_schema if tool_schema is not None else self._default_schema())
        config = dict(config or {})
        self.topk = int(config.get("topk", 3))
        url = config.get("retrieval_service_url")
        env = make_env(str(config.get("env_id", DEFAULT_ENV_ID)), **dict(config.get("overrides") or {}))
        self.max_doc_chars = env.config.max_doc_chars
        self.show_ids = env.config.show_doc_ids
        if url:
            from searchgym.search.remote import RemoteEngine

            self.engine = RemoteEngine(str(url), timeout=float(config.get("timeout", 30)))
        else:
            self.engine = env.engine

    @staticmethod
    def _default_schema() -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    async def execute(self, instance_id: str, parameters: dict[str, Any], **kwargs: Any):
        import asyncio

        text, metrics = await asyncio.to_thread(self.run, parameters)
        return _response(text), 0.0, metrics

    def run(self, parameters: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:  # pragma: no cover
        raise NotImplementedError


class SearchGymSearchTool(_SearchGymTool):
    """``search(query_list)`` (or ``search(query)``) rendered like the env's observations."""

    @staticmethod
    def _default_schema() -> dict[str, Any]:
        return tool_schemas(allow_access=False, multi_query=True)[0]

    def run(self, parameters: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        queries = parameters.get("query_list", parameters.get("query"))
        if isinstance(queries, str):
            queries = [queries]
        if not isinstance(queries, list) or not queries or not all(isinstance(q, str) and q.strip() for q in queries):
            return format_error("search needs 'query_list': a non-empty list of query strings", wrap=False), {
                "error": "bad_arguments"}
        from searchgym.search.base import SearchError

        try:
            results = self.engine.search(list(queries), self.topk)
        except SearchError as error:
            return format_error(f"search failed: {error}", wrap=False), {"error": "search_failed"}
        text = format_search_results(results, list(queries), max_doc_chars=self.max_doc_chars,
                                     show_ids=self.show_ids, wrap=False)
        return text, {"doc_ids": [hit.doc_id for hits in results for hit in hits]}


class SearchGymAccessTool(_SearchGymTool):
    """``access(doc_id)``: the full passage (in-process) or the server's ``/access`` answer."""

    @staticmethod
    def _default_schema() -> dict[str, Any]:
        return next(s for s in tool_schemas(allow_access=True) if s["function"]["name"] == "access")

    def run(self, parameters: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        doc_id = parameters.get("doc_id")
        if not isinstance(doc_id, str) or not doc_id.strip():
            return format_error("access needs 'doc_id': a document id string", wrap=False), {"error": "bad_arguments"}
        from searchgym.search.base import SearchError, UnknownDocumentError

        try:
            passage = self.engine.access(doc_id.strip())
        except UnknownDocumentError as missing:
            return format_error(f"{missing}. Use a document id shown in search results.", wrap=False), {
                "error": "unknown_doc"}
        except SearchError as error:
            return format_error(f"access failed: {error}", wrap=False), {"error": "access_failed"}
        return format_access(passage, max_chars=4 * self.max_doc_chars, show_ids=self.show_ids, wrap=False), {
            "doc_ids": [passage.doc_id]}
