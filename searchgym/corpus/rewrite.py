"""The LLM writer (``corpus.writer = "llm"``): rewrite each page passage with any generator,
keep a rewrite only when a verifier proves it still states exactly its facts.

SearchGym-style corpora are LLM-written; a template corpus is what the verifier checks them
against. Every page passage of the template corpus is sent to the generator (``smollm2``,
``hf:PATH``, ``openai:URL#model``: :func:`searchgym.llm.make_generator`) with its title,
section, text and the names and numbers it must keep. A rewrite is **accepted** only if:

* it passes every per-passage check of the build linter (:func:`searchgym.corpus.lint.passage_problems`):
  each recorded fact's names and values appear, every entity name it writes is one the passage
  records (the grounding matcher), every number is backed by a recorded fact, no wording defect;
* each recorded fact that the template states in *one sentence* naming its object (or, on the
  object's own page, its subject) with a word of that fact kind's wording
  (:func:`relation_vocabulary`) is stated so in the rewrite too, so "X was born in Y" cannot
  become "Y employs X" unnoticed;
* it names the page's subject in full, coins or misspells no name (no capitalised word the
  template lacks past a sentence's first word, no word one or two letters off a name of the
  passage), adds no category value (an occupation, a genre) the template did not state, and
  keeps a passage's length (40-200 words).

A rejected rewrite falls back to the template passage and is counted by reason. Provenance
(the passage's facts and mentions) is unchanged either way, so the layout rule that keeps
task depth honest still holds, and the corpus linter re-checks the result on every build.

Generation is batched, shown with a progress bar on stderr, and cached by content hash: each
finished batch is appended (and fsynced) to a JSONL file keyed by the generator spec and the
prompt version, so a killed build resumes where it stopped and a rebuild generates nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from searchgym.cache import cache_root, content_hash
from searchgym.corpus.corpus import Corpus
from searchgym.corpus.lint import passage_problems, world_facts
from searchgym.corpus.quality import sentences
from searchgym.search.grounding import Grounder, edit_distance, normalize, relation_vocabulary, tokenize
from searchgym.types import Fact, Passage
from searchgym.world.world import World

__all__ = ["PROMPT_VERSION", "RewriteReport", "rewrite_corpus", "rewrite_prompt", "verify_rewrite"]

PROMPT_VERSION = 1  # bump when the prompt changes: it keys the cache of rewrites
MIN_WORDS, MAX_WORDS = 40, 200
_SYSTEM = (
    "You are an encyclopedia editor. Rewrite the paragraph you are given in fluent, varied English, "
    "as one paragraph of about the same length. Keep every name and every number exactly as written. "
    "Do not add any name, number, date or fact that the paragraph does not contain. Answer with the "
    "rewritten paragraph only."
)


@dataclass
class RewriteReport:
    """What the LLM writer did: passages sent, accepted, rejected (by reason), cache hits."""

    generator: str
    passages: int = 0
    accepted: int = 0
    generated: int = 0
    cached: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.passages if self.passages else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "passages": self.passages,
            "accepted": self.accepted,
            "acceptance_rate": round(self.acceptance_rate, 4),
            "rejected": dict(sorted(self.rejected.items())),
            "generated": self.generated,
            "cached": self.cached,
        }


def _keep_list(world: World, passage: Passage, facts: dict[str, Fact]) -> list[str]:
    keep = [world.name(m) for m in passage.mentions]
    for fact_id in passage.facts:
        fact = facts[fact_id]
        if not fact.is_relation:
            keep.append(str(fact.object))
    return list(dict.fromkeys(keep))


def rewrite_prompt(world: World, passage: Passage, facts: dict[str, Fact]) -> list[dict[str, str]]:
    """The chat prompt that asks for a rewrite of ``passage``."""
    keep = "; ".join(_keep_list(world, passage, facts))
    user = (
        f"Article: {passage.title}\nSection: {passage.section}\nParagraph: {passage.text}\n"
        f"Names and numbers to keep exactly: {keep}\nRewritten paragraph:"
    )
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


def _clean(text: str) -> str:
    text = text.strip().strip('"').strip()
    text = re.sub(r"^(?:rewritten paragraph|paragraph)\s*:\s*", "", text, flags=re.IGNORECASE)
    return " ".join(text.split())


def _stated_in_one_sentence(world: World, fact: Fact, page_entity: str | None, parts: list[str]) -> bool:
    vocabulary = relation_vocabulary(world, fact.relation)
    if fact.is_relation:
        other = fact.subject if fact.object == page_entity else fact.object
        names = [normalize(world.name(str(other))), *(normalize(a) for a in world.entity(str(other)).aliases)]
    else:
        names = [normalize(str(fact.object)), normalize(f"{fact.object:,}" if isinstance(fact.object, int) else "")]
    names = [n for n in names if n]
    for sentence in parts:
        text = f" {normalize(sentence)} "
        if any(f" {n} " in text for n in names) and vocabulary & set(tokenize(sentence)):
            return True
    return False


def verify_rewrite(
    world: World,
    original: Passage,
    text: str,
    facts: dict[str, Fact],
    grounder: Grounder,
    category_values: frozenset[str],
) -> str | None:
    """``None`` when ``text`` may replace ``original``'s text, else the reason it may not."""
    words = len(text.split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        return "length"
    if "<" in text or ">" in text:
        return "markup"
    candidate = replace(original, text=text)
    if passage_problems(world, candidate, facts, grounder):
        return "fact check"  # a fact lost, a name or number the world does not back, a defect
    if original.entity_id is not None and normalize(original.title) not in normalize(text):
        return "subject not named"
    parts, template_parts = sentences(text), sentences(original.text)
    for fact_id in original.facts:  # as clearly as the template states it (a lead may not use a cue word)
        fact = facts[fact_id]
        if _stated_in_one_sentence(world, fact, original.entity_id, template_parts) and not _stated_in_one_sentence(
            world, fact, original.entity_id, parts
        ):
            return "fact not stated in a sentence"
    if _new_name(world, original, text):
        return "new or misspelt name"
    before, after = f" {normalize(original.text)} ", f" {normalize(text)} "
    added = {value for value in category_values if f" {value} " in after and f" {value} " not in before}
    if added:
        return "new category value"
    return None


_WORD = re.compile(r"[A-Za-z][\w'-]*")


def _new_name(world: World, original: Passage, text: str) -> bool:
    """A capitalised word the template lacks (past a sentence's first word: "Hoblarand" for
    "Hobraland", an echoed "Overview"), or any word one or two letters off a name the passage
    uses: invented names are the facts, so a rewrite may not coin or misspell one."""
    known = set(_WORD.findall(original.text))
    known_lower = {word.lower() for word in known}
    name_words = {w.lower() for m in original.mentions for w in _WORD.findall(world.name(m)) if len(w) >= 4}
    for sentence in sentences(text):
        for position, word in enumerate(_WORD.findall(sentence)):
            if word in known or word.lower() in known_lower:
                continue
            if word[0].isupper() and position > 0:
                return True
            lowered = word.lower()
            if len(lowered) >= 4 and any(edit_distance(lowered, n, 2) <= 2 for n in name_words):
                return True
    return False


class _RewriteStore:
    """Append-only JSONL of generated rewrites, keyed by prompt hash (resumable, lock-protected)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, str] = {}
        if path.exists():
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                        self.done[record["k"]] = record["t"]
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short by a kill: that passage is generated again

    def add(self, items: Sequence[tuple[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = "".join(json.dumps({"k": k, "t": t}, ensure_ascii=False) + "\n" for k, t in items)
        with open(self.path, "a", encoding="utf-8") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                if handle.tell() and not self._ends_with_newline():
                    handle.write("\n")  # never glue a record to a line a killed writer left cut short
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        self.done.update(items)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"


def rewrite_corpus(
    world: World,
    corpus: Corpus,
    generator_spec: str,
    *,
    generator: Any = None,
    batch_size: int = 8,
    max_new_tokens: int = 320,
    cache_dir: Path | None = None,
    show_progress: bool = True,
    limit: int | None = None,
) -> tuple[Corpus, RewriteReport]:
    """``corpus`` with each page passage replaced by its verified rewrite (see the module docstring).

    ``generator`` is an already built :class:`~searchgym.llm.TextGenerator` (else one is made from
    ``generator_spec``, which also keys the cache); ``limit`` rewrites only the first passages
    (a quick measurement of the acceptance rate).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from searchgym.llm import GenerationConfig

    facts = world_facts(world)
    grounder = Grounder(world, max_edit_distance=0)
    categories = frozenset(normalize(v) for t in world.schema.entity_types for a in t.attributes for v in a.values)
    targets = [p for p in corpus.passages if p.kind == "page"][:limit]
    prompts = {p.doc_id: rewrite_prompt(world, p, facts) for p in targets}
    keys = {doc_id: content_hash(json.dumps(prompt, sort_keys=True), length=24) for doc_id, prompt in prompts.items()}
    store_key = content_hash(generator_spec, str(PROMPT_VERSION), str(max_new_tokens), length=16)
    store = _RewriteStore((cache_dir or cache_root() / "rewrites") / f"{store_key}.jsonl")
    report = RewriteReport(generator_spec, passages=len(targets))
    missing = [p for p in targets if keys[p.doc_id] not in store.done]
    report.cached = len(targets) - len(missing)
    if missing:
        if generator is None:
            from searchgym.llm import make_generator

            generator = make_generator(generator_spec)
        config = GenerationConfig(max_new_tokens=max_new_tokens, temperature=0.0, stop=("\n\n",), include_stop=False)
        with Progress(
            TextColumn("rewriting passages"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not show_progress,
            transient=True,
        ) as progress:
            bar = progress.add_task("rewrite", total=len(missing))
            for start in range(0, len(missing), batch_size):
                batch = missing[start : start + batch_size]
                outputs = generator.generate([prompts[p.doc_id] for p in batch], config)
                store.add([(keys[p.doc_id], text) for p, text in zip(batch, outputs)])
                report.generated += len(batch)
                progress.advance(bar, len(batch))
    replaced: dict[str, Passage] = {}
    for passage in targets:
        text = _clean(store.done[keys[passage.doc_id]])
        reason = verify_rewrite(world, passage, text, facts, grounder, categories)
        if reason is None:
            report.accepted += 1
            replaced[passage.doc_id] = replace(passage, text=text)
        else:
            report.rejected[reason] += 1
    return Corpus(corpus.world_id, (replaced.get(p.doc_id, p) for p in corpus.passages)), report
