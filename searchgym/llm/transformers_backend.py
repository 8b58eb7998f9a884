"""Local text generation with a Hugging Face causal LM (default: bundled SmolLM2-135M-Instruct).

Design notes (why, not what):

* Prompts are left-padded with an attention mask so a batch decodes like each prompt alone.
  Prompts are sorted by length before batching to waste less compute on padding.
* Sampling draws from one ``torch.Generator`` per prompt, seeded from the prompt's own seed
  (``config.seeds``) or else from ``config.seed`` and the prompt's position in the call.
  ``transformers.generate`` has no generator argument and would use the global RNG (not
  reproducible under threads, and it perturbs other code), so the sampler is a logits processor
  that picks the token itself and leaves a one-hot score for greedy search.
* Stop strings end generation early through a ``StoppingCriteria`` that decodes only the tail of
  each row, then the text is cut at the first stop string (kept by default, see
  :class:`~searchgym.llm.base.GenerationConfig`).
* Nothing is ever downloaded: a model is the bundled SmolLM2, a local HF folder, or a local
  ``.gguf`` file (converted once into the searchgym cache).
* One lock serializes calls: servers call ``generate`` from worker threads, and neither the model
  nor a fast tokenizer may be used concurrently.
* :meth:`TransformersGenerator.generate_detailed` also reports why each row ended (``"length"``
  when the token budget ran out) and its token counts, and :meth:`~TransformersGenerator.stream`
  yields one prompt's text as it is decoded: what an OpenAI-compatible server needs for
  ``finish_reason``, ``usage`` and SSE. Chat prompts may carry OpenAI ``tools`` and tool calls;
  a ChatML template that drops them is swapped for :data:`~searchgym.llm.chat_template.TOOL_CHAT_TEMPLATE`.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from transformers.generation.streamers import BaseStreamer

from searchgym.llm.base import (
    Generation,
    GenerationConfig,
    LLMError,
    LLMRequestError,
    Prompt,
    apply_stop,
    matched_stop,
    validate_prompts,
)
from searchgym.llm.chat_template import ensure_tool_template, normalize_messages
from searchgym.llm.decoding import QueueStreamer, SeededSampler, StopOnStrings, row_seed

logger = logging.getLogger(__name__)

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def resolve_model_dir(model: str | Path | None) -> tuple[Path, str]:
    """Map a model argument to a local HF folder and a display name, never touching the hub."""
    from searchgym.llm import smollm2

    if model is None or (isinstance(model, str) and model.lower() in {"smollm2", "default"}):
        return smollm2.smollm2_model_dir(), smollm2.SMOLLM2_SLUG
    path = Path(model).expanduser()
    if not path.exists():
        raise LLMError(
            f"model path {str(model)!r} does not exist. searchgym never downloads models: pass a "
            "local Hugging Face folder (with config.json), a local .gguf file, None for the "
            "bundled SmolLM2, or use an OpenAI-compatible endpoint ('openai:URL#model')."
        )
    path = path.resolve()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise LLMError(f"model path {path} is a file but not a .gguf; pass the model folder")
        return smollm2.convert_gguf(path), path.stem
    if not (path / "config.json").is_file():
        raise LLMError(
            f"model folder {path} has no config.json; it must be a Hugging Face model folder "
            "as written by save_pretrained"
        )
    return path, path.name


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """float32 on CPU (fast and exact there); bfloat16 (or float16) on GPUs by default."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise LLMError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}") from None


def _dtype_kwarg(dtype: torch.dtype) -> dict[str, Any]:
    """transformers renamed ``torch_dtype`` to ``dtype`` in 4.56."""
    import transformers
    from packaging.version import Version

    name = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    return {name: dtype}


