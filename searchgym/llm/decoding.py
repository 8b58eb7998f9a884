"""The decoding hooks :class:`~searchgym.llm.transformers_backend.TransformersGenerator` hands
to ``transformers.generate``: per-prompt seeds, a sampler that draws from per-row generators
(``generate`` has no generator argument and would use the global RNG), stop strings checked on
each row's tail, and a streamer that sends decoded text to a queue as tokens arrive.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from transformers import LogitsProcessor, StoppingCriteria
from transformers.generation.streamers import BaseStreamer

__all__ = ["QueueStreamer", "SeededSampler", "StopOnStrings", "row_seed"]


def row_seed(base_seed: int, index: int) -> int:
    """Independent, well-mixed seed per prompt so sample i does not depend on batch layout."""
    state = np.random.SeedSequence([base_seed % (1 << 64), index]).generate_state(1, np.uint64)
    return int(state[0]) & ((1 << 63) - 1)


class SeededSampler(LogitsProcessor):
    """Logits processor that samples with per-row generators and returns one-hot scores.

    Run with ``do_sample=False``: greedy search then takes exactly the sampled token.
    """

    def __init__(self, temperature: float, top_p: float, generators: list[torch.Generator]):
        self.temperature = temperature
        self.top_p = top_p
        self.generators = generators

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            sorted_logits, sorted_index = torch.sort(logits, descending=True, dim=-1)
            cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
            # Drop a token when the mass *before* it already reaches top_p (keeps at least one).
            drop_sorted = (cumulative - torch.softmax(sorted_logits, dim=-1)) >= self.top_p
            drop = drop_sorted.scatter(1, sorted_index, drop_sorted)
            logits = logits.masked_fill(drop, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        chosen = torch.stack(
            [torch.multinomial(probs[row], 1, generator=self.generators[row]) for row in range(probs.shape[0])]
        )
        one_hot = torch.full_like(scores, float("-inf"))
        return cast(torch.FloatTensor, one_hot.scatter(1, chosen, 0.0))  # the base class's declared type


class StopOnStrings(StoppingCriteria):
    """Stopping criterion: a row is done once its newly generated tail contains a stop string."""

    def __init__(self, tokenizer: Any, stops: Sequence[str], prompt_length: int) -> None:
        self.tokenizer = tokenizer
        self.stops = tuple(stops)
        self.prompt_length = prompt_length
        # A stop string of n characters spans at most ~n tokens (more only for multi-byte
        # characters split into byte tokens); the margin covers tokens that decode to nothing.
        self.window = 4 * max(len(stop) for stop in self.stops) + 8

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        tail = input_ids[:, self.prompt_length :][:, -self.window :]
        texts = self.tokenizer.batch_decode(tail, skip_special_tokens=True)
        done = [any(stop in text for stop in self.stops) for text in texts]
        return cast(torch.BoolTensor, torch.tensor(done, dtype=torch.bool, device=input_ids.device))


class QueueStreamer(BaseStreamer):
    """Hands decoded text to a queue as tokens arrive (``generate`` calls ``put`` per step).

    The whole row is re-decoded each step and only the new suffix sent, so multi-token
    characters come out whole; a trailing replacement character waits for its next token.
    """

    def __init__(self, tokenizer: Any, events: queue.Queue[tuple[str, Any]], end_ids: set[int]) -> None:
        self.tokenizer = tokenizer
        self.events = events
        self.end_ids = end_ids
        self.tokens: list[int] = []
        self.sent = 0
        self.prompt_seen = False
        self.ended = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            if self.ended or token in self.end_ids:
                self.ended = True
                return
            self.tokens.append(int(token))
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        ready = len(text.rstrip("\ufffd"))
        if ready > self.sent:
            self.events.put(("text", text[self.sent : ready]))
            self.sent = ready

    def end(self) -> None:
        pass
