"""Import the unchanged upstream client files of ``tests/interop/upstream`` (see its README).

Each project's directory goes on ``sys.path`` as its repository root would, so their relative
and absolute imports resolve as upstream. ZeroSearch's ``llm_agent`` and Search-R1's
``search_r1.llm_agent`` are different packages, so both can load in one process.
"""

from __future__ import annotations

import importlib
import importlib.util
import socket
import sys
from pathlib import Path
from types import ModuleType

UPSTREAM = Path(__file__).parent / "upstream"


def upstream_module(project: str, module: str) -> ModuleType:
    """``module`` imported with ``upstream/<project>`` as the repository root."""
    root = str(UPSTREAM / project)
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(module)


def upstream_file(project: str, path: str, name: str) -> ModuleType:
    """A single upstream file loaded under a unique module name (files without a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, UPSTREAM / project / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def free_loopback_address(port: int, seed: int) -> str:
    """A 127.x.y.z address on which ``port`` is free (clients with hard-coded ports, ZeroSearch)."""
    for attempt in range(64):
        value = (seed * 7919 + attempt * 104729) % (254 * 254)
        host = f"127.{1 + value // 254 % 254}.{1 + value % 254}.{2 + attempt % 250}"
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        return host
    raise RuntimeError(f"no free loopback address for port {port}")
