"""The contract every text generation backend meets, plus the helpers they share.

Why a Protocol: simulated search engines and agents only need "prompts in, strings out". Keeping
the surface that small lets a local transformers model, an OpenAI-compatible HTTP endpoint and a
test double be swapped freely, and lets ``openai_server`` serve *any* of them over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

ChatMessage = Mapping[str, Any]
"""One chat message: ``{"role": "user", "content": "..."}``."""

Prompt = str | Sequence[ChatMessage]
"""Raw text (sent verbatim) or a chat message list (rendered with the model's chat template)."""

CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


class LLMError(RuntimeError):
    """A generation backend failed: missing model, bad endpoint, server error, retries exhausted."""


class LLMRequestError(LLMError):
    """The request itself is invalid (bad prompt, prompt too long, unknown model name).

    Separate from :class:`LLMError` so that servers can answer it with a 4xx, and so callers can
    tell "fix your input" from "the backend is down".
    """


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings shared by all backends.

    ``temperature == 0`` means greedy decoding. ``stop`` strings end generation early; the output
    is cut at the first stop string, which is kept when ``include_stop`` is true because
    Search-R1-style agents end an action with ``</search>`` and the parser needs the closing tag.
    ``seed`` makes sampling reproducible per call (``None``: fresh randomness). ``seeds`` gives
    each prompt its own seed instead (one per prompt, in order): a prompt's sample then depends
    only on the prompt and its seed, never on which other prompts share the batch or where it
    sits in it — what an RL rollout needs when the vector env's batch layout changes between
    runs, and what makes identical prompts of a GRPO group sample differently.
    """

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = field(default_factory=tuple)
    seed: int | None = None
    include_stop: bool = True
    seeds: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int):
            raise ValueError(f"max_new_tokens must be an int, got {self.max_new_tokens!r}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not self.temperature >= 0.0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        for stop in self.stop:
            if not isinstance(stop, str) or not stop:
                raise ValueError(f"stop strings must be non-empty strings, got {stop!r}")
        seed = self.seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an int or None, got {self.seed!r}")
        if self.seeds is not None:
            object.__setattr__(self, "seeds", tuple(self.seeds))
            for value in self.seeds:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"seeds must be ints, got {value!r}")

    def prompt_seed(self, index: int, count: int) -> int | None:
        """The seed of prompt ``index`` of ``count``: ``seeds[index]``, else the call's ``seed``."""
        if self.seeds is None:
            return self.seed
        if len(self.seeds) != count:
            raise ValueError(f"got {len(self.seeds)} seeds for {count} prompts")
        return self.seeds[index]

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class Generation:
    """One generation with what an API server reports about it.

    ``finish_reason`` is ``"stop"`` (end of sequence or a stop string) or ``"length"`` (the
    ``max_new_tokens`` budget ran out); token counts are None when the backend cannot tell.
    """

    text: str
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@runtime_checkable
class TextGenerator(Protocol):
    """Batched text generation: one output string (the new text only) per prompt, in order."""

    def generate(self, prompts: Sequence[Prompt], config: GenerationConfig | None = None) -> list[str]: ...


def apply_stop(text: str, stop: Sequence[str], include_stop: bool = True) -> str:
    """Cut ``text`` at the earliest occurrence of any stop string.

    When two stop strings match at the same position the longer one wins, so that
    ``("</s", "</search>")`` keeps the whole closing tag.
    """
    best: tuple[int, int] | None = None  # (position, -length)
    for candidate in stop:
        position = text.find(candidate)
        if position >= 0 and (best is None or (position, -len(candidate)) < best):
            best = (position, -len(candidate))
    if best is None:
        return text
    position, negative_length = best
    return text[: position - negative_length] if include_stop else text[:position]


def matched_stop(text: str, stop: Sequence[str]) -> str | None:
    """The stop string that ``text`` ends with (after :func:`apply_stop`), or None."""
    matches = [candidate for candidate in stop if text.endswith(candidate)]
    return max(matches, key=len) if matches else None


def validate_prompt(prompt: Any, index: int = 0) -> Prompt:
    """Check one prompt's shape early, with a message that says which prompt is wrong."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence) and not isinstance(prompt, (bytes, bytearray)):
        if not prompt:
            raise LLMRequestError(f"prompt {index}: a chat prompt needs at least one message")
        for position, message in enumerate(prompt):
            if not isinstance(message, Mapping):
                raise LLMRequestError(
                    f"prompt {index}, message {position}: expected a dict with 'role' and "
                    f"'content', got {type(message).__name__}"
                )
            role, content = message.get("role"), message.get("content")
            if role not in CHAT_ROLES:
                raise LLMRequestError(
                    f"prompt {index}, message {position}: role must be one of {sorted(CHAT_ROLES)}, got {role!r}"
                )
            if content is None and message.get("tool_calls"):
                continue  # an assistant turn that only calls tools
            if not isinstance(content, str):
                raise LLMRequestError(
                    f"prompt {index}, message {position}: content must be a string, got {type(content).__name__}"
                )
        return prompt
    raise LLMRequestError(f"prompt {index}: expected a string or a list of chat messages, got {type(prompt).__name__}")


def validate_prompts(prompts: Sequence[Prompt]) -> list[Prompt]:
    """Validate a batch; a bare string is rejected because it is almost always a caller bug."""
    if isinstance(prompts, (str, bytes)):
        raise LLMRequestError("generate() takes a list of prompts, not a single string")
    return [validate_prompt(prompt, index) for index, prompt in enumerate(prompts)]
