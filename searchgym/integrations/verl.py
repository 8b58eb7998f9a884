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

The searchgym tools are STATEFUL: each trajectory runs a private
:class:`~searchgym.integrations.tool_session.ToolSession` on its row's ``task_key`` (from
``create_kwargs``), so turns, repeated queries, invalid calls and evidence recall are counted by
the env itself, exactly as in a gymnasium episode. Two lifecycles are supported:

* the classic ``BaseTool`` one (``create(instance_id)`` once per trajectory, ``execute`` per
  call, ``calc_reward``, ``release``): the episode lives in :data:`SESSIONS` under that id;
* verl >= 0.9's ``ToolAgentLoop``, which creates and releases a tool instance around EVERY call
  but hands ``execute`` the trajectory's ``agent_data``: the episode then lives on ``agent_data``
  (freed with the trajectory) and its metrics are written to ``agent_data.extra_fields
  ["searchgym"]``, which verl passes to the reward function as ``extra_info["searchgym"]``
  (:func:`compute_score_with_metrics` reports them next to the score).

A tool instance created without a ``task_key`` stays stateless (plain search / access). For the
Search-R1 tag protocol (no tool calls) use the agent loop in
:mod:`searchgym.integrations.verl_agent_loop` instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any
from uuid import uuid4

from searchgym.envs.episode import EPISODE_METRIC_KEYS, run_search
from searchgym.envs.observations import format_error
from searchgym.envs.rendering import render_access, render_failure, render_search
from searchgym.envs.tools import tool_schemas
from searchgym.integrations.tool_session import (
    DEFAULT_ENV_ID,
    ToolSession,
    make_env,
    unwrap_information,
)
from searchgym.integrations.verl_config import search_tool_config, write_search_tool_config, write_yaml_config
from searchgym.integrations.verl_reward import (
    METRICS_FIELD,
    compute_score,
    compute_score_with_metrics,
    episode_metrics,
    ground_truth_answers,
)
from searchgym.integrations.verl_sessions import SESSIONS, SessionStore, UnknownInstanceError, _Episode
from searchgym.search.base import SearchEngine

__all__ = [
    "EPISODE_METRIC_KEYS",
    "METRICS_FIELD",
    "SESSIONS",
    "SearchGymAccessTool",
    "SearchGymSearchTool",
    "SessionStore",
    "UnknownInstanceError",
    "compute_score",
    "compute_score_with_metrics",
    "episode_metrics",
    "ground_truth_answers",
    "row_overrides",
    "search_tool_config",
    "write_search_tool_config",
    "write_yaml_config",
]

_LOG = logging.getLogger(__name__)
_TRAJECTORY_ATTR = "_searchgym_episode"  # the agent_data attribute holding its episode


# --------------------------------------------------------------------------- BaseTool subclasses

try:
    from verl.tools.base_tool import BaseTool as _VerlBaseTool
    from verl.tools.schemas import ToolResponse

    HAVE_VERL = True
    _ToolResponse: type[ToolResponse] | None = ToolResponse
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


