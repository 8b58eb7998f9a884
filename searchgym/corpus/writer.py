"""Write an encyclopedia corpus from a world, recording which facts each passage states.

One article per entity (planned by :mod:`searchgym.corpus.article`, packed into passages by
:mod:`searchgym.corpus.passages`), plus *round-up pages* ("Films released in 1993 include ..."):
ordinary-looking pages that state true facts about several entities, so that not every passage
naming an entity is that entity's own page and skipping "distractors" by their look does not work.

All variation (templates, pronouns, sentence order, samples) comes from random generators
seeded by (world, entity), so the corpus is a pure function of the world and its schema's
wording. :func:`searchgym.corpus.lint.lint_corpus` re-checks every statement afterwards.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from searchgym.cache import content_hash
from searchgym.corpus.article import plan_article
from searchgym.corpus.corpus import Corpus
from searchgym.corpus.passages import MAX_PASSAGE_WORDS, MIN_PASSAGE_WORDS, opaque_doc_id, pack_article
from searchgym.corpus.realize import fix_number_agreement, format_value, join_names, render
from searchgym.types import Fact, Passage
from searchgym.world.world import World

CORPUS_FORMAT_VERSION = 5  # bump whenever the writer changes: it keys the bundle cache
ROUNDUP_MAX_ITEMS = 8


WRITERS = ("template", "llm")


@dataclass(frozen=True)
class CorpusOptions:
    """``passage_words`` is kept for spec compatibility: passages are packed to 80-130 words.
    ``distractor_ratio`` is the number of round-up pages per entity. ``writer = "llm"`` rewrites
    every page passage with the generator ``writer_model`` (any :func:`searchgym.llm.make_generator`
    spec), keeping only verified rewrites (:mod:`searchgym.corpus.rewrite`)."""

    passage_words: int = 100
    distractor_ratio: float = 0.1
    writer: str = "template"
    writer_model: str = "smollm2"
    writer_batch_size: int = 8

    def __post_init__(self) -> None:
        if not 20 <= self.passage_words <= 1000:
            raise ValueError(f"passage_words must be in [20, 1000], got {self.passage_words}")
        if not 0 <= self.distractor_ratio <= 5:
            raise ValueError(f"distractor_ratio must be in [0, 5], got {self.distractor_ratio}")
        if self.writer not in WRITERS:
            raise ValueError(f"writer must be one of {WRITERS}, got {self.writer!r}")
        if not self.writer_model.strip():
            raise ValueError("writer_model must be a generator spec such as 'smollm2' or 'openai:URL#model'")
        if not 1 <= self.writer_batch_size <= 4096:
            raise ValueError(f"writer_batch_size must be in [1, 4096], got {self.writer_batch_size}")


def _rng(world: World, *parts: str) -> np.random.Generator:
    return np.random.default_rng(int(content_hash(world.world_id, *parts), 16))


def _article(world: World, entity_id: str, taken: set[str]) -> list[Passage]:
    rng = _rng(world, entity_id)
    reference, statements = plan_article(world, entity_id, rng)
    wording = world.schema.wording
    assert wording is not None
    type_wording = wording.types[world.entity(entity_id).type]

    def make(index: int, section: str, text: str, facts: tuple[str, ...], mentions: tuple[str, ...]) -> Passage:
        return Passage(
            doc_id=opaque_doc_id(world.world_id, f"{entity_id}/{index}", taken),
            title=reference.name,
            text=text,
            entity_id=entity_id,
            section=section,
            facts=facts,
            mentions=tuple(dict.fromkeys((entity_id, *mentions))),
        )

    entity_type = world.entity(entity_id).type
    return pack_article(
        statements,
        reference,
        lambda section: wording.narrative_for(entity_type, section),
        type_wording.sections,
        rng,
        make,
        wording.expand,
    )


def _roundups(world: World, count: int, taken: set[str]) -> list[Passage]:
    """Year pages listing up to eight entities that share a year attribute (true facts)."""
    wording = world.schema.wording
    assert wording is not None
    by_value: dict[tuple[str, int], list[str]] = defaultdict(list)
    for entity in world.entities.values():
        for attribute, value in sorted(entity.attributes.items()):
            if wording.attributes[attribute].roundup and isinstance(value, int):
                by_value[(attribute, value)].append(entity.id)
    keys = sorted(key for key, members in by_value.items() if len(members) >= 2)
    if not keys or count <= 0:
        return []
    rng = _rng(world, "roundups")
    picks = sorted(int(i) for i in rng.choice(len(keys), size=min(count, len(keys)), replace=False))
    passages = []
    for index in picks:
        attribute, value = keys[index]
        members = by_value[(attribute, value)]
        chosen = sorted(
            int(i) for i in rng.choice(len(members), size=min(len(members), ROUNDUP_MAX_ITEMS), replace=False)
        )
        entity_ids = [members[i] for i in chosen]
        attribute_wording = wording.attributes[attribute]
        template = attribute_wording.roundup[int(rng.integers(len(attribute_wording.roundup)))]
        text = template.format(v=format_value(value), items=join_names([world.name(e) for e in entity_ids]))
        text = fix_number_agreement(
            _fill_roundup(text, attribute_wording.roundup_narrative, format_value(value), wording, rng)
        )
        passages.append(
            Passage(
                doc_id=opaque_doc_id(world.world_id, f"roundup/{attribute}/{value}", taken),
                title=fix_number_agreement(attribute_wording.roundup_title.format(v=format_value(value))),
                text=text,
                entity_id=None,
                section="Overview",
                facts=tuple(Fact(e, attribute, value, False).fact_id for e in entity_ids),
                mentions=tuple(entity_ids),
                kind="distractor",
            )
        )
    return passages


def _fill_roundup(text: str, narrative: tuple[str, ...], value: str, wording, rng: np.random.Generator) -> str:
    """Pad a round-up page to the passage length with its wording's sentences about the year
    (they name no entity and no number but the page's own year)."""
    order = [narrative[int(i)] for i in rng.permutation(len(narrative))]
    words = len(text.split())
    for template in order:
        if words >= MIN_PASSAGE_WORDS:
            break
        sentence = render(wording.expand(template, rng), None, "name", {"v": value})
        if words + len(sentence.split()) <= MAX_PASSAGE_WORDS:
            text, words = f"{text} {sentence}", words + len(sentence.split())
    return text


def write_corpus(world: World, options: CorpusOptions | None = None, *, show_progress: bool = True) -> Corpus:
    """The aligned corpus of ``world``: one article per entity, then the round-up pages; with
    ``writer = "llm"``, every page passage rewritten and verified (the corpus gets a
    ``writer_report`` dict: acceptance rate and rejections by reason), with a progress bar on
    stderr unless ``show_progress`` is false."""
    options = options or CorpusOptions()
    taken: set[str] = set()
    passages: list[Passage] = []
    for entity_id in world.entities:
        passages.extend(_article(world, entity_id, taken))
    passages.extend(_roundups(world, int(len(world) * options.distractor_ratio), taken))
    corpus = Corpus(world.world_id, passages)
    if options.writer == "llm":
        from searchgym.corpus.rewrite import rewrite_corpus

        corpus, report = rewrite_corpus(
            world, corpus, options.writer_model, batch_size=options.writer_batch_size, show_progress=show_progress
        )
        corpus.writer_report = report.to_dict()
    return corpus
