"""verifiers (Prime Intellect) adapter: ``load_environment(**kwargs)``.

verifiers has two APIs: the legacy v0 one (``vf.ToolEnv(dataset, tools, rubric)``; dataset
columns ``prompt``/``answer``/``info``; plain tool functions whose schema comes from the
docstring) and v1 (``import verifiers.v1 as vf``: a ``Taskset`` yielding ``Task`` objects whose
``toolsets`` are MCP tool servers launched per rollout, scored by ``@vf.reward`` methods over a
``Trace``; verifiers >= 0.4 ships only v1). :func:`load_environment` returns a ``vf.ToolEnv``
when the installed verifiers has one and otherwise a v1 :class:`SearchGymTaskset`, whose tasks
bring their own :class:`SearchGymToolset` (``search`` / ``access`` / ``answer`` over a private
:class:`~searchgym.integrations.tool_session.ToolSession` per rollout).

Scoring never trusts a regex over the transcript: :func:`score_messages` REPLAYS the agent's
turns (tool calls or tag text) through :class:`~searchgym.envs.search_qa.SearchQAEnv` on the
row's ``task_key``, so a verifiers rollout earns exactly the reward the env gives for the same
actions (tags and tool calls alike), and retrieved text can never be scored as an answer.

The framework-free surface (:func:`dataset_rows`, :func:`make_tools`, :func:`score_messages`,
:func:`searchgym_reward`, in :mod:`~searchgym.integrations.verifiers_replay`) works without
verifiers installed; the v1 classes exist only when
``verifiers.v1`` imports. ``python -m searchgym.integrations.verifiers`` serves one rollout's
tool server (that is how verifiers launches it).

``vf-eval searchgym`` finds the taskset with no extra install: verifiers imports the top-level
module named after the id (``searchgym``) and takes the ``Taskset`` and ``Harness`` subclasses
its ``__all__`` exports (:class:`SearchGymTaskset`, and
:class:`~searchgym.integrations.verifiers_harness.SearchGymHarness` as the default harness).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

from searchgym.export import task_records
from searchgym.integrations.tool_session import DEFAULT_ENV_ID, EpisodeOver, ToolSession, make_env
from searchgym.integrations.verifiers_replay import (
    agent_actions,
    dataset_rows,
    make_tools,
    replay_actions,
    score_messages,
    searchgym_reward,
)

__all__ = [
    "agent_actions",
    "dataset_rows",
    "load_environment",
    "make_tools",
    "replay_actions",
    "score_messages",
    "searchgym_reward",
]


# --------------------------------------------------------------------------- verifiers v0 (legacy)


def _legacy_tool_env(vf: Any, env_id: str, split: str | None, overrides: dict[str, Any]) -> Any:
    from datasets import Dataset

    rows = dataset_rows(env_id, split=split, **overrides)
    rubric = vf.Rubric(funcs=[searchgym_reward], weights=[1.0])
    max_turns = make_env(env_id, **overrides).config.max_turns
    return vf.ToolEnv(
        dataset=Dataset.from_list(rows), tools=make_tools(env_id, **overrides), rubric=rubric, max_turns=max_turns
    )


# --------------------------------------------------------------------------- verifiers v1
#
# v1 runs a task's tools as an MCP server (``vf.Toolset``) that ``Task.toolsets`` declares and
# the rollout launches PER ROLLOUT with ``python -m <the toolset's module>``; the server then
# fetches the rollout's task over verifiers' state channel and gets ``setup_task(task)``. So the
# classes below must be importable by ``module:qualname`` (the channel ships the TaskData class
# that way) and this module must serve the toolset when run as ``__main__``: they are defined
# at module level, only when verifiers.v1 imports (the plain surface above needs no verifiers).

try:
    import verifiers.v1 as vf
    from pydantic import Field
except ImportError:  # verifiers missing, or a legacy (v0) release without the v1 API
    vf = None

_EPISODE_NOT_STARTED = (
    "No searchgym episode is running: this tool server was not given a task "
    "(it is launched per rollout by a SearchGymTask)."
)


def _episode_state(session: ToolSession) -> dict[str, Any]:
    """The live episode as the plain fields :class:`SearchGymState` mirrors to the host."""
    return {"task_key": session.task_key or "", "done": session.done, "metrics": session.metrics()}


def _session_for(task_key: str, env_id: str, overrides_json: str) -> ToolSession:
    """A fresh episode on ``task_key`` (the env's bundle and engine are shared process-wide)."""
    session = ToolSession(env_id, **json.loads(overrides_json or "{}"))
    session.start(task_key)
    return session


def _replay_metrics(task: Any, trace: Any) -> dict[str, float]:
    """Replay a finished v1 trace through the env (the same scorer as v0 and every adapter).

    The ``@vf.reward`` and the ``@vf.metric`` hook of a rollout both ask for it; the replay
    is memoised on what determines it (task, env, overrides and the agent's actions), so a
    rollout is replayed once and both hooks see the same episode.
    """
    messages = list(trace.messages)
    try:
        actions = json.dumps(agent_actions(messages), sort_keys=True)
    except (TypeError, ValueError):  # arguments JSON cannot hold exactly: replay unmemoised
        return score_messages(messages, task.task_key, task.env_id, **json.loads(task.overrides_json))
    return dict(_replay_actions(task.task_key, task.env_id, task.overrides_json, actions))


@functools.lru_cache(maxsize=1024)
def _replay_actions(task_key: str, env_id: str, overrides_json: str, actions_json: str) -> dict[str, float]:
    return replay_actions(json.loads(actions_json), task_key, env_id, **json.loads(overrides_json or "{}"))


if vf is not None:

    class SearchGymTaskData(vf.TaskData):
        """A searchgym task on the wire: the stable key plus what rebuilds its env.

        ``overrides_json`` is a JSON string (not a dict) so the frozen row stays flat and
        hash-stable; it carries the :class:`~searchgym.envs.config.EnvConfig` overrides.
        """

        task_key: str
        env_id: str = DEFAULT_ENV_ID
        overrides_json: str = "{}"

    class SearchGymState(vf.State):
        """Per-rollout state the tool server pushes to the host after every tool call.

        It lets the host stop the rollout once the episode ends (``@vf.stop``) and shows the
        live turn count / evidence recall; the reward itself is recomputed by replay, so a
        tool server can never set its own score.
        """

        task_key: str = ""
        done: bool = False
        metrics: dict[str, float] = Field(default_factory=dict)

    class SearchGymToolset(vf.Toolset[vf.ToolsetConfig, SearchGymState]):
        """searchgym's ``search`` / ``access`` / ``answer`` as a v1 MCP tool server.

        One instance (and one server process) per rollout, each driving its own
        :class:`ToolSession`, so turn budgets, evidence recall and the answer are per rollout
        and concurrent rollouts share nothing but the read-only engine. Tools are advertised
        bare (``TOOL_PREFIX = None``): the replay scorer and the env know them by these names.
        """

        TOOL_PREFIX = None

        def __init__(self, config: vf.ToolsetConfig) -> None:
            super().__init__(config)
            self.session: ToolSession | None = None

        async def setup_task(self, task: SearchGymTaskData) -> None:
            """Start this rollout's episode on its task (called once, before serving)."""
            self.session = _session_for(task.task_key, task.env_id, task.overrides_json)

        def register(self, mcp: Any) -> None:
            """Register the tools; ``access`` only where the env allows it (like ``make_tools``)."""
            allow_access = self.session is None or self.session.config.allow_access
            for fn in (self.search, self.access, self.answer):
                if fn.__name__ == "access" and not allow_access:
                    continue
                mcp.add_tool(self._with_state(fn), name=fn.__name__, description=(fn.__doc__ or "").strip())

        def _call(self, name: str, arguments: dict[str, Any]) -> str:
            """One env step through the session; then mirror the episode into the state."""
            if self.session is None:
                return _EPISODE_NOT_STARTED
            try:
                observation = self.session.call(name, arguments)
            except EpisodeOver as over:
                observation = str(over)
            for field, value in _episode_state(self.session).items():
                setattr(self.state, field, value)
            return observation

        @vf.tool
        def search(self, query: str) -> str:
            # verifiers sends the docstring verbatim as the tool's description: one line on purpose.
            """Search the knowledge base for documents relevant to a query. Returns the top-ranked documents, each with its title, document id and text."""  # noqa: E501
            return self._call("search", {"query": query})

        @vf.tool
        def access(self, doc_id: str) -> str:
            """Open one document by its id (exactly as shown in search results) and read its full text."""
            return self._call("access", {"doc_id": doc_id})

        @vf.tool
        def answer(self, answer: str) -> str:
            """Give the final answer to the question, as short as possible, without explanation. This ends the episode."""  # noqa: E501
            return self._call("answer", {"answer": answer})

    class SearchGymTaskConfig(vf.TaskConfig):
        """Task knobs under ``--env.taskset.task.*``: where the tool server runs."""

        tools: vf.ToolsetConfig = vf.ToolsetConfig()

    class SearchGymTask(vf.Task[SearchGymTaskData, SearchGymState, SearchGymTaskConfig]):
        """A searchgym question: per-rollout search tools, replayed reward, episode metrics."""

        @property
        def key(self) -> str:  # the stable searchgym key, not a content hash
            return self.data.task_key

        @classmethod
        def toolsets(cls, config: SearchGymTaskConfig) -> list[vf.Toolset]:
            """A fresh tool server per rollout, so no two rollouts share an episode."""
            return [SearchGymToolset(config.tools)]

        @vf.stop
        def episode_over(self, trace: vf.Trace) -> bool:
            """Stop asking the model once the env episode ended (answered or out of turns)."""
            return bool(getattr(trace.state, "done", False))

        # Scoring hooks must be coroutines: verifiers gathers their results with asyncio.
        @vf.reward
        async def searchgym_reward(self, task: SearchGymTaskData, trace: vf.Trace) -> float:
            """The env's reward for the trace's actions (replayed, never read off the state)."""
            return _replay_metrics(task, trace)["reward"]

        @vf.metric
        async def searchgym(self, task: SearchGymTaskData, trace: vf.Trace) -> dict[str, float]:
            """EM, F1, evidence recall, turns and call counts of the replayed episode."""
            metrics = _replay_metrics(task, trace)
            metrics.pop("reward", None)
            return {f"searchgym_{name}": value for name, value in metrics.items()}

    class SearchGymTasksetConfig(vf.TasksetConfig):
        """Which searchgym tasks load: the env id, split, prompt style and EnvConfig overrides.

        ``prompt_style`` defaults to ``"tools"``: the tasks' tools are MCP tools called natively,
        so the instruction must describe tool calls, not Search-R1's tags.
        """

        id: str = "searchgym"
        env_id: str = DEFAULT_ENV_ID
        split: str | None = None
        prompt_style: str = "tools"
        overrides: dict[str, Any] = Field(default_factory=dict)
        task: SearchGymTaskConfig = SearchGymTaskConfig()

        def env_overrides(self) -> dict[str, Any]:
            return {**self.overrides, "prompt_style": self.prompt_style}

    class SearchGymTaskset(vf.Taskset[SearchGymTask, SearchGymTasksetConfig]):
        """searchgym's split as v1 tasks, keyed by ``task_key`` (records built once, lazily)."""

        def __init__(self, config: SearchGymTasksetConfig) -> None:
            super().__init__(config)
            self._records: list[dict[str, Any]] | None = None

        def records(self) -> list[dict[str, Any]]:
            """The split's task records (``searchgym.export.task_records``), built once."""
            if self._records is None:
                self._records = task_records(self.config.env_id, split=self.config.split, **self.config.env_overrides())
            return self._records

        def task_for(self, record: dict[str, Any]) -> SearchGymTask:
            """The v1 task of one record."""
            overrides_json = json.dumps(self.config.env_overrides(), sort_keys=True)
            return SearchGymTask(
                SearchGymTaskData(
                    id=record["task_key"],
                    name=record["task_key"],
                    prompt=record["prompt"][0]["content"],
                    task_key=record["task_key"],
                    env_id=record["data_source"],
                    overrides_json=overrides_json,
                ),
                self.config.task,
            )

        def load(self) -> Iterator[SearchGymTask]:
            for record in self.records():
                yield self.task_for(record)

    from searchgym.integrations.verifiers_harness import SearchGymHarness, SearchGymHarnessConfig

    __all__ += [
        "SearchGymHarness",
        "SearchGymHarnessConfig",
        "SearchGymState",
        "SearchGymTask",
        "SearchGymTaskConfig",
        "SearchGymTaskData",
        "SearchGymTaskset",
        "SearchGymTasksetConfig",
        "SearchGymToolset",
    ]


def _v1_taskset(env_id: str, split: str | None, overrides: dict[str, Any]) -> Any:
    if vf is None:
        raise ImportError("verifiers.v1 is not importable; install verifiers>=0.4")
    overrides = dict(overrides)
    style = overrides.pop("prompt_style", "tools")
    return SearchGymTaskset(SearchGymTasksetConfig(env_id=env_id, split=split, prompt_style=style, overrides=overrides))


def load_environment(env_id: str = DEFAULT_ENV_ID, split: str | None = None, **overrides: Any) -> Any:
    """The verifiers entry point (``vf-eval searchgym`` passes ``env_args`` as kwargs).

    Returns ``vf.ToolEnv`` with searchgym tools and a replay rubric on legacy verifiers, or on
    verifiers >= 0.4 a v1 :class:`SearchGymTaskset`: its tasks carry a per-rollout
    :class:`SearchGymToolset` (``Task.toolsets``), a ``@vf.reward`` replaying the trace and a
    ``@vf.stop`` once the episode ends, so any v1 env/harness built on it gets the tools and
    the searchgym reward.
    """
    import verifiers

    if hasattr(verifiers, "ToolEnv"):
        return _legacy_tool_env(verifiers, env_id, split, overrides)
    return _v1_taskset(env_id, split, overrides)


if __name__ == "__main__":  # how verifiers launches a rollout's tool server
    SearchGymToolset.run()