def row_overrides(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Env overrides carried by a row: ``env_overrides`` (a dict) or ``env_overrides_json``."""
    overrides = dict(fields.get("env_overrides") or {})
    raw = fields.get("env_overrides_json")
    if raw:
        try:
            decoded = json.loads(raw)
        except (TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"env_overrides_json is not a JSON object: {raw!r}") from error
        if not isinstance(decoded, dict):
            raise ValueError(f"env_overrides_json is not a JSON object: {raw!r}")
        overrides = {**decoded, **overrides}
    return overrides


def _response(text: str) -> Any:
    return _ToolResponse(text=text) if _ToolResponse is not None else text


def _create_kwargs(kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """verl >= 0.5 passes ``create_kwargs={...}``; older rollouts unpacked them as keywords."""
    nested = kwargs.get("create_kwargs")
    return nested if isinstance(nested, Mapping) else kwargs


class _SearchGymTool(_VerlBaseTool):
    """searchgym tool: in-process engine, or the server at ``retrieval_service_url``.

    Stateful per trajectory (see the module docstring); instances created without a
    ``task_key`` answer statelessly through :meth:`run`.
    """

    def __init__(self, config: dict, tool_schema: Any = None) -> None:
        if tool_schema is None:
            tool_schema = self._default_schema()
            if HAVE_VERL:
                from verl.tools.schemas import OpenAIFunctionToolSchema

                tool_schema = OpenAIFunctionToolSchema.model_validate(tool_schema)
        super().__init__(config, tool_schema)
        config = dict(config or {})
        self.topk = int(config.get("topk", 3))
        self.env_id = str(config.get("env_id", DEFAULT_ENV_ID))
        self.overrides = dict(config.get("overrides") or {})
        self.url = config.get("retrieval_service_url")
        self.sessions = SESSIONS
        if config.get("max_sessions") is not None:
            self.sessions.max_sessions = max(self.sessions.max_sessions, int(config["max_sessions"]))
        env = make_env(self.env_id, **self.overrides)
        self.max_doc_chars = env.config.max_doc_chars
        self.show_ids = env.config.show_doc_ids
        self.bundle = env.bundle
        self.engine: SearchEngine
        if self.url:
            from searchgym.search.remote import RemoteEngine

            self.engine = RemoteEngine(str(self.url), timeout=float(config.get("timeout", 30)))
        else:
            self.engine = env.engine

    @staticmethod
    def _default_schema() -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- BaseTool lifecycle ---------------------------------------------------------------
    async def create(self, instance_id: str | None = None, **kwargs: Any) -> tuple[str, Any]:
        """Register a trajectory's episode on ``create_kwargs["task_key"]`` (started lazily).

        The env is ``create_kwargs["env_id"]`` / ``["data_source"]`` (else the tool config's),
        built with the tool config's ``overrides`` updated by the row's (``create_kwargs``
        ``env_overrides`` dict or ``env_overrides_json``, as ``searchgym export`` writes it):
        the task key only exists in the world the row was exported from.
        """
        create = _create_kwargs(kwargs)
        task_key = create.get("task_key")
        env_id = str(create.get("env_id") or create.get("data_source") or self.env_id)
        overrides = {**self.overrides, **row_overrides(create)}
        instance_id = instance_id or uuid4().hex
        self.sessions.open(instance_id, None if task_key is None else str(task_key), env_id, overrides)
        return instance_id, _response("")

    async def execute(self, instance_id: str, parameters: dict[str, Any], **kwargs: Any):
        """Step the trajectory's episode with this tool call (stateless without a task_key)."""
        agent_data = kwargs.get("agent_data")
        episode = self._episode(instance_id, agent_data)
        if episode.task_key is None:
            text, metrics = await asyncio.to_thread(self.run, parameters)
            return _response(text), 0.0, metrics
        text, metrics = await asyncio.to_thread(self._step, episode, dict(parameters or {}))
        if agent_data is not None and isinstance(getattr(agent_data, "extra_fields", None), dict):
            agent_data.extra_fields[METRICS_FIELD] = episode_metrics(episode.session)
        return _response(text), 0.0, metrics

    async def calc_reward(self, instance_id: str, **kwargs: Any) -> float:
        """The episode's env reward (non-zero only once answered through an ``answer`` tool)."""
        episode = self._episode(instance_id, kwargs.get("agent_data"))
        return episode.session.reward if episode.session is not None else 0.0

    async def release(self, instance_id: str, **kwargs: Any) -> None:
        self.sessions.release(instance_id)

    def episode_metrics(self, instance_id: str, agent_data: Any = None) -> dict[str, float]:
        """:func:`episode_metrics` of a live instance (turns, evidence recall, ...)."""
        return episode_metrics(self._episode(instance_id, agent_data).session)

    # -- internals ------------------------------------------------------------------------
    def _episode(self, instance_id: str, agent_data: Any) -> _Episode:
        """The instance's episode, or the trajectory's one when verl passes ``agent_data``
        (verl >= 0.9 creates a fresh instance per call; the trajectory outlives them)."""
        instance = self.sessions.get(instance_id)
        if agent_data is None or instance.task_key is None:
            return instance
        episode = getattr(agent_data, _TRAJECTORY_ATTR, None)
        if episode is None or episode.task_key != instance.task_key:
            episode = _Episode(task_key=instance.task_key, env_id=instance.env_id, overrides=instance.overrides)
            setattr(agent_data, _TRAJECTORY_ATTR, episode)
        return episode

    def _start(self, episode: _Episode) -> None:
        """Start the episode on a private env (searching through the tool's engine when a
        server is configured). A task key the env does not know (a row exported with other
        env overrides than the tool config's) leaves the episode untracked: the calls still
        retrieve, statelessly, and a warning says how to fix the config."""
        options = dict(episode.overrides)
        if self.url:
            options["engine"] = self.engine
        try:
            session = ToolSession(episode.env_id, **options)
            session.start(episode.task_key)
        except (KeyError, ValueError) as error:
            episode.untracked = str(error)
            _LOG.warning(
                "searchgym: episode of task %r is not tracked (%s); give the tool config the "
                "env overrides the dataset was exported with ('overrides')",
                episode.task_key,
                error,
            )
            return
        episode.session = session

    def _step(self, episode: _Episode, parameters: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        with episode.lock:
            if episode.session is None and episode.untracked is None:
                self._start(episode)
            if episode.session is None:
                text, run_metrics = self.run(parameters)
                return text, {**run_metrics, "untracked": episode.untracked}
            session = episode.session
            if session.done:
                return (
                    "The episode is over (answered or out of turns): give your final answer.",
                    {"error": "episode_over", **episode_metrics(session)},
                )
            observation, _, terminated, truncated, info = session.step({"name": self.name, "arguments": parameters})
        if terminated:
            text = "Answer recorded. The episode is over."
        elif truncated and not observation:
            text = "The turn budget is spent. The episode is over."
        else:
            text = unwrap_information(observation)
        metrics: dict[str, Any] = {
            "doc_ids": list(info.get("doc_ids", [])),
            "new_evidence": int(info.get("new_evidence", 0)),
            **episode_metrics(session),
        }
        if info.get("error"):
            metrics["error"] = info["error"]
        return text, metrics

    def run(self, parameters: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:  # pragma: no cover
        """Stateless call: search / access only, no episode."""
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
                "error": "bad_arguments"
            }
        results = run_search(self.engine, list(queries), self.topk)
        if isinstance(results, Exception):
            return render_failure("search", results, wrap=False).observation, {"error": "search_failed"}
        rendered = render_search(
            results,
            list(queries),
            engine=self.engine,
            max_doc_chars=self.max_doc_chars,
            show_ids=self.show_ids,
            wrap=False,
        )
        return rendered.observation, {"doc_ids": rendered.doc_ids}


class SearchGymAccessTool(_SearchGymTool):
    """``access(doc_id)``: the full passage (in-process) or the server's ``/access`` answer."""

    @staticmethod
    def _default_schema() -> dict[str, Any]:
        return next(s for s in tool_schemas(allow_access=True) if s["function"]["name"] == "access")

    def run(self, parameters: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        doc_id = parameters.get("doc_id")
        if not isinstance(doc_id, str) or not doc_id.strip():
            return format_error("access needs 'doc_id': a document id string", wrap=False), {"error": "bad_arguments"}
        rendered = render_access(
            doc_id.strip(),
            engine=self.engine,
            bundle=self.bundle,
            max_doc_chars=self.max_doc_chars,
            show_ids=self.show_ids,
            wrap=False,
        )
        if rendered.backend_error:
            return rendered.observation, {"error": "access_failed"}
        if rendered.error is not None:
            return rendered.observation, {"error": "unknown_doc"}
        return rendered.observation, {"doc_ids": rendered.doc_ids}
