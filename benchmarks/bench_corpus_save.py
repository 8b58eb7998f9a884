"""Peak memory of saving and hashing a corpus: streamed (searchgym) vs joined in memory.

``Corpus.save`` and the corpus's one content hash (``Corpus.content_hash`` =
``PassageStore.content_hash``, the key of every engine cache) go through the passages one JSON
line at a time; the save computes the hash in the same pass. The baseline does what they did
before: join the whole JSONL into one string, then write and hash it. Each mode runs in a fresh
subprocess, so the numbers are that process's high-water mark (``ru_maxrss``) before and after.

    python benchmarks/bench_corpus_save.py --entities 300000
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, append_results, markdown_table  # noqa: E402

MODES = ("joined", "streamed")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, entities: int) -> None:
    from searchgym.cache import atomic_write_text, content_hash, stable_json
    from searchgym.corpus import CorpusOptions, write_corpus
    from searchgym.search.corpus_index import PassageStore
    from searchgym.world import build_world, load_schema

    corpus = write_corpus(build_world(load_schema("default"), entities, 0), CorpusOptions())
    before = _peak_mb()
    path = Path(tempfile.mkdtemp(prefix="sg-save-")) / "passages.jsonl"
    start = time.perf_counter()
    if mode == "joined":  # the code before streaming, call for call
        atomic_write_text(path, corpus.to_jsonl())
        content_hash(corpus.world_id, corpus.to_jsonl())
        content_hash(*(stable_json(passage.to_dict()) for passage in corpus.passages))
    else:
        corpus.save(path)
        _ = corpus.content_hash
        _ = PassageStore(corpus.passages).corpus_hash
    print(json.dumps({"mode": mode, "passages": len(corpus.passages), "file_mb": round(path.stat().st_size / 2**20),
                      "peak_before_mb": round(before), "peak_after_mb": round(_peak_mb()),
                      "seconds": round(time.perf_counter() - start, 1)}))
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=300_000)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.entities)
        return
    rows = []
    for mode in MODES:
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--entities", str(args.entities)],
                             check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        print(result, flush=True)
        rows.append([mode, f"{result['passages']:,}", str(result["file_mb"]), str(result["peak_before_mb"]),
                     str(result["peak_after_mb"]), str(result["peak_after_mb"] - result["peak_before_mb"]),
                     str(result["seconds"])])
    headers = ["mode", "passages", "file MB", "peak before MB", "peak after MB", "added MB", "seconds"]
    body = markdown_table(headers, rows) + (
        "\n\n- save + corpus hash + engine cache key of one corpus (default schema, seed 0, 100-word passages); "
        "`joined` builds the whole JSONL string first, as searchgym did before streaming.")
    print(body)
    if not args.no_write:
        command = "python benchmarks/bench_corpus_save.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        append_results("Corpus save memory (bench_corpus_save.py)", command.strip(), body, RESULTS)


if __name__ == "__main__":
    main()
