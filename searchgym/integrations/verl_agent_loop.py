"""A Search-R1 tag-mode agent loop for verl: the env runs inside the rollout.

Why: verl's ``tool_agent`` loop only speaks chat-template tool calls, and its tools see one call
at a time, so a Search-R1-style policy (``<search>…</search>`` / ``<access>…</access>`` /
``<answer>…</answer>`` in plain text) had no loop at all and its turns, invalid actions and
evidence recall were invisible to verl. Here each trajectory drives a private
:class:`~searchgym.integrations.tool_session.ToolSession` on its row's ``task_key``:

1. generate until a closing action tag (``</search>``, ``</access>``, ``</answer>``), EOS or the
   response budget;
2. step the session with that turn's text; the env's observation (``\\n\\n<information>…
   </information>\\n\\n`` or its invalid-action note) is appended as tokens with
   ``response_mask`` 0 (and log-prob 0.0);
3. repeat until the env ends the episode (answer or its own ``max_turns``), the model stops
   without an action (EOS), ``multi_turn.max_assistant_turns`` or the response budget.

The output carries the env's reward as ``reward_score`` (so verl skips the reward function) and
:func:`~searchgym.integrations.verl.episode_metrics` (EM, F1, evidence recall, turns, searches,
...) as ``extra_fields["reward_extra_info"]``, which verl logs per key.

The protocol is :func:`run_tag_episode`, a plain coroutine over a ``generate`` callable, so it
runs (and is tested) without Ray or a verl trainer; :class:`SearchGymAgentLoop` is the thin
verl ``AgentLoopBase`` around it, defined when ``verl.experimental.agent_loop`` imports
(it needs hydra, ray, orjson and cachetools besides verl).

Token bookkeeping follows verl's ``tool_agent_loop``: the prompt is built with the worker's
Continuous Token builder, generated tokens are kept exactly as sampled (a turn is only cut
right after its first closing tag, so the kept tokens stay a prefix of what was sampled), and
observations are tokenized on their own and concatenated, never re-tokenized with the history.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from searchgym.agents.llm import SEARCH_R1_STOPS
from searchgym.integrations.tool_session import DEFAULT_ENV_ID, ToolSession
from searchgym.integrations.verl import (
    episode_metrics,
    row_overrides,
    write_yaml_config,
)

__all__ = [
    "ACTION_CLOSE_TAGS",
    "AGENT_NAME",
    "HAVE_VERL_AGENT_LOOP",
    "TagEpisode",
    "agent_loop_config",
    "cut_at_action",
    "row_task",
    "run_tag_episode",
    "stop_sampling_params",
    "write_agent_loop_config",
]

_LOG = logging.getLogger(__name__)

AGENT_NAME = "searchgym_agent"
ACTION_CLOSE_TAGS = SEARCH_R1_STOPS  # the closing tags the LLM agents stop on, one definition

#: ``generate(prompt_ids, sampling_params)`` -> an object with ``token_ids`` (and optionally
#: ``log_probs``, ``num_preempted``, ``extra_fields``: verl's ``TokenOutput``) or a token list.
GenerateFn = Callable[[list[int], dict[str, Any]], Awaitable[Any]]


@dataclass
class TagEpisode:
    """One finished tag-mode rollout: tokens, masks, and what the env made of it."""

    prompt_ids: list[int]
    response_ids: list[int] = field(default_factory=list)
    response_mask: list[int] = field(default_factory=list)
    response_logprobs: list[float] | None = None
    assistant_turns: int = 0
    observation_turns: int = 0
    stop_reason: str = ""  # "done" (env ended), "eos", "length", "max_turns"
    reward: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    num_preempted: int = -1
    generate_seconds: float = 0.0
    env_seconds: float = 0.0
    extra_fields: dict[str, Any] = field(default_factory=dict)

    @property
    def num_turns(self) -> int:
        """verl's convention: user + assistant + tool turns, the prompt counting as one."""
        return 1 + self.assistant_turns + self.observation_turns


# --------------------------------------------------------------------------- helpers


def _decode(tokenizer: Any, token_ids: Sequence[int]) -> str:
    return tokenizer.decode(list(token_ids), skip_special_tokens=True)


