"""LLM baseline agents: the Search-R1 prompt and tag grammar over any text generator.

:class:`LLMAgent` drives a local transformers model (the bundled SmolLM2-135M-Instruct by
default, any local Hugging Face folder, or any ``searchgym.llm.make_generator`` spec);
:class:`OpenAIAgent` drives an OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp, or
``searchgym.llm.openai_server``). Both are thin: the env already renders the Search-R1
instruction (``reset`` returns it as the observation), so an agent only has to

1. keep the episode transcript: the prompt, its own outputs and the env's observations, as a chat
   (``chat=True``: user prompt, assistant action, user observation, ...) or as one raw string
   (``chat=False``, for base models: prompt + action + observation + ...);
2. generate until the first closing tag, with stop strings ``</search>``, ``</access>`` and
   ``</answer>`` kept in the output (Search-R1 stops at ``</search>``; the parser needs the tag);
3. return the generated text, unchanged, as the action. Whatever the model writes is the action:
   malformed text is the env's business (it costs a turn and says what is valid).

Why slots: evaluation (and RL rollouts) run many episodes at once and want *one* generation call
per step for all of them. ``begin_batch`` / ``act_batch`` address episodes by slot number, so a
finished episode's slot can be refilled with a new task while the others keep going (continuous
batching). ``begin`` / ``act`` are the one-slot case of the same code, so sequential and batched
runs build the same prompts. Under greedy decoding (the default, ``temperature=0``) an episode's
actions do not depend on which other episodes share its batch; with sampling neither do they:
each row gets its own seed from (agent seed, episode seed, turn) through
``GenerationConfig.seeds``, so a sampled run is reproducible whatever the batch layout.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from searchgym.llm.base import GenerationConfig, LLMRequestError, Prompt, TextGenerator

logger = logging.getLogger(__name__)

__all__ = ["SEARCH_R1_STOPS", "LLMAgent", "OpenAIAgent"]

SEARCH_R1_STOPS: tuple[str, ...] = ("</search>", "</access>", "</answer>")
"""Generation stops at the first closing action tag (and keeps it)."""

_OPENAI_PREFIXES = ("openai:", "openai-completions:")


@dataclass
class _Episode:
    """One slot's running episode: its transcript and what the agent did in it."""

    seed: int
    messages: list[dict[str, str]] = field(default_factory=list)  # chat mode
    text: str = ""  # raw mode
    turn: int = 0
    overflowed: bool = False  # the transcript no longer fits the model's context


