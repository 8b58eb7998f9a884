"""Shared helpers of the benchmark scripts: corpus sizes, machine description, result files.

Why a shared module: both scripts must build *the same* worlds (so the on-disk bundle and BM25
caches are reused between them) and must describe the machine the same way in RESULTS.md.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"


@dataclass(frozen=True)
class CorpusSize:
    """A named corpus size and the world that produces about that many passages.

    The default schema gives ~1.12 passages per entity (entity pages + 10% distractors), so a
    10k-entity world has ~11k passages and a 90k-entity world ~100k.
    """

    label: str
    world_size: int


SIZES: dict[str, CorpusSize] = {
    "2k": CorpusSize("2k", 1_800),  # small enough to encode densely on a loaded 2-core CPU
    "10k": CorpusSize("10k", 10_000),
    "100k": CorpusSize("100k", 90_000),
    "1m": CorpusSize("1m", 900_000),
}
TASKS_PER_TYPE = 50  # small task sets: enough distinct questions, fast to generate


def parse_sizes(text: str, *, allow_1m: bool) -> list[CorpusSize]:
    labels = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [label for label in labels if label not in SIZES]
    if unknown:
        raise SystemExit(f"unknown size(s) {unknown}; valid: {sorted(SIZES)}")
    if "1m" in labels and not allow_1m:
        raise SystemExit("the 1M-passage corpus takes very long to build; pass --include-1m to run it")
    return [SIZES[label] for label in labels]


def env_overrides(size: CorpusSize) -> dict[str, Any]:
    """The SearchQA overrides of a corpus size (same in both scripts, so caches are shared)."""
    return {"world_size": size.world_size, "tasks_per_type": TASKS_PER_TYPE}


def load_bundle(size: CorpusSize):
    """The world bundle of ``size`` (built once, then loaded from the searchgym cache)."""
    from searchgym.bundle import build_bundle
    from searchgym.envs.config import EnvConfig

    config = EnvConfig(**env_overrides(size))
    return build_bundle(config.schema, config.world_size, config.world_seed,
                        config.corpus_options(), config.task_options(), show_progress=True)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in [0, 100]) — no interpolation, fine for latencies."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine_description() -> list[str]:
    """Markdown bullet lines describing this machine and the library versions."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    try:
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:  # pragma: no cover
        load = "unknown"
    return [
        f"- date: {_dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- CPU: {_cpu_model()}; {os.cpu_count()} logical cores ({usable} usable by this process); no GPU used",
        f"- RAM: {_ram_gib()}; load average when written (1/5/15 min): {load}",
        f"- OS: {platform.platform()}",
        f"- python {sys.version.split()[0]}, torch {_version('torch')}, gymnasium {_version('gymnasium')}, "
        f"bm25s {_version('bm25s')}, rank_bm25 {_version('rank-bm25')}, faiss {_version('faiss-cpu')}, "
        f"sentence-transformers {_version('sentence-transformers')}, numba {_version('numba')}, "
        f"tantivy {_version('tantivy')}, pyterrier-pisa {_version('pyterrier-pisa')}",
    ]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


SECTIONS_MARKER = "<!-- run sections: newest first; scripts insert theirs below this line -->"


def append_results(title: str, command: str, body: str, path: Path = RESULTS) -> None:
    """Add one run's section (machine, load, command, tables) to ``RESULTS.md``, newest first:
    it goes right below :data:`SECTIONS_MARKER`, under the hand-kept summary."""
    section = "\n".join([
        f"## {title}",
        "",
        *machine_description(),
        f"- command: `{command}`",
        "",
        body.rstrip(),
        "",
        "",
    ])
    text = path.read_text(encoding="utf-8") if path.exists() else f"# searchgym benchmark results\n\n{SECTIONS_MARKER}\n"
    if SECTIONS_MARKER not in text:
        text = text.rstrip() + f"\n\n{SECTIONS_MARKER}\n"
    head, tail = text.split(SECTIONS_MARKER, 1)
    path.write_text(f"{head}{SECTIONS_MARKER}\n\n{section}{tail.lstrip()}", encoding="utf-8")


def record_run(title: str, script: str, argv: Sequence[str] | None, headers: Sequence[str],
               rows: Sequence[Sequence[Any]], notes: Sequence[str], path: Path = RESULTS) -> None:
    """Add a run's table and notes to ``RESULTS.md`` under ``title``, with the exact command
    (``python benchmarks/<script> <argv>``) that reproduces it."""
    body = markdown_table(headers, rows) + "\n\n" + "\n".join(f"- {note}" for note in notes)
    record_body(title, script, argv, body, path)


def record_body(title: str, script: str, argv: Sequence[str] | None, body: str, path: Path = RESULTS) -> None:
    """Add a run's ready-made ``body`` to ``RESULTS.md`` under ``title``, with the exact command."""
    import shlex

    arguments = " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    append_results(title, f"python benchmarks/{script} {arguments}".strip(), body, path)


def fmt(value: float, digits: int = 1) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.{digits}f}"
