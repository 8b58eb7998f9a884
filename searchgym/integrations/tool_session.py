"""A framework-free episode driver that every trainer adapter builds on.

Why: verl, SkyRL, TRL and verifiers each drive an episode differently (raw text per turn,
named tool methods, a finished transcript to score), but all of them must end up calling the
same :class:`~searchgym.envs.search_qa.SearchQAEnv` state machine so that a given sequence of
actions earns the same reward whichever framework (and whichever action protocol: Search-R1
tags or OpenAI-style tool calls) produced it. :class:`ToolSession` is that common layer:

* ``start(task_key=...)`` resets the env on one task (the stable key exported in every row);
* ``step(action)`` takes a tag string, a tool-call mapping, or text holding Hermes-style
  ``<tool_call>{...}</tool_call>`` blocks (what chat templates render tool calls as);
* ``search`` / ``access`` / ``answer`` are the tool-method surface TRL and verifiers want;
* ``reward`` / ``metrics`` read the finished episode.

No trainer library is imported here.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym

from searchgym.envs.config import EnvConfig
from searchgym.envs.episode import episode_metrics
from searchgym.envs.search_qa import SearchQAEnv
from searchgym.llm.chat_template import HERMES_TOOL_CALL, hermes_tool_calls

__all__ = [
    "DEFAULT_ENV_ID",
    "EpisodeOver",
    "ToolSession",
    "extract_final_answer",
    "hermes_tool_calls",
    "make_env",
    "strip_observations",
    "transcript_actions",
    "unwrap_information",
]

DEFAULT_ENV_ID = "SearchQA-v0"

_HERMES_RE = HERMES_TOOL_CALL
# Text an agent did not write: env observations (<information>) and tool results rendered by a
# chat template (<tool_response>). An unclosed block runs to the end of the text.
_OBSERVATION_RE = re.compile(r"<(information|tool_response)>.*?(?:</\1>|\Z)", re.IGNORECASE | re.DOTALL)
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)

_ENV_LOCK = threading.Lock()


class EpisodeOver(RuntimeError):
    """A tool was called after the episode ended (answered or out of turns).

    TRL returns a tool's exception text to the model as the tool response, which is the
    documented way to say "game over".
    """


def make_env(env_id: str = DEFAULT_ENV_ID, **overrides: Any) -> SearchQAEnv:
    """A fresh :class:`SearchQAEnv` (bundle and engine are shared process-wide by the core).

    ``env_id`` may be ``"searchgym/SearchQA-v0"`` (the namespaced gym id) as well. Construction is
    serialised by a lock so that many adapter instances created from threads (SkyRL's env
    worker pool) build the shared bundle and index once.
    """
    spec = env_id.split("/", 1)[1] if env_id.startswith("searchgym/") else env_id
    with _ENV_LOCK:
        return SearchQAEnv(spec, **overrides)


def unwrap_information(observation: str) -> str:
    """The body of an ``<information>…</information>`` observation (a tool message's content)."""
    text = observation.strip()
    if text.startswith("<information>") and text.endswith("</information>"):
        return text[len("<information>") : -len("</information>")].strip()
    return text


def strip_observations(text: str) -> str:
    """``text`` without ``<information>`` / ``<tool_response>`` blocks (retrieved text)."""
    return _OBSERVATION_RE.sub(" ", text)


def transcript_actions(text: str) -> list[str]:
    """The agent's turns in a finished transcript (a verl ``solution_str``): the text between
    observation blocks (``<information>`` / ``<tool_response>``), one action per turn, in order.

    Replaying them through a :class:`ToolSession` scores the transcript on the env's one scoring
    path: a turn of Search-R1 tags is parsed as the env parses a tag action, a turn holding Hermes
    ``<tool_call>`` blocks runs its call, and retrieved text is never an action.
    """
    turns = [segment.strip() for segment in _OBSERVATION_RE.split(text)[::2]]
    return [turn for turn in turns if turn]


def extract_final_answer(text: str) -> str | None:
    """The agent's final answer in a transcript: the LAST ``<answer>…</answer>`` or
    ``answer`` tool call written by the agent, ignoring anything inside ``<information>`` or
    ``<tool_response>`` blocks (retrieved documents can never be scored as an answer).
    ``None`` when the agent never answered.
    """
    visible = strip_observations(text)
    best: tuple[int, str] | None = None
    for match in _ANSWER_RE.finditer(visible):
        best = (match.start(), match.group(1).strip())
    for match in _HERMES_RE.finditer(visible):
        calls = hermes_tool_calls(match.group(0))
        if calls and calls[0]["name"] == "answer":
            arguments = calls[0]["arguments"]
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments)
                except (json.JSONDecodeError, ValueError):
                    continue
            if isinstance(arguments, Mapping) and isinstance(arguments.get("answer"), str):
                if best is None or match.start() > best[0]:
                    best = (match.start(), arguments["answer"].strip())
    return None if best is None else best[1]