class LLMAgent:
    """Search-R1-style agent over a :class:`~searchgym.llm.base.TextGenerator`.

    Args:
        model: ``None`` / ``"smollm2"`` (bundled SmolLM2-135M-Instruct), a local model folder or
            ``.gguf`` file, any :func:`searchgym.llm.make_generator` spec (``"hf:/path"``,
            ``"openai:URL#model"``), or an already built ``TextGenerator``.
        max_new_tokens: generation budget per action (Search-R1 allows 500 per turn; small
            models rarely need more than ~128 to close a tag).
        temperature / top_p: sampling; ``temperature=0`` is greedy (deterministic).
        seed: base seed for sampling; each call's seed mixes it with the episodes' seeds and turns.
        batch_size: prompts per forward batch of a local model, and the number of episodes
            evaluation runs at once (see :func:`searchgym.evaluation.evaluate`).
        device / dtype / num_threads: for local models (``device=None``: cuda when torch sees
            one, else cpu; on shared CPUs ``num_threads=1`` is often fastest).
        chat: keep the transcript as chat messages (instruct models) or as raw text (base models).
        stop: stop strings (default :data:`SEARCH_R1_STOPS`).

    Attributes: ``generator`` (the backend), ``calls`` (generate calls made), ``actions`` (actions
    generated), ``context_overflows`` (actions replaced by ``""`` because the transcript no
    longer fit the model's context; the env counts those as invalid).
    """

    name = "llm"

    def __init__(
        self,
        model: str | Path | TextGenerator | None = None,
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        batch_size: int = 8,
        device: str | None = None,
        dtype: str | None = None,
        num_threads: int | None = None,
        chat: bool = True,
        stop: Sequence[str] = SEARCH_R1_STOPS,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.chat = bool(chat)
        self.seed = int(seed)
        # Validates the decoding settings up front, before any model is loaded.
        self.generation = GenerationConfig(
            max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, stop=tuple(stop), include_stop=True
        )
        self.generator = self._build_generator(model, device=device, dtype=dtype, num_threads=num_threads)
        self.calls = 0
        self.actions = 0
        self.context_overflows = 0
        self._episodes: list[_Episode | None] = []

    def _build_generator(self, model: Any, **local_options: Any) -> TextGenerator:
        """A ready generator, a local model, or a spec; local-only options go to local models."""
        if model is not None and not isinstance(model, (str, Path)):
            if not callable(getattr(model, "generate", None)):
                raise TypeError(f"model must be a path, a generator spec or a TextGenerator, got {model!r}")
            return model
        from searchgym.llm import make_generator

        if isinstance(model, str) and model.strip().lower().startswith(_OPENAI_PREFIXES):
            return make_generator(model)
        options = {key: value for key, value in local_options.items() if value is not None}
        return make_generator(model, batch_size=self.batch_size, **options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.generator!r}, chat={self.chat})"

    # -- the Agent protocol (one slot) ----------------------------------------------------------
    def begin(self, observation: str, info: dict[str, Any], seed: int) -> None:
        """Start one episode (slot 0): this agent sees only text."""
        self.begin_batch([observation], [info], [seed])

    def act(self, observation: str, info: dict[str, Any]) -> str:
        return self.act_batch([observation], [info])[0]

    # -- batched episodes -----------------------------------------------------------------------
    def begin_batch(
        self,
        observations: Sequence[str],
        infos: Sequence[dict[str, Any]],
        seeds: Sequence[int],
        slots: Sequence[int] | None = None,
    ) -> None:
        """Start one episode per observation (a prompt from ``env.reset``).

        ``slots=None`` starts a fresh batch (slot ``i`` = position ``i``, earlier slots dropped);
        otherwise episode ``j`` goes to slot ``slots[j]`` and the other slots keep running.
        """
        if not len(observations) == len(infos) == len(seeds):
            raise ValueError("begin_batch needs one info and one seed per observation")
        if slots is None:
            self._episodes, slots = [], list(range(len(observations)))
        elif len(slots) != len(observations):
            raise ValueError(f"got {len(slots)} slots for {len(observations)} observations")
        for slot, observation, seed in zip(slots, observations, seeds):
            if slot < 0:
                raise ValueError(f"slots must be >= 0, got {slot}")
            self._episodes.extend([None] * (slot + 1 - len(self._episodes)))
            episode = _Episode(seed=int(seed))
            if self.chat:
                episode.messages.append({"role": "user", "content": observation})
            else:
                episode.text = observation
            self._episodes[slot] = episode

    def act_batch(
        self,
        observations: Sequence[str],
        infos: Sequence[dict[str, Any]],
        slots: Sequence[int] | None = None,
    ) -> list[str]:
        """One action per observation, from ONE generation call.

        ``slots[j]`` says which running episode ``observations[j]`` belongs to (default: slot
        ``j``). The first ``act`` of an episode receives the prompt that ``begin`` already
        recorded, so that observation is not appended again.
        """
        slots = list(range(len(observations))) if slots is None else list(slots)
        if len(slots) != len(observations) or len(set(slots)) != len(slots):
            raise ValueError("act_batch needs one distinct slot per observation")
        episodes = [self._episode(slot) for slot in slots]
        for episode, observation in zip(episodes, observations):
            if episode.turn > 0 and observation:
                self._append(episode, "user", observation)
        actions = [""] * len(episodes)
        live = [j for j, episode in enumerate(episodes) if not episode.overflowed]
        texts = self._generate([episodes[j] for j in live])
        for j, text in zip(live, texts):
            actions[j] = text
        for episode, action in zip(episodes, actions):
            episode.turn += 1
            self._append(episode, "assistant", action)
        self.actions += len(actions)
        return actions

    def transcript(self, slot: int = 0) -> list[dict[str, str]] | str:
        """A copy of a slot's transcript: chat messages, or the raw text with ``chat=False``."""
        episode = self._episode(slot)
        return [dict(m) for m in episode.messages] if self.chat else episode.text

    # -- internals ------------------------------------------------------------------------------
    def _episode(self, slot: int) -> _Episode:
        episode = self._episodes[slot] if 0 <= slot < len(self._episodes) else None
        if episode is None:
            raise RuntimeError(f"no episode in slot {slot}: call begin()/begin_batch() first")
        return episode

    def _append(self, episode: _Episode, role: str, content: str) -> None:
        if self.chat:
            episode.messages.append({"role": role, "content": content})
        else:
            episode.text += content

    def _prompt(self, episode: _Episode) -> Prompt:
        return [dict(m) for m in episode.messages] if self.chat else episode.text

    def _config(self, episodes: Sequence[_Episode]) -> GenerationConfig:
        """The call's decoding config: one seed per episode, from (agent seed, episode seed, turn).

        Why per episode: a row's sample then depends only on its own episode and turn, not on
        which other episodes share the batch or their order (the vector env's layout).
        """
        if self.generation.greedy:
            return self.generation
        seeds = tuple(
            int(np.random.SeedSequence([v % (1 << 32) for v in (self.seed, e.seed, e.turn)]).generate_state(1)[0])
            for e in episodes
        )
        return replace(self.generation, seed=None, seeds=seeds)

    def _generate(self, episodes: list[_Episode]) -> list[str]:
        """Generate for the episodes; prompts that outgrew the context get ``""`` from then on."""
        if not episodes:
            return []
        self.calls += 1
        try:
            return self.generator.generate([self._prompt(e) for e in episodes], self._config(episodes))
        except LLMRequestError as error:
            if len(episodes) == 1:
                logger.warning("%s: transcript no longer fits the model (%s); acting with ''", self.name, error)
                episodes[0].overflowed = True
                self.context_overflows += 1
                return [""]
        # One prompt of the batch is bad (too long): retry one by one to find it.
        return [self._generate([episode])[0] for episode in episodes]


