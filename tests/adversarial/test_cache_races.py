"""The artifact cache under real concurrent processes, kills and bad directories (issue 15, items
13-14): one build per entry however many processes ask, killed builds never block anyone and
leave nothing behind, corrupted manifests are rebuilt, and a read-only complete cache still
loads while building in one fails with a message that says what to do.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from searchgym.cache import MANIFEST_NAME, ArtifactCache, CacheError

REPO = Path(__file__).resolve().parents[2]


def python(code: str, cache_dir: Path, *, wrapper: list[str] | None = None, **env: str) -> subprocess.Popen:
    """A real Python process running ``code`` on the cache at ``cache_dir``."""
    env = {**os.environ, "SEARCHGYM_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(REPO),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **env}
    return subprocess.Popen([*(wrapper or []), sys.executable, "-c", textwrap.dedent(code)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_stuck_builder(cache_dir: Path) -> subprocess.Popen:
    """A process that takes the build lock of ns/shared-key and then never finishes."""
    holder = python(SLOW_BUILD, cache_dir, BUILD_SECONDS="600")
    deadline = time.monotonic() + 60
    while not (cache_dir / "builds.log").exists():
        assert time.monotonic() < deadline and holder.poll() is None, "the builder did not start"
        time.sleep(0.05)
    return holder


def finish(process: subprocess.Popen, timeout: float = 240) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-2000:]
    return out


SLOW_BUILD = """
    import os, time
    from pathlib import Path
    from searchgym.cache import ArtifactCache
    log = Path(os.environ["SEARCHGYM_CACHE_DIR"]) / "builds.log"
    def build(tmp):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\\n")
        (tmp / "data.bin").write_bytes(b"x" * 1000)
        time.sleep(float(os.environ.get("BUILD_SECONDS", "1.0")))
    directory = ArtifactCache().get_or_build("ns", "shared-key", build)
    print(directory, (directory / "data.bin").stat().st_size)
