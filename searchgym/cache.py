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

Read-only caches: loading a complete entry writes nothing, so a cache shipped read-only (a
shared, pre-built directory) keeps working; only building needs write access, and asking for it
in a read-only or misplaced cache directory gives a :class:`CacheError` that says what to set.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import platformdirs

try:  # POSIX advisory locks; without them the cache still works, one build per process
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
STALE_BUILD_SECONDS = 6 * 3600
"""Without file locks: a temporary build directory untouched this long belongs to a dead build
(the largest builds, 1M-entity worlds, take minutes) and is deleted. With file locks (POSIX), a
temporary directory whose build lock is free is deleted at once, whatever its age."""
LOCK_WAIT_LOG_SECONDS = 5.0
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


def content_hash(*parts: bytes | str, length: int = 16) -> str:
    """A short, stable sha256 hex digest of the given parts (order matters)."""
    return content_hash_of(parts, length=length)


def content_hash_of(parts: Iterable[bytes | str], *, length: int = 16) -> str:
    """:func:`content_hash` of the parts an iterable yields, one part in memory at a time.

    Why: hashing a corpus of millions of passages must not hold all their JSON at once. Each
    part is framed by its length, so the same parts give the same digest either way.
    """
    digest = PartsDigest()
    for part in parts:
        digest.update(part)
    return digest.hexdigest(length)


class PartsDigest:
    """The running digest behind :func:`content_hash_of`, fed one part at a time: lets one pass
    over a corpus feed several digests (and a file) instead of serialising it once for each."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def update(self, part: bytes | str) -> None:
        data = part.encode("utf-8") if isinstance(part, str) else part
        self._digest.update(len(data).to_bytes(8, "little"))
        self._digest.update(data)

    def hexdigest(self, length: int = 16) -> str:
        return self._digest.hexdigest()[:length]


def stable_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace variance: the canonical form we hash."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_umask() -> int:
    """The process's umask (read by setting it, so it is set straight back; done once, at import,
    because the umask is process-wide and must not flicker while other threads create files)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_with(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Run ``write`` on a temporary sibling of ``path``, fsync it, then rename it into place,
    so readers see the old file or the new one, never half (a failed write leaves no trace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results are meant to be shared
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write_with`)."""
    def write(handle: BinaryIO) -> None:
        handle.write(data)

    atomic_write_with(path, write)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_lines(path: Path, lines: Iterable[str]) -> None:
    """Write the UTF-8 ``lines`` (each with its own newline) to ``path`` atomically, streaming.

    Why: a multi-million-passage JSONL file is gigabytes; it is written through a 1 MiB buffer
    instead of being joined into one string first.
    """

    def write(handle: BinaryIO) -> None:
        with open(handle.fileno(), "w", encoding="utf-8", buffering=1 << 20, closefd=False) as text:
            text.writelines(lines)

    atomic_write_with(path, write)


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
        with self._build_lock(directory.parent, key):
            existing = self.load(namespace, key)  # built by the process we waited for
            if existing is not None:
                return existing
            remove_stale_builds(directory.parent, held_key=key if fcntl is not None else None)
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

    @contextlib.contextmanager
    def _build_lock(self, parent: Path, key: str) -> Iterator[None]:
        """Hold the exclusive build lock of ``key`` (blocking while another process builds it)."""
        if fcntl is None:
            yield
            return
        path = lock_path(parent, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+b")  # noqa: SIM115 - held for the whole build
        except OSError as error:
            raise _unwritable(parent, error) from None
        with handle:
            if not _try_lock(handle):
                logger.info("waiting for another process to finish building %s", parent / key)
                started = time.monotonic()
                logged = False
                while not _try_lock(handle):
                    if not logged and time.monotonic() - started > LOCK_WAIT_LOG_SECONDS:
                        logger.warning("still waiting for another process to build %s", parent / key)
                        logged = True
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

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
        if not all(isinstance(name, str) and isinstance(digest, str) and _SHA256.match(digest)
                   for name, digest in files.items()):
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


def lock_path(parent: Path, key: str) -> Path:
    """The build lock file of entry ``key`` in namespace directory ``parent``."""
    return parent.parent / ".locks" / parent.name / f"{key}.lock"


def _try_lock(handle: Any) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def _unwritable(parent: Path, error: OSError) -> CacheError:
    return CacheError(
        f"cannot build in the cache directory {parent} ({error.strerror or error}): it is read-only or "
        "not a directory. Entries already built there still load; to build new ones set "
        "SEARCHGYM_CACHE_DIR to a writable directory"
    )


def _remove_if_dead(parent: Path, candidate: Path, held_key: str | None, max_age_s: float, now: float) -> bool:
    """Delete a temporary build directory whose builder is gone; True if it was deleted.

    Dead means: its key's lock is free (POSIX; checked and deleted under that lock, so no new
    build of the key can start meanwhile) or held by us (``held_key``: we are its only
    builder), or, where locks cannot tell, nothing in it changed for ``max_age_s``.
    """
    key = candidate.name[1:].rsplit(".", 2)[0]  # ".<key>.<random>.tmp"
    if key and key == held_key:
        shutil.rmtree(candidate, ignore_errors=True)
        return not candidate.exists()
    if fcntl is not None and key:
        try:
            path = lock_path(parent, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+b")  # noqa: SIM115
        except OSError:
            handle = None  # cannot test the lock (read-only dir): fall back to the age
        if handle is not None:
            with handle:
                if not _try_lock(handle):
                    return False  # its builder is alive and holds the lock
                try:
                    shutil.rmtree(candidate, ignore_errors=True)
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return not candidate.exists()
    try:
        newest = max([candidate.stat().st_mtime] + [p.stat().st_mtime for p in candidate.rglob("*")])
    except OSError:
        return False  # vanished while we looked: its build finished or cleaned up
    if now - newest <= max_age_s:
        return False
    shutil.rmtree(candidate, ignore_errors=True)
    return not candidate.exists()


def remove_stale_builds(parent: Path, max_age_s: float = STALE_BUILD_SECONDS,
                        held_key: str | None = None) -> list[Path]:
    """Delete the ``.*.tmp`` build directories under ``parent`` whose build is dead (see
    :func:`_remove_if_dead`; ``held_key``: the key whose build lock the caller holds): a build
    killed by OOM or SIGKILL never runs its cleanup, and each leftover can hold gigabytes (a
    half-written index)."""
    removed: list[Path] = []
    now = time.time()
    for candidate in parent.glob(".*.tmp"):
        if not candidate.is_dir() or candidate.is_symlink():
            continue
        if _remove_if_dead(parent, candidate, held_key, max_age_s, now):
            removed.append(candidate)
    return removed
