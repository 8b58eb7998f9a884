"""Atomic file writes: readers see the old file or the new one, never half of one.

Why a module of its own: caches, reports, checkpoints and exports are all written by processes
that may be killed at any moment (OOM, a preempted trainer), and a half-written file that
*looks* complete is worse than none. Every write goes to a temporary sibling, is fsynced, and is
renamed into place; files get the process's umask permissions (results are meant to be shared).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO


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
