"""Canonical JSON and content digests: the one way searchgym names what an artifact came from.

Why a module of its own: worlds, corpora, task sets, engine indexes and cache entries are all
keyed by digests of their inputs, and "same inputs => same key" holds only if every caller
serialises and frames parts the same way. :func:`stable_json` is the canonical form (sorted
keys, no whitespace variance); :func:`content_hash_of` frames each part by its length, so a
stream of parts and the same parts joined give different digests only when they differ.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


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
