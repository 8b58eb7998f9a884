"""The episode core: one task's episode, framework-free.

Every path that runs a SearchQA episode runs an :class:`Episode`: ``SearchQAEnv`` is a
Gymnasium shell over one, :class:`~searchgym.envs.vector.BatchedSearchQAVectorEnv` drives N
(their searches answered by one engine call, :func:`search_episodes`), and
:class:`~searchgym.integrations.tool_session.ToolSession` (hence the verl, SkyRL, TRL and
verifiers adapters) drives the env that holds one. An episode

1. parses an action (:meth:`Episode.begin`, after the reward terms' action preprocessing),
2. gets its searches answered (alone with :meth:`Episode.step`, or batched),
3. renders the observation (:mod:`searchgym.envs.rendering`), updates the ledgers of
   :class:`~searchgym.envs.episode_state.EpisodeState`, scores the answer with the one answer
   table (:func:`~searchgym.envs.answer_table.score_answer_step`) and the reward terms it was given
   (:class:`~searchgym.wrappers.reward_compose.RewardComposition`),
4. builds the step's ``info`` and, at any point, :meth:`Episode.metrics`.

What an episode reads from its host (the env): ``config``, ``bundle``, ``engine`` (read on
every step, since a noise curriculum may swap it), ``allowed_actions``, ``answer_candidates``
and ``rewards``. Reward terms read the same names off the episode, so a term scores a spec's
composition here exactly as it scores under a wrapper that reads the unwrapped env.

The episode core is one piece on purpose (action, search, rendering, scoring and metrics of one
episode share its state); the answer table it scores with is :mod:`searchgym.envs.answer_table`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from searchgym.envs.actions import ParsedAction, parse_action
from searchgym.envs.answer_table import AnswerScore, score_answer_step
from searchgym.envs.config import EnvConfig
from searchgym.envs.episode_state import EpisodeState, action_text
from searchgym.envs.prompts import render_invalid_action, render_prompt
from searchgym.envs.rendering import Rendered, render_access, render_failure, render_search
from searchgym.search.base import SearchEngine, SearchError, is_contextual, search_in_contexts, set_context
from searchgym.types import Hit, Task

__all__ = [
    "EPISODE_METRIC_KEYS",
    "MAX_QUERIES_PER_STEP",
    "Episode",
    "EpisodeState",
    "Turn",
    "action_text",
    "episode_metrics",
    "run_search",
    "search_episodes",
]

logger = logging.getLogger(__name__)

MAX_QUERIES_PER_STEP = 8
#: Episode metrics every path reports, in this order (verl stacks them per key across a batch).
EPISODE_METRIC_KEYS = (
    "reward",
    "em",
    "f1",
    "evidence_recall",
    "turns",
    "num_searches",
    "num_accesses",
    "num_invalid",
    "answered",
)


class EpisodeHost(Protocol):
    """What an episode reads from the env that runs it."""

    config: EnvConfig
    bundle: Any
    engine: SearchEngine
    allowed_actions: tuple[str, ...]
    rewards: Any  # RewardComposition | None

    @property
    def answer_candidates(self) -> Any: ...

    def task_tier(self, task: Task) -> int: ...


@dataclass
class Turn:
    """One action on its way through an episode: as received, as the env sees it, parsed."""

    action: Any  # as the agent sent it (what format terms judge)
    forwarded: Any  # after the reward terms' preprocessing (citations stripped from an answer)
    parsed: ParsedAction

    @property
    def queries(self) -> list[str]:
        return list(self.parsed.queries) if self.parsed.kind == "search" else []


def episode_metrics(info: dict[str, Any], reward: float) -> dict[str, float]:
    """The numeric metrics of an episode from its latest info (:data:`EPISODE_METRIC_KEYS`)."""
    if not info:
        return dict.fromkeys(EPISODE_METRIC_KEYS, 0.0)
    return {
        "reward": float(reward),
        "em": float(info.get("em", 0.0)),
        "f1": float(info.get("f1", 0.0)),
        "evidence_recall": float(info.get("evidence_recall", 0.0)),
        "turns": float(info.get("turn", 0)),
        "num_searches": float(info.get("num_searches", 0)),
        "num_accesses": float(info.get("num_accesses", 0)),
        "num_invalid": float(info.get("num_invalid", 0)),
        "answered": float(bool(info.get("answered", False))),
    }


class Episode:
    """One task's episode on a host env (see the module doc)."""

    def __init__(self, host: EpisodeHost, task: Task, group_seed: int = 0, state: EpisodeState | None = None) -> None:
        self.host = host
        self.group_seed = int(group_seed)
        self.state = state if state is not None else EpisodeState(task)
        self.total_reward = 0.0
        self.last_info: dict[str, Any] = {}

    # -- what reward terms and agents read ------------------------------------------------------
    @property
    def task(self) -> Task:
        return self.state.task

    @property
    def config(self) -> EnvConfig:
        return self.host.config

    @property
    def engine(self) -> SearchEngine:
        return self.host.engine

    @property
    def bundle(self) -> Any:
        return self.host.bundle

    @property
    def world(self) -> Any:
        """The host's world (what answer forms graded against the graph read)."""
        return self.host.bundle.world

    @property
    def allowed_actions(self) -> tuple[str, ...]:
        return self.host.allowed_actions

    @property
    def answer_candidates(self) -> Any:
        return self.host.answer_candidates

    @property
    def search_context(self) -> tuple[str, int]:
        """(task_key, group_seed): what context-dependent engines derive their draws from."""
        return self.task.task_key, self.group_seed

    # -- the episode ----------------------------------------------------------------------------
    def start(self) -> tuple[str, dict[str, Any]]:
        """The prompt and the reset info; the engine's context and the reward terms are reset."""
        # GRPO groups share (task, group_seed): engines with randomness (simulated search) derive
        # their draws from it, so every rollout of a group sees the same documents.
        set_context(self.engine, self.task.task_key, self.group_seed)
        config = self.config
        prompt = render_prompt(
            self.task.question, style=config.prompt_style, allow_access=config.allow_access, top_k=config.top_k
        )
        self.state.transcript.append({"role": "user", "content": prompt})
        info = self.base_info()
        info.update(
            messages=[{"role": "user", "content": prompt}],
            tools=self.host_tools(),
            question=self.task.question,
            results=[],
        )
        if self.host.rewards is not None:
            self.host.rewards.reset(self, prompt, info)
        self.last_info = info
        return prompt, info

    def host_tools(self) -> list[dict[str, Any]]:
        return list(getattr(self.host, "tools", None) or [])

    def begin(self, action: Any) -> Turn:
        """Preprocess (reward terms) and parse an action with the env's limits. Never raises:
        an action the parser cannot even inspect is an invalid action like any other."""
        rewards = self.host.rewards
        forwarded = action
        if rewards is not None:
            try:
                forwarded = rewards.preprocess_action(self, action)
            except Exception:  # noqa: BLE001 - agent input may be any object
                forwarded = action
        return Turn(action, forwarded, self.parse(forwarded))

    def parse(self, action: Any) -> ParsedAction:
        config = self.config
        try:
            parsed = parse_action(action, max_chars=config.max_action_chars, allowed_actions=self.allowed_actions)
        except Exception as error:  # noqa: BLE001 - agent input may be any object
            return ParsedAction(
                kind="invalid",
                protocol="unknown",
                error=f"the action could not be read ({type(error).__name__}); send a string or a tool-call mapping",
            )
        if parsed.kind == "search" and len(parsed.queries) > MAX_QUERIES_PER_STEP:
            parsed = ParsedAction(
                kind="invalid",
                raw_length=parsed.raw_length,
                protocol=parsed.protocol,
                error=f"a search may hold at most {MAX_QUERIES_PER_STEP} queries, got {len(parsed.queries)}",
            )
        return parsed

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """One step, its searches answered by the host's engine alone."""
        turn = self.begin(action)
        results = run_search(self.engine, turn.queries, self.config.top_k) if turn.parsed.kind == "search" else None
        return self.finish(turn, results)

    def finish(
        self, turn: Turn, results: list[list[Hit]] | Exception | None
    ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Apply a parsed action whose search results (if any) are known.

        Everything that can fail (the engine's ``access``, rendering what an engine returned)
        runs before the episode state changes, so a failure is an observation and never leaves
        counters half-updated.
        """
        state, parsed, config = self.state, turn.parsed, self.config
        rendered, answer = self._outcome(parsed, results)
        terminated = parsed.kind == "answer"
        state.turn += 1
        state.transcript.append({"role": "assistant", "content": action_text(turn.forwarded, config.max_action_chars)})
        opened_shown = False
        if parsed.kind == "search":
            state.num_searches += 1
            state.queries.extend(parsed.queries)
            state.record_search(rendered.doc_ids, rendered.evidence_text)
        elif parsed.kind == "access":
            state.num_accesses += 1
            opened_shown = rendered.opened is not None and rendered.opened in state.shown
            if opened_shown:
                state.evidence_text.extend(rendered.evidence_text)
        elif answer is not None:
            state.prediction, state.em, state.f1 = parsed.argument, answer.em, answer.f1
        else:
            state.num_invalid += 1
        new_evidence = state.record_docs(rendered.doc_ids)
        truncated = not terminated and state.turn >= config.max_turns
        state.done = terminated or truncated
        if rendered.observation:
            state.transcript.append({"role": "user", "content": rendered.observation})
        info = self.base_info()
        info.update(
            action_kind=parsed.kind,
            format_ok=parsed.format_ok,
            error=rendered.error if rendered.error is not None else parsed.error,
            backend_error=rendered.backend_error,
            unsearched_access=parsed.kind == "access" and bool(rendered.doc_ids) and not opened_shown,
            queries=list(parsed.queries),
            doc_ids=rendered.doc_ids,
            results=rendered.results,
            new_evidence=new_evidence,
            **(answer.terms if answer is not None else {}),
        )
        reward = answer.reward if answer is not None else 0.0
        if self.host.rewards is not None:
            reward = self.host.rewards.apply(
                self, turn.action, rendered.observation, reward, terminated, truncated, info
            )
        self.total_reward += float(reward)
        self.last_info = info
        return rendered.observation, float(reward), terminated, truncated, info

    def _outcome(
        self, parsed: ParsedAction, results: list[list[Hit]] | Exception | None
    ) -> tuple[Rendered, AnswerScore | None]:
        """What an action shows and scores, computed without touching the episode's state."""
        config = self.config
        if parsed.kind == "search":
            try:
                if isinstance(results, Exception):
                    raise results
                assert results is not None
                return render_search(
                    results,
                    list(parsed.queries),
                    engine=self.engine,
                    max_doc_chars=config.max_doc_chars,
                    show_ids=config.show_doc_ids,
                ), None
            except Exception as error:  # noqa: BLE001 - any backend failure is an observation
                return render_failure("search", error), None
        if parsed.kind == "access":
            return render_access(
                parsed.argument,
                engine=self.engine,
                bundle=self.bundle,
                max_doc_chars=config.max_doc_chars,
                show_ids=config.show_doc_ids,
            ), None
        if parsed.kind == "answer":
            candidates = lambda: self.answer_candidates  # noqa: E731 - built only when needed
            return Rendered(), score_answer_step(
                self.task, parsed.argument, config.reward, config.abstain_penalty, candidates, episode=self
            )
        return Rendered(observation=render_invalid_action(parsed.error, allow_access=config.allow_access)), None

    # -- info and metrics -----------------------------------------------------------------------
    def base_info(self) -> dict[str, Any]:
        state, task = self.state, self.state.task
        return {
            "task_key": task.task_key,
            "task_type": task.task_type,
            "hops": task.hops,
            "min_searches": task.min_searches,
            "tier": self.host.task_tier(task),
            "split": task.split,
            "turn": state.turn,
            "num_searches": state.num_searches,
            "num_accesses": state.num_accesses,
            "num_invalid": state.num_invalid,
            "retrieved_doc_ids": list(state.retrieved),
            "evidence_recall": state.evidence_recall(),
            "answered": state.prediction is not None,
            "prediction": state.prediction,
            "em": state.em,
            "f1": state.f1,
        }

    def metrics(self) -> dict[str, float]:
        """:data:`EPISODE_METRIC_KEYS` of the episode so far (reward: the sum of step rewards)."""
        return episode_metrics(self.last_info, self.total_reward)


def run_search(engine: SearchEngine, queries: list[str], k: int) -> list[list[Hit]] | Exception:
    """``engine.search`` whose failure (any exception, not only :class:`SearchError`) is returned,
    not raised, and whose answer is checked: one result list per query."""
    try:
        results = engine.search(queries, k)
        if not isinstance(results, list) or len(results) != len(queries):
            got = len(results) if isinstance(results, list) else type(results).__name__
            return SearchError(
                f"engine {getattr(engine, 'name', engine)!r} returned {got} result lists for {len(queries)} queries"
            )
        return results
    except Exception as error:  # noqa: BLE001 - a backend failure is an observation
        if not isinstance(error, SearchError):
            logger.warning("engine %r raised on a search", getattr(engine, "name", engine), exc_info=True)
        return error


def search_episodes(
    engine: SearchEngine, queries: list[str], contexts: Sequence[tuple[str, int]], k: int
) -> tuple[list[list[Hit]] | Exception, int]:
    """One engine call for the queries of many episodes: ``(results, unique queries sent)``
    (the count is 0 when the call failed: nothing was answered).

    Identical queries (the members of a GRPO group often open with the same search) are sent
    once; context-dependent engines (simulated search) dedupe per (task_key, group_seed) and get
    each query's context through ``search_batch``, so batching never mixes contexts. A failure
    is returned, not raised.
    """
    if not queries:
        return [], 0
    contextual = is_contextual(engine)
    keys: list[Any] = list(zip(queries, contexts)) if contextual else list(queries)
    slot_of: dict[Any, int] = {}
    slots: list[int] = []
    unique_queries: list[str] = []
    unique_contexts: list[tuple[str, int]] = []
    for key, query, context in zip(keys, queries, contexts):
        if key not in slot_of:
            slot_of[key] = len(unique_queries)
            unique_queries.append(query)
            unique_contexts.append(context)
        slots.append(slot_of[key])
    try:
        results = search_in_contexts(engine, unique_queries, k, unique_contexts)
    except Exception as error:  # noqa: BLE001 - a backend failure is an observation
        return error, 0
    if not isinstance(results, list) or len(results) != len(unique_queries):
        return SearchError(
            f"engine {getattr(engine, 'name', engine)!r} returned "
            f"{len(results) if isinstance(results, list) else results!r:.80} "
            f"result lists for {len(unique_queries)} queries"
        ), 0
    return [list(results[slot]) for slot in slots], len(unique_queries)
