"""numba's disk cache for kernels that call kernels in other files: keyed on those files too.

Why: numba keys a cached function on its own file (its stamp and bytecode) only, yet compiles
the functions it calls into its machine code. An edit to a callee's file alone (a ``git pull``
rewrites only the files a commit touches) would leave the caller loading machine code built
from the old callee: wrong rankings or a crash (met while writing the sampled WAND kernel: an
out-of-bounds read). :func:`key_on_callees` adds a digest of the callees' sources to the
caller's cache key, so machine code built against other sources is never loaded, whichever
process saved it and whenever (a process started before the edit saves under the old digest).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any


def key_on_callees(dispatcher: Any, *callee_modules: ModuleType) -> None:
    """Make ``dispatcher``'s cached machine code (``numba.njit(cache=True)``) depend on the
    source of ``callee_modules`` as well as its own. Without caching (``NUMBA_DISABLE_JIT``,
    ``cache=False``) nothing changes; when a source cannot be read (no ``.py`` files), caching
    is turned off for the dispatcher rather than trusted."""
    cache = getattr(dispatcher, "_cache", None)
    index_key: Callable[..., Any] | None = getattr(cache, "_index_key", None)
    if cache is None or index_key is None:
        return
    try:
        sources = b"".join(Path(str(module.__file__)).read_bytes() for module in callee_modules)
    except (OSError, TypeError):
        cache.disable()
        return
    digest = hashlib.sha256(sources).hexdigest()

    def keyed(signature: Any, codegen: Any) -> Any:
        return (index_key(signature, codegen), digest)

    cache._index_key = keyed