def cut_at_action(
    tokenizer: Any, token_ids: Sequence[int], close_tags: Sequence[str] = ACTION_CLOSE_TAGS
) -> tuple[list[int], str, bool]:
    """The shortest prefix of ``token_ids`` whose text holds a closing action tag.

    Why: backends overshoot a stop string (a token can hold ``</search>`` plus more text, a
    backend may ignore ``stop``, or keep generating after it). Keeping a *prefix* of the sampled
    tokens, not a re-tokenization of the cut text, keeps the tokens and their log-probs on-policy.
    Returns ``(kept ids, their text, whether a closing tag was found)``; a binary search keeps it
    at O(log n) decodes (prefix texts only grow, so "holds a tag" is monotone).
    """
    ids = list(token_ids)
    text = _decode(tokenizer, ids)
    if not any(tag in text for tag in close_tags):
        return ids, text, False
    low, high = 1, len(ids)
    while low < high:
        middle = (low + high) // 2
        if any(tag in _decode(tokenizer, ids[:middle]) for tag in close_tags):
            high = middle
        else:
            low = middle + 1
    kept = ids[:low]
    return kept, _decode(tokenizer, kept), True


def stop_sampling_params(
    sampling_params: Mapping[str, Any], *, max_tokens: int, backend: str | None = "vllm"
) -> dict[str, Any]:
    """``sampling_params`` for one turn: stop after an action tag, keep the tag, cap the length.

    vLLM keeps a stop string with ``include_stop_str_in_output``, SGLang with ``no_stop_trim``;
    other backends get ``stop`` only (:func:`cut_at_action` copes either way as long as the tag
    is in the returned tokens).
    """
    params = dict(sampling_params)
    stops = list(params.get("stop") or [])
    params["stop"] = stops + [tag for tag in ACTION_CLOSE_TAGS if tag not in stops]
    if backend == "vllm":
        params["include_stop_str_in_output"] = True
    elif backend == "sglang":
        params["no_stop_trim"] = True
    params.pop("max_new_tokens", None)
    params["max_tokens"] = int(max_tokens)
    return params


def _unpack(output: Any) -> tuple[list[int], list[float] | None, Any]:
    """``TokenOutput``-like (or a bare token list) -> (token ids, log-probs, the object)."""
    if isinstance(output, (list, tuple)):
        return [int(t) for t in output], None, None
    log_probs = getattr(output, "log_probs", None)
    return [int(t) for t in output.token_ids], (list(log_probs) if log_probs else None), output


def _item(value: Any) -> Any:
    """numpy scalars / 0-d arrays (verl rows come from parquet) -> plain Python."""
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 0) == 0 else value


def row_task(kwargs: Mapping[str, Any], default_env_id: str = DEFAULT_ENV_ID) -> tuple[str, str]:
    """``(env_id, task_key)`` of a verl row (the dataset fields the agent loop receives).

    ``extra_info.task_key`` / ``extra_info.env_id`` as :func:`searchgym.export.export_tasks`
    writes them, else the tools' ``create_kwargs``, else the row's ``data_source``.
    """
    extra = kwargs.get("extra_info") or {}
    task_key = extra.get("task_key")
    env_id = extra.get("env_id")
    for spec in (kwargs.get("tools_kwargs") or {}).values():
        create = (spec or {}).get("create_kwargs") or {}
        task_key = task_key or create.get("task_key")
        env_id = env_id or create.get("env_id") or create.get("data_source")
    env_id = env_id or kwargs.get("data_source") or default_env_id
    if not task_key:
        raise ValueError(
            "the row has no task_key (extra_info.task_key): export it with `searchgym export --format verl`"
        )
    return str(_item(env_id)), str(_item(task_key))


# --------------------------------------------------------------------------- the protocol


