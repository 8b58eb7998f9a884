"""A world with its corpus and tasks, built once and cached on disk.

Envs, servers and exporters all start from a :class:`WorldBundle`. Building one for a large
world takes a while, so it is cached under the searchgym cache dir keyed by a hash of everything
it derives from (schema and wording text, size, seed, corpus and task options, format
versions); a second process, a vector env's workers or a restarted training job load it in a
fraction of the time. Within one process, bundles are also memoised so that N envs share one copy.

Every build is linted (:mod:`searchgym.world.lint`, :mod:`searchgym.corpus.lint`): a world that
breaks its schema, or a passage stating something the world does not back, fails the build.

Splits are worlds. The train split of ``world_seed = s`` is the world of seed ``s``; validation
and test are worlds of seeds derived from ``s`` in a range no train seed uses (``2**31`` and
up), each with its own corpus, index and tasks, so a policy trained on train cannot have read
a single test fact (:func:`split_world_seed`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from searchgym.cache import ArtifactCache, atomic_write_bytes, content_hash
from searchgym.columns import ColumnFileError
from searchgym.corpus import Corpus, CorpusOptions, write_corpus
from searchgym.corpus.lint import lint_corpus
from searchgym.corpus.writer import CORPUS_FORMAT_VERSION
from searchgym.tasks import TaskOptions, TaskSet, generate_tasks
from searchgym.tasks.generate import TASK_FORMAT_VERSION
from searchgym.world import Schema, World, build_world, load_schema
from searchgym.world.generate import WORLD_FORMAT_VERSION
from searchgym.world.lint import lint_world
from searchgym.world.storage import load_world_columns, save_world_columns

logger = logging.getLogger(__name__)

WORLD_FILE = "world.columns"
PASSAGES_FILE = "passages.columns"
BUNDLE_LAYOUT_VERSION = 3
"""Bumped when the files of a bundle entry change (2: column files replace ``world.json``;
3: texts and fact ids are indexed columns read on demand, and the manifest records the corpus's
one content hash; generation is unchanged, so world, corpus and task bytes are too): it keys
the bundle cache, so an entry of an old layout is never opened by this code."""

EVAL_SEED_BASE = 2**31
"""Validation and test worlds use seeds from here up: no train world (a user seed) is one of them."""

_MEMO: dict[str, WorldBundle] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class WorldBundle:
    world: World
    corpus: Corpus
    tasks: TaskSet
    key: str

    @property
    def world_id(self) -> str:
        return self.world.world_id


def split_world_seed(world_seed: int, split: str) -> int:
    """The seed of ``split``'s world: ``world_seed`` itself for train, a derived seed in
    ``[2**31, 2**32)`` for validation and test (distinct per split and per ``world_seed``)."""
    if split == "train":
        return int(world_seed)
    if split not in ("validation", "test"):
        raise ValueError(f"split must be train, validation or test, got {split!r}")
    return EVAL_SEED_BASE + int(content_hash("split-world", str(world_seed), split, length=8), 16) % EVAL_SEED_BASE


def bundle_for_config(config: Any, *, show_progress: bool = False) -> WorldBundle:
    """The bundle of an env config's split: its world, corpus and tasks (see the module docstring)."""
    return build_bundle(
        config.schema,
        config.world_size,
        split_world_seed(config.world_seed, config.split),
        config.corpus_options(),
        config.task_options(),
        show_progress=show_progress,
    )


def bundle_key(schema: Schema, size: int, seed: int, corpus_options: CorpusOptions, task_options: TaskOptions) -> str:
    parts = [
        schema.source_text,
        str(size),
        str(seed),
        repr(corpus_options),
        task_options.key(),
        f"world-v{WORLD_FORMAT_VERSION}",
        f"corpus-v{CORPUS_FORMAT_VERSION}",
        f"tasks-v{TASK_FORMAT_VERSION}",
        f"bundle-layout-v{BUNDLE_LAYOUT_VERSION}",
    ]
    deep = getattr(schema.wording, "deep", None)
    if task_options.deep and deep is not None:  # deep questions read the deep wording (outside the world id)
        parts.append(deep.source_text)
    return content_hash(*parts)


