"""What LLM-backed engines share in a process: one generator per spec and one result cache per
directory (an in-memory LRU plus JSON files on disk).

Why shared: a model is loaded once however many envs use it, and every rollout of a GRPO group
(and every later run) reads the same generated documents instead of generating them again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from searchgym.cache import atomic_write_text, stable_json

__all__ = ["ResultCache", "model_id", "shared_cache", "shared_generator"]

logger = logging.getLogger(__name__)
_LOCK = threading.Lock()


class ResultCache:
    """Generated texts by cache key: a shared in-memory LRU plus optional JSON files on disk."""

    def __init__(self, directory: Path | None, max_entries: int = 100_000) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self.memory: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            entry = self.memory.get(key)
            if entry is not None:
                self.memory.move_to_end(key)
                return entry
        if self.directory is None:
            return None
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            logger.warning("ignoring unreadable simulated-search cache file %s (%s)", path, error)
            return None
        if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("text"), str):
            return None
        self._remember(key, entry)
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        self._remember(key, entry)
        if self.directory is not None:
            try:
                atomic_write_text(self._path(key), stable_json(entry))
            except OSError as error:  # a read-only cache must not break search
                logger.warning("could not write simulated-search cache file (%s)", error)

    def _remember(self, key: str, entry: dict[str, Any]) -> None:
        with self.lock:
            self.memory[key] = entry
            self.memory.move_to_end(key)
            while len(self.memory) > self.max_entries:
                self.memory.popitem(last=False)


_CACHES: dict[str, ResultCache] = {}
_GENERATORS: dict[str, Any] = {}


def shared_cache(directory: Path | None) -> ResultCache:
    key = str(directory) if directory is not None else ":memory:"
    with _LOCK:
        if key not in _CACHES:
            _CACHES[key] = ResultCache(directory)
        return _CACHES[key]


def shared_generator(spec: str | None, options: Mapping[str, Any]) -> Any:
    from searchgym.llm import make_generator

    key = stable_json([spec, dict(options)])
    with _LOCK:
        generator = _GENERATORS.get(key)
    if generator is None:
        generator = make_generator(spec, **dict(options))
        with _LOCK:
            generator = _GENERATORS.setdefault(key, generator)
    return generator


def model_id(generator: Any, spec: str | None) -> str:
    for attribute in ("model_id", "model_name", "model"):
        value = getattr(generator, attribute, None)
        if isinstance(value, str) and value:
            return value
    return spec or type(generator).__name__