async def run_tag_episode(
    session: ToolSession,
    task_key: str,
    prompt_ids: Sequence[int],
    generate: GenerateFn,
    tokenizer: Any,
    *,
    response_length: int,
    sampling_params: Mapping[str, Any] | None = None,
    max_assistant_turns: int | None = None,
    backend: str | None = "vllm",
    eos_token_ids: Sequence[int] | None = None,
) -> TagEpisode:
    """Run one Search-R1 tag episode of ``session`` on ``task_key`` from ``prompt_ids``.

    ``response_length`` bounds everything after the prompt (generated and observation tokens);
    ``max_assistant_turns`` (None: the env's ``max_turns`` decides) bounds model turns.
    """
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, session.start, task_key)
    eos = set(eos_token_ids if eos_token_ids is not None else _eos_ids(tokenizer))
    episode = TagEpisode(prompt_ids=list(prompt_ids), response_logprobs=[])
    while True:
        budget = response_length - len(episode.response_ids)
        if budget <= 0:
            episode.stop_reason = "length"
            break
        params = stop_sampling_params(sampling_params or {}, max_tokens=budget, backend=backend)
        started = time.perf_counter()
        output = await generate(episode.prompt_ids + episode.response_ids, params)
        episode.generate_seconds += time.perf_counter() - started
        tokens, log_probs, raw = _unpack(output)
        _merge_generation_info(episode, raw)
        kept, text, acted = cut_at_action(tokenizer, tokens)
        kept = kept[:budget]
        _append(episode, kept, 1, log_probs[: len(kept)] if log_probs else None)
        episode.assistant_turns += 1
        if not acted and (not kept or kept[-1] in eos or len(kept) >= budget):
            episode.stop_reason = "eos" if kept and kept[-1] in eos else "length"
            break
        started = time.perf_counter()
        observation, *_ = await loop.run_in_executor(None, session.step, text)
        episode.env_seconds += time.perf_counter() - started
        if session.done:
            episode.stop_reason = "done"
            break
        if max_assistant_turns and episode.assistant_turns >= max_assistant_turns:
            episode.stop_reason = "max_turns"
            break
        observed = tokenizer.encode(observation, add_special_tokens=False)
        room = response_length - len(episode.response_ids)
        _append(episode, observed[:room], 0, None)
        episode.observation_turns += 1
    episode.reward = session.reward
    episode.metrics = episode_metrics(session)
    if episode.response_logprobs is not None and len(episode.response_logprobs) != len(episode.response_ids):
        episode.response_logprobs = None
    return episode


def _eos_ids(tokenizer: Any) -> list[int]:
    eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos, (list, tuple)):
        return [int(t) for t in eos]
    return [] if eos is None else [int(eos)]


def _append(episode: TagEpisode, tokens: list[int], mask: int, log_probs: list[float] | None) -> None:
    """Extend ids and mask together; log-probs stay aligned or are dropped (some turn had none)."""
    episode.response_ids.extend(tokens)
    episode.response_mask.extend([mask] * len(tokens))
    if episode.response_logprobs is None:
        return
    if mask == 0:
        episode.response_logprobs.extend([0.0] * len(tokens))
    elif log_probs is not None and len(log_probs) == len(tokens):
        episode.response_logprobs.extend(float(v) for v in log_probs)
    else:
        episode.response_logprobs = None


def _merge_generation_info(episode: TagEpisode, output: Any) -> None:
    """Carry verl's per-generation bookkeeping like ``tool_agent_loop`` does (preemptions, the
    first call's ``extra_fields``, the latest ``max_global_steps``)."""
    if output is None:
        return
    preempted = getattr(output, "num_preempted", None)
    if episode.num_preempted < 0:
        episode.num_preempted = preempted if preempted is not None else -1
    elif preempted is not None:
        episode.num_preempted += preempted
    extra = dict(getattr(output, "extra_fields", None) or {})
    if not episode.extra_fields:
        episode.extra_fields.update(extra)
    elif extra.get("max_global_steps"):
        episode.extra_fields["max_global_steps"] = extra["max_global_steps"]


# --------------------------------------------------------------------------- verl config


def agent_loop_config(
    *, env_overrides: Mapping[str, Any] | None = None, env_id: str | None = None, name: str = AGENT_NAME
) -> list[dict[str, Any]]:
    """``actor_rollout_ref.rollout.agent.agent_loop_config_path`` content.

    Why a config file and not only ``@register``: verl's rollout workers are Ray actors that
    never import this module; the config names the class by path, so each worker imports (and
    registers) it. ``env_overrides`` must be the overrides the dataset was exported with.
    """
    entry: dict[str, Any] = {"name": name, "_target_": f"{__name__}.SearchGymAgentLoop"}
    if env_overrides:
        entry["env_overrides"] = dict(env_overrides)
    if env_id:
        entry["env_id"] = env_id
    return [entry]