def build_bundle(
    schema: Schema | str = "default",
    size: int = 1000,
    seed: int = 0,
    corpus_options: CorpusOptions | None = None,
    task_options: TaskOptions | None = None,
    *,
    cache: ArtifactCache | None | bool = None,
    show_progress: bool = False,
) -> WorldBundle:
    """Build (or load from cache) the world, corpus and tasks for these settings.

    ``cache=False`` disables the disk cache (tests of determinism use that); ``None`` uses the
    default cache directory.
    """
    schema = load_schema(schema) if isinstance(schema, (str, Path)) else schema
    corpus_options = corpus_options or CorpusOptions()
    task_options = task_options or TaskOptions()
    key = bundle_key(schema, size, seed, corpus_options, task_options)
    with _LOCK:
        if key in _MEMO and cache is not False:
            return _MEMO[key]

    def build_all() -> tuple[World, Corpus, TaskSet]:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not show_progress,
            transient=True,
        ) as progress:
            step = progress.add_task(f"building world {schema.name} n={size} seed={seed}", total=3)
            world = build_world(schema, size, seed)
            lint_world(world)
            progress.update(step, advance=1, description="writing and linting the corpus")
            corpus = write_corpus(world, corpus_options)
            lint_corpus(world, corpus)
            progress.update(step, advance=1, description="generating tasks and measuring their depth")
            tasks = generate_tasks(world, corpus, task_options, cache=store)
            progress.update(step, advance=1)
        return world, corpus, tasks

    store = None if cache is False else cache if isinstance(cache, ArtifactCache) else ArtifactCache()
    if store is None:
        world, corpus, tasks = build_all()
        return WorldBundle(world, corpus, tasks, key)

    built: list[tuple[World, Corpus, TaskSet]] = []

    def build_into(directory: Path) -> dict:
        world, corpus, tasks = build_all()
        save_world_columns(world, directory / WORLD_FILE)
        corpus.save(directory / "passages.jsonl")  # the exchange format; also computes the hash
        corpus.save_columns(directory / PASSAGES_FILE)
        tasks.save(directory / "tasks.jsonl")
        if corpus.writer_report is not None:  # the LLM writer's acceptance rate, kept with the corpus
            atomic_write_bytes(directory / "writer-report.json", json.dumps(corpus.writer_report, indent=1).encode())
        # The generator's world (Python objects and dict look-ups, ~1.4 KB per entity) is
        # swapped for the compact one its column file gives (~0.2 KB; a lazy read, no parse:
        # 5 ms at 10k entities), so a process that built the bundle holds what a cache hit does.
        built.append((load_world_columns(schema, directory / WORLD_FILE), corpus, tasks))
        # The hash is computed once, here; a cache hit reads it from the (verified) manifest.
        return {
            "world_id": world.world_id,
            "passages": len(corpus),
            "tasks": len(tasks),
            "content_hash": corpus.content_hash,
        }

    for attempt in range(2):
        directory = store.get_or_build("bundles", key, build_into)
        if built:  # built now: use the corpus and tasks made, never parse back what was just written
            world, corpus, tasks = built[0]
            break
        try:
            world, corpus, tasks = _load_entry(store, directory, schema)
            break
        except (ColumnFileError, OSError, ValueError, KeyError) as error:
            if attempt:
                raise
            # The manifest verified, yet the files do not read (a corruption that kept size
            # and mtime, or files from an incompatible version): rebuild rather than crash.
            logger.warning("bundle cache entry %s is unreadable (%s); rebuilding it", directory, error)
            shutil.rmtree(directory, ignore_errors=True)
    bundle = WorldBundle(world, corpus, tasks, key)
    with _LOCK:
        _MEMO[key] = bundle
    return bundle


def _load_entry(store: ArtifactCache, directory: Path, schema: Schema) -> tuple[World, Corpus, TaskSet]:
    """Read a verified bundle entry: two column files and the tasks, no JSON per passage.

    The cyclic garbage collector is paused meanwhile: the load makes millions of tuples,
    lists and strings, none of them garbage, and the collector's repeated passes over them were
    40% of the load (a 100k-entity bundle: 3.5 s of 6 s). After a load, what it made is frozen
    (``gc.freeze``) before collection resumes: the bundle is memoised for the life of the
    process, so the full collection that re-enabling triggered (1.2 s at 100k entities), and
    every later one (a server's 0.5 s pauses), would only re-scan objects that never die.
    """
    meta = store.manifest(directory).get("meta", {})
    with _collector_paused():
        world = load_world_columns(schema, directory / WORLD_FILE)
        corpus = Corpus.load_columns(directory / PASSAGES_FILE, world.world_id, content_hash=meta.get("content_hash"))
        tasks = TaskSet.load(directory / "tasks.jsonl", world.world_id)
    if (directory / "writer-report.json").exists():
        corpus.writer_report = json.loads((directory / "writer-report.json").read_text())
    return world, corpus, tasks


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()  # see _load_entry: the loaded objects live as long as the process
    finally:
        if enabled:
            gc.enable()