class TransformersGenerator:
    """Batched generation with a local causal LM; implements ``TextGenerator``.

    ``model``: None / ``"smollm2"`` for the bundled SmolLM2-135M-Instruct, a local HF folder, or a
    local ``.gguf`` file. ``device``: default cuda when available. ``dtype``: default float32 on
    CPU, bfloat16/float16 on GPU. ``batch_size``: prompts per forward batch. ``num_threads``:
    if set, torch's CPU thread count applied in the calling thread before each call (OpenMP
    settings are per thread, so servers calling from worker threads need it per call); on
    CPUs shared with other processes 1 thread can be several times faster than the default.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        batch_size: int = 8,
        num_threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_dir, self.model_name = resolve_model_dir(model)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.batch_size = batch_size
        self.num_threads = num_threads
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            # Any: transformers' annotations of the auto classes differ between releases (``to``
            # is typed as a decorator wrapper in some), and this code uses only stable members.
            self.model: Any = cast(
                Any,
                AutoModelForCausalLM.from_pretrained(self.model_dir, local_files_only=True, **_dtype_kwarg(self.dtype)),
            )
        except Exception as error:  # noqa: BLE001 - re-raised with context
            raise LLMError(f"could not load model from {self.model_dir}: {error}") from error
        self.model.to(self.device).eval()
        self.eos_token_ids = self._eos_ids()
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else (self.eos_token_ids or [0])[0]
        self.max_positions: int | None = getattr(self.model.config, "max_position_embeddings", None)
        self._lock = threading.Lock()
        self._tool_template_checked = False

    def __repr__(self) -> str:
        return f"TransformersGenerator({self.model_name!r}, device={str(self.device)!r})"

    def generate(self, prompts: Sequence[Prompt], config: GenerationConfig | None = None) -> list[str]:
        """Generate one continuation per prompt (new text only), in the prompts' order."""
        return [generation.text for generation in self.generate_detailed(prompts, config)]

    def generate_detailed(
        self,
        prompts: Sequence[Prompt],
        config: GenerationConfig | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> list[Generation]:
        """Like :meth:`generate`, with each row's finish reason and token counts.

        ``tools`` (OpenAI function schemas) are rendered into every chat prompt.
        """
        config = config if config is not None else GenerationConfig()
        prompts = validate_prompts(prompts)
        if not prompts:
            return []
        base_seed = config.seed if config.seed is not None else secrets.randbits(63)
        if config.seeds is not None:
            config.prompt_seed(0, len(prompts))  # checks there is one seed per prompt
        results: list[Generation | None] = [None] * len(prompts)
        with self._lock, torch.inference_mode():
            self._apply_threads()
            encoded = [self._encode(prompt, index, config, tools) for index, prompt in enumerate(prompts)]
            order = sorted(range(len(prompts)), key=lambda index: len(encoded[index]))
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                outputs = self._generate_batch([encoded[i] for i in rows], rows, config, base_seed)
                for index, output in zip(rows, outputs):
                    results[index] = output
        return [result for result in results if result is not None]

    def stream(
        self,
        prompt: Prompt,
        config: GenerationConfig | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Iterator[str | Generation]:
        """Yield the text of one prompt as it is decoded, then its :class:`Generation`.

        The deltas are raw decoded text (the caller holds back what a stop string may still
        claim); the final :class:`Generation` is exactly what :meth:`generate_detailed` returns
        for the same prompt and seed. Generation runs in a worker thread under the model lock.
        """
        config = config if config is not None else GenerationConfig()
        (prompt,) = validate_prompts([prompt])
        seed = config.seed if config.seed is not None else secrets.randbits(63)
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        streamer = QueueStreamer(self.tokenizer, events, set(self.eos_token_ids) | {self.pad_token_id})

        def work() -> None:
            try:
                with self._lock, torch.inference_mode():
                    self._apply_threads()
                    encoded = self._encode(prompt, 0, config, tools)
                    (output,) = self._generate_batch([encoded], [0], config, seed, streamer=streamer)
                events.put(("done", output))
            except BaseException as error:  # noqa: BLE001 - re-raised in the consumer
                events.put(("error", error))

        threading.Thread(target=work, name="searchgym-stream", daemon=True).start()
        while True:
            kind, value = events.get()
            if kind == "text":
                yield value
            elif kind == "done":
                yield value
                return
            else:
                raise value

    def _apply_threads(self) -> None:
        if self.num_threads is not None and torch.get_num_threads() != self.num_threads:
            torch.set_num_threads(self.num_threads)

    def render(self, prompt: Prompt, tools: Sequence[dict[str, Any]] | None = None) -> str:
        """The exact text fed to the model for ``prompt`` (chat template applied).

        Tool schemas and tool calls need a template that renders them: a ChatML template that
        drops them is replaced once by the tool-capable one (SmolLM2's case); any other that
        cannot is a request error rather than a prompt that silently loses the tools.
        """
        if isinstance(prompt, str):
            return prompt
        if not getattr(self.tokenizer, "chat_template", None):
            raise LLMRequestError(f"model {self.model_name} has no chat template; pass raw text prompts instead")
        messages = normalize_messages(prompt)
        if tools or any(m.get("tool_calls") or m["role"] == "tool" for m in messages):
            if not self._tool_template_checked:
                try:
                    if ensure_tool_template(self.tokenizer):
                        logger.info("%s: using searchgym's tool-capable ChatML template", self.model_name)
                except ValueError as error:
                    raise LLMRequestError(f"model {self.model_name}: {error}") from None
                self._tool_template_checked = True
        text = self.tokenizer.apply_chat_template(
            messages, tools=list(tools) if tools else None, add_generation_prompt=True, tokenize=False
        )
        return cast(str, text)  # tokenize=False: the rendered string

    def _encode(
        self,
        prompt: Prompt,
        index: int,
        config: GenerationConfig,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> list[int]:
        text = self.render(prompt, tools)
        # A chat template already contains any special tokens the model expects.
        ids = list(self.tokenizer(text, add_special_tokens=isinstance(prompt, str))["input_ids"])
        if not ids:
            bos = self.tokenizer.bos_token_id
            if bos is None:
                raise LLMRequestError(f"prompt {index} is empty and the model has no BOS token")
            ids = [bos]
        if self.max_positions and len(ids) + config.max_new_tokens > self.max_positions:
            raise LLMRequestError(
                f"prompt {index} has {len(ids)} tokens; with max_new_tokens="
                f"{config.max_new_tokens} that exceeds the model's context of "
                f"{self.max_positions} tokens"
            )
        return ids

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        for value in configured if isinstance(configured, (list, tuple)) else [configured]:
            if value is not None and value not in ids:
                ids.append(int(value))
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(int(self.tokenizer.eos_token_id))
        return ids

    def _generate_batch(
        self,
        encoded: list[list[int]],
        indices: list[int],
        config: GenerationConfig,
        base_seed: int,
        streamer: BaseStreamer | None = None,
    ) -> list[Generation]:
        from transformers import GenerationConfig as HFGenerationConfig
        from transformers import LogitsProcessorList, StoppingCriteriaList

        width = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(encoded), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, ids in enumerate(encoded):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids) :] = 1

        processors = LogitsProcessorList()
        if not config.greedy:
            # per-prompt seeds: a prompt with seed s samples like a one-prompt call with seed=s
            row_seeds = (
                [row_seed(config.seeds[index], 0) for index in indices]
                if config.seeds is not None
                else [row_seed(base_seed, index) for index in indices]
            )
            generators = [torch.Generator(device=self.device).manual_seed(seed) for seed in row_seeds]
            processors.append(SeededSampler(config.temperature, config.top_p, generators))
        criteria = StoppingCriteriaList()
        if config.stop:
            criteria.append(StopOnStrings(self.tokenizer, config.stop, width))
        hf_config = HFGenerationConfig(
            max_new_tokens=config.max_new_tokens,
            do_sample=False,
            num_beams=1,
            eos_token_id=self.eos_token_ids or None,
            pad_token_id=self.pad_token_id,
        )
        try:
            output = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention_mask.to(self.device),
                generation_config=hf_config,
                logits_processor=processors,
                stopping_criteria=criteria,
                streamer=streamer,
            )
        except Exception as error:  # noqa: BLE001 - re-raised with context
            raise LLMError(f"generation with {self.model_name} failed: {error}") from error

        generations = []
        eos = set(self.eos_token_ids)
        for ids, row in zip(encoded, output[:, width:].tolist()):
            # A finished row is padded with pad (often = EOS) tokens until the batch ends.
            end = next((i for i, token in enumerate(row) if token in eos or token == self.pad_token_id), None)
            text = cast(str, self.tokenizer.decode(row[: len(row) if end is None else end], skip_special_tokens=True))
            cut = apply_stop(text, config.stop, True)
            stopped = end is not None or (bool(config.stop) and matched_stop(cut, config.stop) is not None)
            used = len(row) if end is None else end + (1 if row[end] in eos else 0)
            generations.append(
                Generation(
                    text=cut if config.include_stop else apply_stop(text, config.stop, False),
                    finish_reason="stop" if stopped or used < config.max_new_tokens else "length",
                    prompt_tokens=len(ids),
                    completion_tokens=used,
                )
            )
        return generations
