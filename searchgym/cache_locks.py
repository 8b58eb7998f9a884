"""Build locks and the clean-up of dead builds, for :class:`searchgym.cache.ArtifactCache`.

Why a module of its own: one build per entry across processes is a protocol of its own (an
exclusive ``flock`` per entry, held for the whole build and released by the kernel when its
holder dies; temporary directories of dead builds removed under that lock, or by age where file
locks do not exist), and it is what the race tests attack; the cache's entry and manifest logic
only calls :func:`build_lock` and :func:`remove_stale_builds`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

try:  # POSIX advisory locks; without them the cache still works, one build per process
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("searchgym.cache")

STALE_BUILD_SECONDS = 6 * 3600
"""Without file locks: a temporary build directory untouched this long belongs to a dead build
(the largest builds, 1M-entity worlds, take minutes) and is deleted. With file locks (POSIX), a
temporary directory whose build lock is free is deleted at once, whatever its age."""
LOCK_WAIT_LOG_SECONDS = 5.0


@contextlib.contextmanager
def build_lock(parent: Path, key: str, unwritable: Callable[[Path, OSError], Exception]) -> Iterator[None]:
    """Hold the exclusive build lock of ``key`` in namespace directory ``parent`` (blocking
    while another process builds it); ``unwritable`` makes the error for a lock file that
    cannot be created."""
    if fcntl is None:
        yield
        return
    path = lock_path(parent, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+b")  # noqa: SIM115 - held for the whole build
    except OSError as error:
        raise unwritable(parent, error) from None
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


def locks_available() -> bool:
    """Whether this platform has the file locks that tell a live build from a dead one."""
    return fcntl is not None


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


def remove_stale_builds(
    parent: Path, max_age_s: float = STALE_BUILD_SECONDS, held_key: str | None = None
) -> list[Path]:
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