class ToolSession:
    """One episode at a time over a private :class:`SearchQAEnv`, wrappers included.

    Args:
        env_id: bundled env id or spec path (``data_source`` of exported rows).
        env: an already built env to drive instead, wrapped or not (its overrides are then
            fixed). Its wrappers stay: a reward or curriculum wrapper scores and picks tasks
            here exactly as in a gymnasium loop.
        wrappers: callables ``env -> wrapped env`` applied, in order, to the env this session
            builds (as ``gym.make_vec(wrappers=...)``).
        **overrides: :class:`~searchgym.envs.config.EnvConfig` fields; ``reward_terms`` (a
            ``[reward]`` table) makes the env itself score that composition.
    """

    def __init__(
        self,
        env_id: str = DEFAULT_ENV_ID,
        *,
        env: gym.Env | None = None,
        wrappers: Sequence[Callable[[gym.Env], gym.Env]] = (),
        **overrides: Any,
    ) -> None:
        self.env_id = env_id
        built: gym.Env = env if env is not None else make_env(env_id, **overrides)
        for wrapper in wrappers:
            built = wrapper(built)
        self.env = built
        self.base: SearchQAEnv = built.unwrapped  # type: ignore[assignment]
        self.prompt: str | None = None
        self.last_info: dict[str, Any] = {}
        self.total_reward = 0.0
        self.done = False
        self.started = False

    # -- episode --------------------------------------------------------------------------
    def start(self, task_key: str | None = None, *, seed: int | None = None) -> str:
        """Reset on ``task_key`` (or a task drawn by the env's RNG); return the prompt."""
        options = {"task_key": str(task_key)} if task_key is not None else None
        prompt, info = self.env.reset(seed=seed, options=options)
        self.prompt, self.last_info = prompt, info
        self.total_reward, self.done, self.started = 0.0, False, True
        return prompt

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """One env step. A string holding Hermes ``<tool_call>`` blocks runs its first call.

        Raises :class:`EpisodeOver` after the episode ended and ``RuntimeError`` before
        :meth:`start`.
        """
        if not self.started:
            raise RuntimeError("no episode: call start(task_key) first")
        if self.done:
            raise EpisodeOver("the episode is over: the question was answered or the turn budget is spent")
        if isinstance(action, str):
            calls = hermes_tool_calls(action)
            if calls:
                action = (
                    calls[0]
                    if len(calls) == 1
                    else {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                            for c in calls
                        ],
                    }
                )
        observation, raw_reward, terminated, truncated, info = self.env.step(action)
        reward = float(raw_reward)
        self.total_reward += reward
        self.done = bool(terminated or truncated)
        self.last_info = info
        return str(observation), reward, bool(terminated), bool(truncated), info

    def call(self, name: str, arguments: Mapping[str, Any]) -> str:
        """Run one tool call; return its observation, or a short note after an answer."""
        observation, _, terminated, truncated, info = self.step({"name": name, "arguments": dict(arguments)})
        if terminated:
            return "Answer recorded. The episode is over."
        if truncated and not observation:
            return "The turn budget is spent. The episode is over."
        return unwrap_information(observation)

    # -- tool methods ---------------------------------------------------------------------
    def search(self, query: str) -> str:
        return self.call("search", {"query": query})

    def access(self, doc_id: str) -> str:
        return self.call("access", {"doc_id": doc_id})

    def answer(self, answer: str) -> str:
        return self.call("answer", {"answer": answer})

    # -- results --------------------------------------------------------------------------
    @property
    def config(self) -> EnvConfig:
        """The config of the env this session drives."""
        return self.base.config

    @property
    def task_key(self) -> str | None:
        return self.last_info.get("task_key")

    @property
    def reward(self) -> float:
        """The episode's reward so far: the sum of step rewards through the env's wrappers (the
        env's own reward: EM by default, or its spec's ``[reward]`` composition)."""
        return float(self.total_reward)

    def metrics(self) -> dict[str, float]:
        """Numeric per-episode metrics (SkyRL ``get_metrics``, verifiers metrics, logs): the
        episode core's :data:`~searchgym.envs.episode.EPISODE_METRIC_KEYS` with this session's
        reward (the total through any wrappers); empty before :meth:`start`."""
        if not self.last_info:
            return {}
        return episode_metrics(self.last_info, self.reward)

    def replay(self, task_key: str, actions: Sequence[Any]) -> float:
        """Start ``task_key`` and run ``actions`` until the episode ends; return the reward.

        Used to score a finished transcript by running it through the env (identical reward
        to an online episode, whatever framework produced the transcript).
        """
        self.start(task_key)
        for action in actions:
            if self.done:
                break
            self.step(action)
        return self.reward

    def __repr__(self) -> str:
        return (
            f"ToolSession(env_id={self.env_id!r}, task_key={self.task_key!r}, done={self.done}, reward={self.reward})"
        )
