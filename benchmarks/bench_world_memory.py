"""World memory benchmark: bytes per entity of a world on disk and in a process (issue 18 item 5).

For each size the script builds the world once (in a child process) and saves its column file,
then, in a fresh child each, measures with ``tracemalloc`` what a loaded world keeps alive:
as loaded from the column file (entities as arrays: :mod:`searchgym.world.entity_table`),
after its first graph look-ups (the edge-column look-ups of :mod:`searchgym.world.links`),
after a thousand entity look-ups, then with its edge list as tuples and with its networkx
graph (what a user who asks for them pays). The issue's target is <= 200 B per entity at 1M
entities in memory, for the world an env holds (loaded, with its look-ups); the column file's
size is the array layout's footprint.

    python benchmarks/bench_world_memory.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, record_body  # noqa: E402

TARGET_BYTES_PER_ENTITY = 200


def _build(size: int, seed: int, path: Path) -> dict:
    from searchgym.world import build_world
    from searchgym.world.storage import save_world_columns

    started = time.perf_counter()
    world = build_world("default", size, seed)
    built = time.perf_counter() - started
    save_world_columns(world, path)
    return {"entities": len(world.entities), "edges": len(world.edges), "build_s": built,
            "file_bytes": path.stat().st_size}


def _measure(path: Path) -> dict:
    """Traced bytes the loaded world keeps, at each stage (the schema is loaded beforehand)."""
    from searchgym.world import load_schema
    from searchgym.world.storage import load_world_columns

    schema = load_schema("default")
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    world = load_world_columns(schema, path)  # not timed: tracing slows every allocation
    loaded = tracemalloc.get_traced_memory()[0] - base
    ids = list(world.entities)[:: max(1, len(world) // 1000)][:1000]
    relations = [relation.name for relation in schema.relations]
    for entity_id in ids[:10]:
        for relation in relations:
            world.targets(entity_id, relation)
            world.sources(entity_id, relation)
    linked = tracemalloc.get_traced_memory()[0] - base
    for entity_id in ids:
        world.entity(entity_id)
    looked_up = tracemalloc.get_traced_memory()[0] - base
    world.edges  # noqa: B018 - makes and keeps the edge tuples
    with_edges = tracemalloc.get_traced_memory()[0] - base
    world.graph  # noqa: B018 - builds and keeps the networkx graph
    with_graph = tracemalloc.get_traced_memory()[0] - base
    return {"loaded": loaded, "linked": linked, "looked_up": looked_up, "edges": with_edges, "graph": with_graph}


def _child(args: list[str]) -> dict:
    command = [sys.executable, __file__, "--child", *args]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--no-record", action="store_true", help="print only; do not add a RESULTS.md section")
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        result = _build(int(rest[0]), int(rest[1]), Path(rest[2])) if kind == "build" else _measure(Path(rest[0]))
        print(json.dumps(result))
        return

    import os

    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sg-world-memory-") as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"world-{size}.columns"
            built = _child(["build", str(size), str(args.seed), str(path)])
            measured = _child(["measure", str(path)])
            stages = ("loaded", "linked", "looked_up", "edges", "graph")
            per = {key: measured[key] / built["entities"] for key in stages}
            file_per_entity = built["file_bytes"] / built["entities"]
            # The target is set at 1M; a fixed 1,000 made entities weigh 10x more per entity at 100k.
            met = "—" if built["entities"] < 1_000_000 else (
                "met" if per["looked_up"] <= TARGET_BYTES_PER_ENTITY else "not met")
            rows.append([f"{built['entities']:,}", f"{built['edges']:,}", f"{file_per_entity:.0f}",
                         *(f"{per[key]:.0f}" for key in stages), met, f"{built['build_s']:.1f} s"])
    table = markdown_table(["entities", "edges", "column file B/entity", "loaded B/entity",
                            "+ graph look-ups", "+ 1,000 entities made", "+ edge tuples", "+ networkx",
                            f"<= {TARGET_BYTES_PER_ENTITY} B at 1M (loaded + look-ups + entities)", "world build"], rows)
    body = (f"Schema `default`, seed {args.seed}; in-process bytes are what `tracemalloc` traces as kept by the "
            f"loaded world (target <= {TARGET_BYTES_PER_ENTITY} B/entity at 1M).\n\n{table}\n\n"
            f"Load average (1 min): {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after.\n")
    print(body)
    if not args.no_record:
        record_body("World memory (bench_world_memory.py)", Path(__file__).name, argv, body)


if __name__ == "__main__":
    main()
