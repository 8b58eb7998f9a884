"""How much the generated corpora read like real prose, against a shipped Wikipedia excerpt.

For the corpus of each env's train world (``SearchQA-v0`` by default; the other domains with
``--envs``) this prints and appends to ``RESULTS.md``:

* distinct masked sentence templates (every entity name, full or short, -> ``<name>``; every
  number -> ``<num>``) over the whole corpus;
* distinct-1/2/3 and the word type/token ratio, unmasked and masked, on samples of exactly as
  many tokens as the reference has (both fall as a sample grows): the mean of ``--samples``
  random samples of whole passages. Masking for this comparison is the same on both texts
  (numbers and capitalised words past a sentence's start -> placeholders);
* the passage length distribution (words) and the count of known wording defects.

Reference: ``benchmarks/reference/wikipedia_anarchism.txt`` (an excerpt of English Wikipedia,
CC BY-SA 4.0; where it comes from is in ``benchmarks/reference/README.md``). Targets (issue 12):
>= 1,000 distinct masked templates in the default world; unmasked distinct-2 and distinct-3
within 85% of the reference; zero defects.

    python benchmarks/bench_corpus_quality.py                      # SearchQA-v0
    python benchmarks/bench_corpus_quality.py --envs SearchQA-v0,SearchQA-Science-v0,SearchQA-Sport-v0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_results, markdown_table  # noqa: E402

REFERENCE = Path(__file__).resolve().parent / "reference" / "wikipedia_anarchism.txt"
TARGET_TEMPLATES = 1000
TARGET_SHARE = 0.85


def _word_ttr(tokens: list[str]) -> float:
    words = [t for t in tokens if t[0].isalnum() or t.startswith("<")]
    return len(set(words)) / max(1, len(words))


def _diversity(texts: list[str], size: int, samples: int, masked: bool, seed: int) -> dict[str, float]:
    from searchgym.corpus.quality import Diversity, heuristic_mask, sample_tokens

    rng = np.random.default_rng(seed)
    transform = heuristic_mask if masked else (lambda text: text)
    drawn = [sample_tokens(texts, size, rng, transform) for _ in range(samples)]
    mean = Diversity.mean([Diversity.of(tokens) for tokens in drawn])
    return {"d1": mean.distinct[0], "d2": mean.distinct[1], "d3": mean.distinct[2],
            "ttr": float(np.mean([_word_ttr(tokens) for tokens in drawn]))}


def measure(env_id: str, size: int, samples: int) -> dict:
    from searchgym.corpus import write_corpus
    from searchgym.corpus.lint import corpus_violations
    from searchgym.corpus.quality import count_defects, length_summary, masked_templates
    from searchgym.envs.config import load_spec
    from searchgym.world import build_world, load_schema

    config = load_spec(env_id)
    started = time.perf_counter()
    world = build_world(load_schema(config.schema), config.world_size, config.world_seed)
    corpus = write_corpus(world, config.corpus_options())
    seconds = time.perf_counter() - started
    names = set()
    for entity in world.entities.values():
        names.update((entity.name, *entity.aliases))
        if world.schema.wording.types[entity.type].short_name == "last_word":
            names.add(entity.name.split()[-1])
    texts = [p.text for p in corpus]
    return {
        "env": env_id, "world": world.world_id, "passages": len(corpus), "build_s": seconds,
        "templates": len(masked_templates(texts, names)),
        "unmasked": _diversity(texts, size, samples, False, 0),
        "masked": _diversity(texts, size, samples, True, 1),
        "lengths": length_summary([len(t.split()) for t in texts]),
        "defects": sum(count_defects(texts).values()),
        "lint": len(corpus_violations(world, corpus)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", default="SearchQA-v0")
    parser.add_argument("--samples", type=int, default=20, help="random token samples per corpus")
    parser.add_argument("--no-write", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    from searchgym.corpus.quality import Diversity, heuristic_mask, tokenize

    reference_text = REFERENCE.read_text(encoding="utf-8")
    tokens = tokenize(reference_text)
    size = len(tokens)
    ref = {"unmasked": Diversity.of(tokens), "masked": Diversity.of(tokenize(heuristic_mask(reference_text))[:size])}
    ref_ttr = {"unmasked": _word_ttr(tokens), "masked": _word_ttr(tokenize(heuristic_mask(reference_text)))}
    results = [measure(env_id.strip(), size, args.samples) for env_id in args.envs.split(",") if env_id.strip()]

    rows = []
    for kind in ("unmasked", "masked"):
        d = ref[kind]
        rows.append([f"reference ({kind})", "—", f"{d.distinct[0]:.3f}", f"{d.distinct[1]:.3f}", f"{d.distinct[2]:.3f}",
                     f"{ref_ttr[kind]:.3f}"])
    for r in results:
        for kind in ("unmasked", "masked"):
            d = r[kind]
            share2, share3 = d["d2"] / ref[kind].distinct[1], d["d3"] / ref[kind].distinct[2]
            rows.append([f"{r['env']} ({kind})", str(r["templates"]) if kind == "unmasked" else "",
                         f"{d['d1']:.3f}", f"{d['d2']:.3f} ({share2:.0%})", f"{d['d3']:.3f} ({share3:.0%})",
                         f"{d['ttr']:.3f}"])
    diversity = markdown_table(["text", "distinct masked templates", "distinct-1", "distinct-2 (of ref.)",
                                "distinct-3 (of ref.)", "word type/token"], rows)
    length_rows = [[r["env"], r["passages"], r["lengths"]["min"], r["lengths"]["p10"], r["lengths"]["median"],
                    r["lengths"]["p90"], r["lengths"]["max"], f"{r['lengths']['share_80_130']:.1%}", r["defects"],
                    r["lint"], f"{r['build_s']:.1f}"] for r in results]
    lengths = markdown_table(["env", "passages", "min", "p10", "median", "p90", "max", "80-130 words", "defects",
                              "lint violations", "world+corpus build (s)"], length_rows)
    verdicts = []
    for r in results:
        if r["env"] != "SearchQA-v0":
            continue
        checks = [("distinct masked templates >= 1,000", r["templates"] >= TARGET_TEMPLATES),
                  ("unmasked distinct-2 >= 85% of the reference", r["unmasked"]["d2"] >= TARGET_SHARE * ref["unmasked"].distinct[1]),
                  ("unmasked distinct-3 >= 85% of the reference", r["unmasked"]["d3"] >= TARGET_SHARE * ref["unmasked"].distinct[2]),
                  ("zero defects and lint violations", r["defects"] == 0 and r["lint"] == 0)]
        verdicts = [f"- {name}: {'met' if ok else 'NOT met'}" for name, ok in checks]
    body = "\n".join([
        f"Samples: {args.samples} random samples of whole passages per corpus, each cut to the reference's "
        f"{size} tokens; reference: `benchmarks/reference/wikipedia_anarchism.txt` (English Wikipedia excerpt, "
        f"CC BY-SA 4.0, see its README).", "", diversity, "", lengths, "", *verdicts])
    print(body)
    if not args.no_write:
        command = "python benchmarks/bench_corpus_quality.py " + " ".join(sys.argv[1:])
        append_results("Corpus quality (bench_corpus_quality.py)", command.strip(),
                       body)


if __name__ == "__main__":
    main()