def write_agent_loop_config(path: Any, **kwargs: Any) -> Any:
    """Write :func:`agent_loop_config` as YAML (JSON, a YAML subset, without PyYAML)."""
    return write_yaml_config(path, agent_loop_config(**kwargs))


# --------------------------------------------------------------------------- verl AgentLoopBase

try:
    from verl.experimental.agent_loop.agent_loop import (
        AgentLoopBase,
        AgentLoopMetrics,
        AgentLoopOutput,
        register,
    )

    HAVE_VERL_AGENT_LOOP = True
except Exception:  # noqa: BLE001 - verl (or hydra/ray/orjson it needs) absent: the protocol still works
    HAVE_VERL_AGENT_LOOP = False


if HAVE_VERL_AGENT_LOOP:

    @register(AGENT_NAME)
    class SearchGymAgentLoop(AgentLoopBase):
        """verl agent loop running :func:`run_tag_episode` on each row's searchgym task.

        Extra config keys (``agent_loop_config_path`` entries): ``env_overrides`` (the export's
        env overrides), ``env_id`` (default: the row's). Set the rows' ``agent_name`` to
        ``searchgym_agent`` (or ``rollout.agent.default_agent_loop`` for rows without one).
        """

        def __init__(
            self,
            *args: Any,
            env_overrides: Mapping[str, Any] | None = None,
            env_id: str | None = None,
            tools: Any = None,
            **kwargs: Any,
        ) -> None:
            super().__init__(*args, **kwargs)
            self.env_overrides = dict(env_overrides or {})
            self.env_id = env_id
            self.response_length = int(self.rollout_config.response_length)
            multi_turn = self.rollout_config.get("multi_turn", None) or {}
            self.max_assistant_turns = multi_turn.get("max_assistant_turns", None)
            self.backend = self.rollout_config.get("name", "vllm")

        async def run(self, sampling_params: dict[str, Any], priority: int = 0, **kwargs: Any) -> AgentLoopOutput:
            env_id, task_key = row_task(kwargs, DEFAULT_ENV_ID)
            env_id = self.env_id or env_id
            messages = list(kwargs["raw_prompt"])
            prompt_ids = await self.ct_build_initial_tokens(messages)
            overrides = {**self.env_overrides, **row_overrides(kwargs.get("extra_info") or {})}
            session = await self.loop.run_in_executor(None, lambda: ToolSession(env_id, **overrides))
            full_determinism = bool(self.rollout_config.get("full_determinism", False))
            request_id = f"det-{int(priority)}" if full_determinism else uuid4().hex

            async def generate(ids: list[int], params: dict[str, Any]) -> Any:
                return await self.server_manager.generate(request_id=request_id, prompt_ids=ids, sampling_params=params)

            episode = await run_tag_episode(
                session,
                task_key,
                prompt_ids,
                generate,
                self.tokenizer,
                response_length=self.response_length,
                sampling_params=sampling_params,
                max_assistant_turns=self.max_assistant_turns,
                backend=self.backend,
            )
            return self._output(episode)

        def _output(self, episode: TagEpisode) -> AgentLoopOutput:
            extra = dict(episode.extra_fields)
            extra.update(
                turn_scores=[],
                tool_rewards=[],
                reward_extra_info=dict(episode.metrics),
                searchgym_stop_reason=episode.stop_reason,
            )
            return AgentLoopOutput(
                prompt_ids=episode.prompt_ids,
                response_ids=episode.response_ids[: self.response_length],
                response_mask=episode.response_mask[: self.response_length],
                response_logprobs=(
                    episode.response_logprobs[: self.response_length] if episode.response_logprobs else None
                ),
                reward_score=episode.reward,
                num_turns=episode.num_turns,
                metrics=AgentLoopMetrics(
                    generate_sequences=episode.generate_seconds,
                    tool_calls=episode.env_seconds,
                    num_preempted=episode.num_preempted,
                ),
                extra_fields=extra,
            )
