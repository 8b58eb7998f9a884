"""Shared fixtures: every test run uses its own cache directory, never the user's."""

from __future__ import annotations

import os
import tempfile

import pytest

# Set before searchgym builds anything, so even import-time work caches into a temp dir.
os.environ.setdefault("SEARCHGYM_CACHE_DIR", tempfile.mkdtemp(prefix="searchgym-test-cache-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def small_bundle():
    from searchgym.bundle import build_bundle
    from searchgym.tasks import TaskOptions

    return build_bundle("default", 400, 3, task_options=TaskOptions(per_type=40))
