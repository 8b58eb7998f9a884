"""The LLM writer's acceptance rate: how many rewrites of a generator survive the fact verifier.

Rewrites the page passages of a small world with ``--generator`` (default: the bundled SmolLM2,
on CPU), verifies each one (:func:`searchgym.corpus.rewrite.verify_rewrite`), and appends to
``RESULTS.md`` the acceptance rate, the rejections by reason, the time per passage and a sample
accepted rewrite beside its template. Rewrites are cached (``--cache-dir``), so a rerun only
re-verifies.

    python benchmarks/bench_llm_writer.py --schema default --size 20 --passages 24
    python benchmarks/bench_llm_writer.py --generator "openai:http://127.0.0.1:8001/v1#MODEL" --passages 2000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_results, markdown_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generator", default="smollm2")
    parser.add_argument("--schema", default="default")
    parser.add_argument("--size", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--passages", type=int, default=24, help="page passages to rewrite (the first ones)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=240)
    parser.add_argument("--cache-dir", default=None, help="where rewrites are cached (default: a fresh temp dir)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from searchgym.corpus import write_corpus
    from searchgym.corpus.lint import lint_corpus
    from searchgym.corpus.rewrite import rewrite_corpus
    from searchgym.world import build_world

    world = build_world(args.schema, args.size, args.seed)
    corpus = write_corpus(world)
    cache_dir = Path(args.cache_dir) if args.cache_dir else Path(tempfile.mkdtemp(prefix="bench-llm-writer-"))
    started = time.perf_counter()
    rewritten, report = rewrite_corpus(world, corpus, args.generator, batch_size=args.batch_size,
                                       max_new_tokens=args.max_new_tokens, cache_dir=cache_dir,
                                       limit=args.passages, show_progress=True)
    seconds = time.perf_counter() - started
    lint_corpus(world, rewritten)  # accepted rewrites pass the build linter like template text
    data = report.to_dict()
    rows = [[args.generator, f"{world.world_id}", data["passages"], data["accepted"], f"{data['acceptance_rate']:.1%}",
             ", ".join(f"{k} {v}" for k, v in data["rejected"].items()) or "—", data["generated"],
             f"{seconds / max(1, data['generated']):.1f}" if data["generated"] else "cached"]]
    table = markdown_table(["generator", "world", "passages", "accepted", "acceptance", "rejected (reason count)",
                            "generated", "s per generated passage (incl. model load)"], rows)
    sample = next(((a, b) for a, b in zip(corpus, rewritten) if a.text != b.text), None)
    lines = [table, ""]
    if sample is not None:
        lines += ["Sample accepted rewrite:", "", f"- template: {sample[0].text}", f"- rewrite: {sample[1].text}"]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        append_results("LLM writer acceptance (bench_llm_writer.py)",
                       "python benchmarks/bench_llm_writer.py " + " ".join(sys.argv[1:]),
                       body)


if __name__ == "__main__":
    main()
