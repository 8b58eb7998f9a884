"""Model-based answer scorers for :class:`~searchgym.wrappers.reward_process.InformationGainReward`.

:class:`TransformersAnswerScorer` computes, with a local causal LM, how likely the gold answer is
given the question and what the agent has retrieved: ``exp(mean log p(answer tokens | prompt))``
(the geometric-mean token probability, in [0, 1], comparable across answers of different
lengths), maximised over the gold aliases. IGPO uses the policy model's own probability of the
ground truth; here any local model works, SmolLM2-135M-Instruct by default (via
:class:`searchgym.llm.TransformersGenerator`, which never downloads anything).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["TransformersAnswerScorer"]

DEFAULT_TEMPLATE = "Context:\n{context}\n\nQuestion: {question}\nAnswer:"


class TransformersAnswerScorer:
    """``(question, retrieved_text, answers) -> float`` scorer backed by a local causal LM.

    Args:
        model: ``None`` / ``"smollm2"`` (bundled SmolLM2-135M-Instruct), a local model path,
            a :class:`~searchgym.llm.TransformersGenerator` (its ``.model``/``.tokenizer`` are
            reused), or any object with ``.model`` and ``.tokenizer`` attributes.
        device: torch device for a model this scorer loads itself.
        max_context_tokens: the context is cut from the *left* (oldest text dropped) to fit.
        reduction: ``"mean"`` (geometric-mean token probability) or ``"sum"`` (the full
            sequence probability, which favours short answers).
        template: prompt template with ``{context}`` and ``{question}``.

    The model loads lazily on the first call, so building the scorer (e.g. inside a wrapper
    recreated from ``env.spec``) is free.
    """

    def __init__(
        self,
        model: Any = None,
        *,
        device: str | None = None,
        max_context_tokens: int = 1024,
        reduction: str = "mean",
        template: str = DEFAULT_TEMPLATE,
    ) -> None:
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.model_spec = model
        self.device = device
        self.max_context_tokens = int(max_context_tokens)
        self.reduction = reduction
        self.template = template
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
        if model is not None and hasattr(model, "model") and hasattr(model, "tokenizer"):
            self._model, self._tokenizer = model.model, model.tokenizer

    def __repr__(self) -> str:
        spec = self.model_spec if isinstance(self.model_spec, (str, type(None))) else type(self.model_spec).__name__
        return f"TransformersAnswerScorer({spec!r}, reduction={self.reduction!r})"

    def __deepcopy__(self, memo: dict[int, Any]) -> TransformersAnswerScorer:
        return self  # stateless apart from the (read-only) model: share it

    def __getstate__(self) -> dict[str, Any]:
        # The model reloads lazily on the other side (from its spec); a lock does not pickle.
        state = dict(self.__dict__)
        state["_lock"] = None
        if isinstance(self.model_spec, (str, type(None))):
            state["_model"] = state["_tokenizer"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        """The model and its tokenizer, loaded on first use."""
        if self._model is None:
            from searchgym.llm.transformers_backend import TransformersGenerator

            generator = TransformersGenerator(self.model_spec, device=self.device)
            self._model, self._tokenizer = generator.model, generator.tokenizer
        return self._model, self._tokenizer

    def log_prob(self, prompt: str, answer: str) -> float:
        """``log p(answer | prompt)`` reduced per :attr:`reduction`."""
        import torch

        model, tokenizer = self._load()
        prompt_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        answer_ids = list(tokenizer(" " + answer.strip(), add_special_tokens=False)["input_ids"])
        if not answer_ids:
            return float("-inf")
        budget = max(1, self.max_context_tokens - len(answer_ids))
        prompt_ids = prompt_ids[-budget:]
        if not prompt_ids:
            bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
            prompt_ids = [bos if bos is not None else 0]
        ids = torch.tensor([prompt_ids + answer_ids], device=model.device)
        with torch.inference_mode():
            logits = model(ids).logits[0, len(prompt_ids) - 1 : -1].float()
        log_probs = torch.log_softmax(logits, dim=-1)
        target = torch.tensor(answer_ids, device=logits.device)
        token_lp = log_probs.gather(1, target[:, None]).squeeze(1)
        total = float(token_lp.sum())
        return total / len(answer_ids) if self.reduction == "mean" else total

    def __call__(self, question: str, transcript_text: str, answers: Sequence[str]) -> float:
        prompt = self.template.format(
            context=transcript_text.strip() or "(nothing retrieved yet)", question=question.strip()
        )
        with self._lock:
            best = max((self.log_prob(prompt, answer) for answer in answers if answer.strip()), default=float("-inf"))
        return math.exp(best) if best > float("-inf") else 0.0
