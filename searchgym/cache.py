"""On-disk cache for built artifacts (worlds, corpora, indexes, embeddings).

Why this exists: building a 100k-passage index or encoding it with a transformer takes minutes,
and RL jobs restart often. Every artifact is a directory keyed by a content hash of *what it was
built from*, written to a temporary sibling and renamed into place (atomic on POSIX), and carries
a ``manifest.json`` with the sha256 of each file. A corrupted or half-written entry fails
verification and is rebuilt, never silently used.

Loading checks every file's size, and re-hashes a file only when its modification time is not
the one recorded at build time (so a rewritten or replaced file is always caught, while loading
a 500 MB model or index does not re-read it); ``SEARCHGYM_CACHE_VERIFY=full`` re-hashes
everything on every load, to catch silent disk corruption too. A manifest that lists no files,
or files in the wrong form, is corrupted.

Concurrency: one build per entry. A builder holds an exclusive lock (``flock``) on the entry's
lock file (``<root>/.locks/<namespace>/<key>.lock``, outside the namespace directories, which
hold only entries); other processes (a trainer starting 8 workers) wait on it and then load
what it built, instead of building the same artifact 8 times. The kernel releases the lock when
its holder dies, so a killed build never blocks anyone, and its temporary directory is known to
be dead (its lock is free) and removed by the next build in that namespace at once. Where file
locks are not available, temporary directories older than :data:`STALE_BUILD_SECONDS` are.

The pieces live in modules of their own, re-exported here: canonical JSON and digests
(:mod:`searchgym.hashing`), atomic writes (:mod:`searchgym.atomic_io`) and the build-lock
protocol (:mod:`searchgym.cache_locks`); this module is the entries and their manifests.

Read-only caches: loading a complete entry writes nothing, so a cache shipped read-only (a
shared, pre-built directory) keeps working; only building needs write access, and asking for it
in a read-only or misplaced cache directory gives a :class:`CacheError` that says what to set.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs

# Re-exported: callers import hashing, atomic writes and lock helpers from here.
from searchgym.atomic_io import atomic_write_bytes, atomic_write_lines, atomic_write_text, atomic_write_with
from searchgym.cache_locks import (
    LOCK_WAIT_LOG_SECONDS,
    STALE_BUILD_SECONDS,
    build_lock,
    lock_path,
    locks_available,
    remove_stale_builds,
)
from searchgym.hashing import PartsDigest, content_hash, content_hash_of, file_sha256, stable_json

__all__ = [
    "CACHE_FORMAT_VERSION",
    "FULL_VERIFY_ENV",
    "LOCK_WAIT_LOG_SECONDS",
    "MANIFEST_NAME",
    "STALE_BUILD_SECONDS",
    "ArtifactCache",
    "CacheError",
    "PartsDigest",
    "atomic_write_bytes",
    "atomic_write_lines",
    "atomic_write_text",
    "atomic_write_with",
    "cache_root",
    "content_hash",
    "content_hash_of",
    "ensure_directory",
    "file_sha256",
    "lock_path",
    "remove_stale_builds",
    "safe_name",
    "stable_json",
]

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
FULL_VERIFY_ENV = "SEARCHGYM_CACHE_VERIFY"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


class CacheError(RuntimeError):
    """A cache entry is missing, corrupted, or a name would escape the cache directory."""


def cache_root() -> Path:
    """The cache directory: ``$SEARCHGYM_CACHE_DIR`` if set, else the user cache dir.

    Created when missing; an existing read-only directory is fine (entries load without
    writing). A path that is a file, or that cannot be created, is a :class:`CacheError`.
    """
    configured = os.environ.get("SEARCHGYM_CACHE_DIR")
    root = Path(configured) if configured else Path(platformdirs.user_cache_dir("searchgym"))
    ensure_directory(root, "the searchgym cache directory")
    return root


def ensure_directory(path: Path, what: str) -> None:
    """``mkdir -p path``, with a :class:`CacheError` naming the fix instead of a bare OSError."""
    if path.is_dir():
        return
    hint = "set SEARCHGYM_CACHE_DIR to a writable directory"
    if path.exists() or path.is_symlink():
        raise CacheError(f"{what} {path} exists but is not a directory; {hint}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a parent is a file
        raise CacheError(f"cannot create {what} {path}: a parent path is a file; {hint}") from None
    except OSError as error:
        raise CacheError(f"cannot create {what} {path} ({error.strerror or error}); {hint}") from None


def safe_name(name: str) -> str:
    """Reject names that could escape the cache dir (``..``, slashes, absolute paths)."""
    if not _SAFE_NAME.match(name) or ".." in name:
        raise CacheError(f"unsafe cache entry name {name!r}: use letters, digits, '_', '-', '.'")
    return name


class ArtifactCache:
    """Directory artifacts under ``root/namespace/key`` with verified manifests."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_root()

    def entry_dir(self, namespace: str, key: str) -> Path:
        path = (self.root / safe_name(namespace) / safe_name(key)).resolve()
        if self.root.resolve() not in path.parents:
            raise CacheError(f"cache entry {namespace}/{key} escapes {self.root}")
        return path

    def load(self, namespace: str, key: str) -> Path | None:
        """The verified entry directory, or None when absent; a corrupted entry is removed."""
        directory = self.entry_dir(namespace, key)
        if not directory.exists():
            return None
        problem = self._verify(directory, key)
        if problem is None:
            return directory
        logger.warning("cache entry %s is corrupted (%s); rebuilding it", directory, problem)
        shutil.rmtree(directory, ignore_errors=True)
        return None

    def get_or_build(
        self,
        namespace: str,
        key: str,
        build: Callable[[Path], dict[str, Any] | None],
    ) -> Path:
        """Return the entry directory, building it with ``build(tmp_dir)`` when needed.

        ``build`` writes its files into the temporary directory it is given and may return
        extra metadata for the manifest. The directory is renamed into place only when the
        build succeeded, so a crash leaves no entry behind. While one process builds an entry,
        others asking for it wait for that build and load its result (see the module doc).
        """
        existing = self.load(namespace, key)
        if existing is not None:
            return existing
        directory = self.entry_dir(namespace, key)
        ensure_directory(directory.parent, f"cache namespace {namespace!r} at")
        with build_lock(directory.parent, key, _unwritable):
            existing = self.load(namespace, key)  # built by the process we waited for
            if existing is not None:
                return existing
            remove_stale_builds(directory.parent, held_key=key if locks_available() else None)
            try:
                tmp_dir = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{key}.", suffix=".tmp"))
            except OSError as error:
                raise _unwritable(directory.parent, error) from None
            try:
                extra = build(tmp_dir) or {}
                built = [path for path in sorted(tmp_dir.rglob("*")) if path.is_file()]
                if not built:
                    raise CacheError(f"the build of cache entry {namespace}/{key} wrote no files")
                files = {str(path.relative_to(tmp_dir)): file_sha256(path) for path in built}
                stats = {str(path.relative_to(tmp_dir)): _size_and_mtime(path) for path in built}
                manifest = {
                    "format_version": CACHE_FORMAT_VERSION,
                    "key": key,
                    "files": files,
                    "stat": stats,
                    "meta": extra,
                }
                atomic_write_text(tmp_dir / MANIFEST_NAME, stable_json(manifest))
                try:
                    os.replace(tmp_dir, directory)
                except OSError:
                    # An entry is in place (a builder without our lock, or a corrupted leftover).
                    shutil.rmtree(tmp_dir, ignore_errors=True)
                    if self.load(namespace, key) is None:
                        raise
            except BaseException:
                shutil.rmtree(tmp_dir, ignore_errors=True)
                raise
        return directory

    def manifest(self, directory: Path) -> dict[str, Any]:
        return json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))

    def _verify(self, directory: Path, key: str) -> str | None:
        manifest_path = directory / MANIFEST_NAME
        if not manifest_path.is_file():
            return "no manifest"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as error:
            return f"unreadable manifest: {error}"
        if not isinstance(manifest, dict):
            return "manifest is not a JSON object"
        if manifest.get("format_version") != CACHE_FORMAT_VERSION:
            return "old cache format"
        if manifest.get("key") != key:
            return "manifest key mismatch"
        files = manifest.get("files")
        if not isinstance(files, dict) or not files:
            return "manifest lists no files"
        if not all(
            isinstance(name, str) and isinstance(digest, str) and _SHA256.match(digest)
            for name, digest in files.items()
        ):
            return "manifest lists files in the wrong form"
        stats = manifest.get("stat")
        stats = stats if isinstance(stats, dict) else {}
        full = os.environ.get(FULL_VERIFY_ENV, "").strip().lower() == "full"
        for relative, expected in files.items():
            path = (directory / relative).resolve()
            if directory.resolve() not in path.parents:
                return f"manifest path {relative!r} escapes the entry"
            if not path.is_file():
                return f"missing file {relative}"
            recorded = stats.get(relative)
            current = _size_and_mtime(path)
            if isinstance(recorded, list) and len(recorded) == 2 and recorded[0] != current[0]:
                return f"size mismatch in {relative}"
            if full or recorded != current:
                if file_sha256(path) != expected:
                    return f"checksum mismatch in {relative}"
        return None


def _size_and_mtime(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _unwritable(parent: Path, error: OSError) -> CacheError:
    return CacheError(
        f"cannot build in the cache directory {parent} ({error.strerror or error}): it is read-only or "
        "not a directory. Entries already built there still load; to build new ones set "
        "SEARCHGYM_CACHE_DIR to a writable directory"
    )
