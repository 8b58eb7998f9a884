"""The default verifiers v1 harness of ``vf-eval searchgym``: a tool-calling chat loop.

Why: verifiers runs every rollout through a *harness*, a program that talks to the model and
calls the task's tools. Its default is ``bash`` (a coding agent: wrong for a search task) and
its plain chat loop, ``null``, is prepared with ``uv`` from PyPI inside the runtime, which fails
on machines without network. A taskset module that exports a ``Harness`` subclass makes it the
default (``verifiers.v1.utils.loaders.default_harness_id``), so searchgym exports this one: the
``null`` harness's own chat program (verifiers' ``CHAT_PROGRAM_SOURCE``: MCP tools, the OpenAI
client), run with the current interpreter when the runtime is a local subprocess and that
interpreter has the program's dependencies; anywhere else it is exactly the ``null`` harness.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
from pathlib import PurePosixPath
from typing import Any

from verifiers.v1.harnesses.null.harness import NullHarness, NullHarnessConfig
from verifiers.v1.harnesses.utils.launch import CHAT_PROGRAM_SOURCE
from verifiers.v1.runtimes.subprocess import SubprocessRuntime

logger = logging.getLogger(__name__)

__all__ = ["SearchGymHarness", "SearchGymHarnessConfig"]

# The chat program's PEP 723 dependencies (openai, mcp, httpx, httpx2, tenacity, certifi).
_PROGRAM_MODULES = ("openai", "mcp", "httpx", "httpx2", "tenacity", "certifi")


class SearchGymHarnessConfig(NullHarnessConfig):
    """No knobs of its own: the null harness's (``--env.agent.harness.*``)."""


class SearchGymHarness(NullHarness):
    """verifiers' tool-calling chat loop, run without ``uv`` on a local subprocess runtime."""

    async def setup(self, runtime: Any) -> None:
        if isinstance(runtime, SubprocessRuntime) and _has_program_modules():
            await _register_local_program(runtime)
            return
        await super().setup(runtime)


def _has_program_modules() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in _PROGRAM_MODULES)


async def _register_local_program(runtime: SubprocessRuntime) -> None:
    """Write the chat program where ``prepare_uv_script`` looks and record this interpreter for it.

    ``prepare_uv_script`` skips ``uv`` for a script it already prepared (its per-path interpreter
    table, shared by the subprocess runtimes of a worker), so the harness's unchanged ``launch``
    then runs the program with ``sys.executable``.
    """
    data = CHAT_PROGRAM_SOURCE.encode()
    path = str(PurePosixPath(runtime.scripts_dir) / f"{hashlib.sha256(data).hexdigest()}.py")
    if path in runtime._uv_interpreters:  # noqa: SLF001 - see the docstring
        return
    await runtime.write(path, data)
    runtime._uv_interpreters[path] = sys.executable  # noqa: SLF001
    logger.info("verifiers chat program runs with %s (no uv environment needed)", sys.executable)
