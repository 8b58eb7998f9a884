"""Fixtures of the interop suite: a real world, its engine, and our servers on loopback."""

from __future__ import annotations

import pytest
from episodes import SMALL

from searchgym.integrations.tool_session import make_env
from searchgym.serve import BackgroundServer


@pytest.fixture(scope="session")
def small_env():
    """A small SearchQA-v0 world (BM25 engine) shared by the suite."""
    return make_env("SearchQA-v0", **SMALL)


@pytest.fixture(scope="session")
def engine(small_env):
    return small_env.engine


@pytest.fixture(scope="session")
def questions(small_env) -> list[str]:
    """Real task questions of the world (texts are never asserted on)."""
    return [task.question for task in small_env.bundle.tasks]


@pytest.fixture(scope="session")
def retrieval_server(engine):
    with BackgroundServer(engine) as server:
        yield server