"""


@pytest.mark.slow
def test_concurrent_processes_build_an_entry_once(tmp_path):
    processes = [python(SLOW_BUILD, tmp_path) for _ in range(4)]
    outputs = {finish(process) for process in processes}
    assert len(outputs) == 1  # all four got the same entry
    assert len((tmp_path / "builds.log").read_text().split()) == 1
    assert not list((tmp_path / "ns").glob(".*.tmp"))


@pytest.mark.slow
def test_concurrent_processes_build_an_uncached_world_once(tmp_path):
    """A trainer starting 4 workers on an uncached world pays for one build, not four."""
    code = """
        import os
        from pathlib import Path
        import searchgym.bundle as bundle
        original = bundle.build_world
        def counted(*args, **kwargs):
            with open(Path(os.environ["SEARCHGYM_CACHE_DIR"]) / "worlds.log", "a") as handle:
                handle.write(f"{os.getpid()}\\n")
            return original(*args, **kwargs)
        bundle.build_world = counted
        from searchgym.tasks import TaskOptions
        built = bundle.build_bundle("default", 150, 77, task_options=TaskOptions(per_type=8))
        print(built.key, len(built.corpus), len(built.tasks))
    """
    processes = [python(code, tmp_path) for _ in range(4)]
    outputs = {finish(process) for process in processes}
    assert len(outputs) == 1
    assert len((tmp_path / "worlds.log").read_text().split()) == 1


def test_a_killed_builder_never_blocks_and_leaves_nothing(tmp_path):
    holder = start_stuck_builder(tmp_path)
    assert list((tmp_path / "ns").glob(".shared-key.*.tmp"))
    got: list[Path] = []
    waiter = threading.Thread(target=lambda: got.append(ArtifactCache(tmp_path).get_or_build(
        "ns", "shared-key", lambda d: (d / "data.bin").write_bytes(b"y"))))
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive() and not got  # waiting for the live builder, not building twice
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=30)
    waiter.join(30)
    assert got and (got[0] / "data.bin").read_bytes() == b"y"  # took over once the lock was free
    assert not list((tmp_path / "ns").glob(".*.tmp"))  # the dead build's directory is gone at once


def test_a_dead_build_dir_of_another_key_is_removed_at_once(tmp_path):
    holder = start_stuck_builder(tmp_path)
    cache = ArtifactCache(tmp_path)
    cache.get_or_build("ns", "other", lambda d: (d / "f").write_text("1"))
    assert list((tmp_path / "ns").glob(".shared-key.*.tmp"))  # alive: kept
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=30)
    cache.get_or_build("ns", "third", lambda d: (d / "f").write_text("1"))
    assert not list((tmp_path / "ns").glob(".*.tmp"))  # dead: removed, minutes not hours later


# --------------------------------------------------------------------------- bad manifests and directories


@pytest.mark.parametrize("files", [{}, [], None, {"data.txt": 3}, {"data.txt": "not-a-sha"}, "data.txt"])
def test_manifests_without_proper_files_are_corrupted(tmp_path, files):
    cache = ArtifactCache(tmp_path)
    directory = cache.get_or_build("ns", "k", lambda d: (d / "data.txt").write_text("payload"))
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    manifest["files"] = files
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert cache.load("ns", "k") is None
    rebuilt = cache.get_or_build("ns", "k", lambda d: (d / "data.txt").write_text("payload"))
    assert (rebuilt / "data.txt").read_text() == "payload"


@pytest.mark.parametrize("content", ["[]", "null", "7", "{", "\x00\x01"])
def test_unreadable_manifests_are_corrupted(tmp_path, content):
    cache = ArtifactCache(tmp_path)
    directory = cache.get_or_build("ns", "k", lambda d: (d / "data.txt").write_text("payload"))
    (directory / MANIFEST_NAME).write_text(content)
    assert cache.load("ns", "k") is None


def test_a_build_that_writes_nothing_is_refused(tmp_path):
    with pytest.raises(CacheError, match="wrote no files"):
        ArtifactCache(tmp_path).get_or_build("ns", "k", lambda d: None)
    assert not (tmp_path / "ns" / "k").exists()


def test_a_cache_dir_that_is_a_file_gives_a_clear_error(tmp_path, monkeypatch):
    from searchgym.cache import cache_root

    blocker = tmp_path / "cache-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SEARCHGYM_CACHE_DIR", str(blocker))
    with pytest.raises(CacheError, match="not a directory.*SEARCHGYM_CACHE_DIR"):
        cache_root()
    monkeypatch.setenv("SEARCHGYM_CACHE_DIR", str(blocker / "below"))
    with pytest.raises(CacheError, match="SEARCHGYM_CACHE_DIR"):
        cache_root()
    with pytest.raises(CacheError, match="SEARCHGYM_CACHE_DIR"):
        ArtifactCache(blocker).get_or_build("ns", "k", lambda d: (d / "f").write_text("x"))


def _without_write_access() -> list[str] | None:
    """A command prefix that runs a process unable to write read-only files (None: impossible here)."""
    if os.geteuid() != 0:
        return []  # file permissions apply to us already
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]


@pytest.mark.slow
def test_a_read_only_complete_cache_keeps_working(tmp_path):
    wrapper = _without_write_access()
    if wrapper is None:
        pytest.skip("running as root without setpriv: cannot make a directory read-only for ourselves")
    code = """
        import gymnasium as gym
        import searchgym
        env = gym.make("SearchQA-v0", world_size=150, tasks_per_type=8)
        env.reset(seed=0)
        print(env.step("<search>Hobraland</search>")[4]["num_searches"])
    """
    assert finish(python(code, tmp_path)).strip() == "1"  # builds world, corpus, tasks, BM25 index
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        assert finish(python(code, tmp_path, wrapper=wrapper)).strip() == "1"
        missing = python(code.replace("world_size=150", "world_size=160"), tmp_path, wrapper=wrapper)
        out, err = missing.communicate(timeout=240)
        assert missing.returncode != 0
        assert "CacheError" in err and "read-only" in err and "SEARCHGYM_CACHE_DIR" in err
        assert "Traceback" in err and "PermissionError: [Errno" not in err.splitlines()[-1]
    finally:
        for path in [tmp_path, *tmp_path.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
