"""Cost of checking a drawn name against the wording (``ReservedPhrases.holds``), per schema.

Every name a world draws is checked against its schema's wording, so that no invented name is an
English phrase the prose writes; a 1M-entity world checks over a million names. This times the
set lookup of :class:`searchgym.world.names.ReservedPhrases` against the whole-text scan it
replaced (the reference definition its test compares with), on the same keys, median of
``--rounds`` interleaved rounds, and appends the table to ``RESULTS.md``.

    python benchmarks/bench_reserved_phrases.py --keys 4000 --rounds 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_results, markdown_table, median  # noqa: E402


def _scan(reserved, key: str) -> bool:
    """The old definition: a whole-word search of the joined wording text."""
    if " " not in key:
        return key in reserved.words
    return f" {key} " in f" {reserved.text} "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schemas", default="default,science,sport")
    parser.add_argument("--keys", type=int, default=4000, help="multi-word names looked up per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from searchgym.world import load_schema
    from searchgym.world.generate import _reserved_phrases

    rows = []
    for name in args.schemas.split(","):
        reserved = _reserved_phrases(load_schema(name.strip()))
        keys = [f"vrost{i} kiaskim" if i % 2 else f"the house on zae{i} street" for i in range(args.keys)]
        timings: dict[str, list[float]] = {"set lookup": [], "text scan": []}
        for _ in range(args.rounds):
            for label, check in (("set lookup", reserved.holds), ("text scan", lambda k, r=reserved: _scan(r, k))):
                started = time.perf_counter()
                answers = [check(key) for key in keys]
                timings[label].append((time.perf_counter() - started) / len(keys))
            assert answers == [reserved.holds(key) for key in keys]
        lookup, scan = median(timings["set lookup"]), median(timings["text scan"])
        rows.append([name, f"{len(reserved.text):,}", f"{lookup * 1e6:.2f}", f"{scan * 1e6:.1f}",
                     f"{scan / lookup:,.0f}x", f"{lookup * 1e6:.1f} s", f"{scan * 1e6:.0f} s"])
    table = markdown_table(["schema", "wording text (chars)", "set lookup (us/name)", "text scan (us/name)",
                            "speed-up", "1M names, lookup", "1M names, scan"], rows)
    body = (f"{table}\n\n- {args.keys} multi-word keys per round, median of {args.rounds} interleaved rounds; "
            "both give the same answers (asserted).")
    print(body)
    if not args.no_write:
        append_results("Name checks against the wording (bench_reserved_phrases.py)",
                       "python benchmarks/bench_reserved_phrases.py " + " ".join(sys.argv[1:]), body)


if __name__ == "__main__":
    main()