class OpenAIAgent(LLMAgent):
    """:class:`LLMAgent` over an OpenAI-compatible endpoint (``/v1/chat/completions``).

    ``base_url`` is the API root with its version (``http://127.0.0.1:8000/v1``); ``model`` is the
    served model id. ``chat=False`` uses ``/v1/completions`` with the raw-text transcript (base
    models). Requests of a batch are sent concurrently (``batch_size`` of them at once); the
    server batches them. The agent speaks Search-R1 tags; the endpoint's tool-calling mode is not
    used. Servers that strip the matched stop string get it restored when they report it
    (vLLM, SGLang, searchgym's own server); plain OpenAI does not report it.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        batch_size: int = 8,
        chat: bool = True,
        timeout: float = 120.0,
        max_retries: int = 3,
        stop: Sequence[str] = SEARCH_R1_STOPS,
    ) -> None:
        from searchgym.llm.openai_backend import OpenAIChatGenerator

        generator = OpenAIChatGenerator(
            base_url,
            model,
            api_key,
            timeout=timeout,
            max_retries=max_retries,
            concurrency=batch_size,
            mode="chat" if chat else "completions",
        )
        super().__init__(
            generator,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            batch_size=batch_size,
            chat=chat,
            stop=stop,
        )

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self.generator.close()  # type: ignore[attr-defined]
