"""Write a wiki-style corpus from a world, recording which facts each passage states.

One page per entity: a lead, the entity's attributes, its outgoing relations (one sentence per
fact) and complete lists of the entities pointing at it (so "how many films did X direct?" is
answerable from X's page). Pages are cut into ~100-word passages at sentence boundaries. A share
of distractor passages mention entities in invented events without stating any graph fact.

All variation (template choice, sentence order) comes from a random generator seeded by
(world, entity), so the corpus is a pure function of the world.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from searchgym.cache import content_hash
from searchgym.corpus import templates as T
from searchgym.corpus.corpus import Corpus
from searchgym.types import Fact, Passage
from searchgym.world.world import World

CORPUS_FORMAT_VERSION = 2  # bump whenever the writer changes: it keys the bundle cache
LIST_CHUNK = 10  # names per list sentence, so long lists still split into readable passages


@dataclass(frozen=True)
class CorpusOptions:
    passage_words: int = 100
    distractor_ratio: float = 0.1

    def __post_init__(self) -> None:
        if not 20 <= self.passage_words <= 1000:
            raise ValueError(f"passage_words must be in [20, 1000], got {self.passage_words}")
        if not 0 <= self.distractor_ratio <= 5:
            raise ValueError(f"distractor_ratio must be in [0, 5], got {self.distractor_ratio}")


@dataclass(frozen=True)
class _Sentence:
    text: str
    section: str
    facts: tuple[str, ...]
    mentions: tuple[str, ...]


_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")


def _fix_articles(text: str) -> str:
    """"a economist" -> "an economist": templates are written with "a"."""
    return _ARTICLE.sub(lambda m: m.group(1) + "n ", text)


def _rng(world: World, *parts: str) -> np.random.Generator:
    return np.random.default_rng(int(content_hash(world.world_id, *parts), 16))


def _choose(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _entity_sentences(world: World, entity_id: str, rng: np.random.Generator) -> list[_Sentence]:
    entity = world.entity(entity_id)
    name = entity.name
    lead = _choose(rng, T.TYPE_LEADS.get(entity.type, ("{s} is a {t}.",))).format(s=name, t=T.words(entity.type))
    if entity.aliases:
        lead = lead[:-1] + f", also known as {T.join_names(list(entity.aliases))}."
    head = [_Sentence(lead, "Overview", (), (entity_id,))]
    body: list[_Sentence] = []
    for fact in world.attribute_facts(entity_id):
        text = _choose(rng, T.attribute_templates(fact.relation)).format(s=name, v=T.format_value(fact.object))
        body.append(_Sentence(text, "Overview", (fact.fact_id,), (entity_id,)))
    for relation in world.schema.relations:
        for target in world.targets(entity_id, relation.name):
            fact = Fact(entity_id, relation.name, target)
            text = _choose(rng, T.relation_templates(relation.name)).format(s=name, o=world.name(target))
            body.append(_Sentence(text, "Background", (fact.fact_id,), (entity_id, target)))
    for relation in world.schema.relations:
        if relation.symmetric:
            continue  # both directions are already stated as subject-side sentences
        sources = world.sources(entity_id, relation.name)
        for start in range(0, len(sources), LIST_CHUNK):
            chunk = sources[start : start + LIST_CHUNK]
            template = _choose(rng, T.inverse_templates(relation.name))
            if start > 0:
                template = "Furthermore, " + template[0].lower() + template[1:] if template.startswith("The") else template
            text = template.format(o=name, items=T.join_names([world.name(s) for s in chunk]))
            facts = tuple(Fact(source, relation.name, entity_id).fact_id for source in chunk)
            body.append(_Sentence(text, "Related", facts, (entity_id, *chunk)))
    order = rng.permutation(len(body))
    return head + [body[i] for i in order]


def _chunk(world: World, entity_id: str, sentences: list[_Sentence], passage_words: int) -> list[Passage]:
    title = world.name(entity_id)
    passages: list[Passage] = []
    current: list[_Sentence] = []
    count = 0

    def flush() -> None:
        if not current:
            return
        facts = tuple(dict.fromkeys(f for s in current for f in s.facts))
        mentions = tuple(dict.fromkeys(m for s in current for m in s.mentions))
        passages.append(
            Passage(
                doc_id=f"{entity_id}-p{len(passages)}",
                title=title,
                text=_fix_articles(" ".join(s.text for s in current)),
                entity_id=entity_id,
                section=current[0].section,
                facts=facts,
                mentions=mentions,
            )
        )

    for sentence in sentences:
        length = len(sentence.text.split())
        if current and count + length > passage_words:
            flush()
            current, count = [], 0
        current.append(sentence)
        count += length
    flush()
    return passages


def _distractors(world: World, count: int) -> list[Passage]:
    """Invented events that name entities but state no graph fact (provenance is empty)."""
    rng = _rng(world, "distractors")
    people = world.of_type("person") or list(world.entities)
    places = world.of_type("city") or list(world.entities)
    passages = []
    for index in range(count):
        a, b = (people[int(i)] for i in rng.choice(len(people), size=2, replace=len(people) < 2))
        place = places[int(rng.integers(len(places)))]
        births = [world.entity(p).attributes.get("birth_year") for p in (a, b)]
        earliest = max([int(y) for y in births if isinstance(y, int)] or [1950]) + 20
        year = int(rng.integers(min(earliest, 2024), 2025))
        event = _choose(rng, T.DISTRACTOR_EVENTS)
        text = _choose(rng, T.DISTRACTOR_TEMPLATES).format(
            year=year, a=world.name(a), b=world.name(b), place=world.name(place), event=event,
            paper=_choose(rng, T.DISTRACTOR_PAPERS), topic=_choose(rng, T.DISTRACTOR_TOPICS),
        )
        passages.append(
            Passage(
                doc_id=f"news_{index:06d}",
                title=f"{event} {year}",
                text=text,
                entity_id=None,
                section="News",
                facts=(),
                mentions=tuple(dict.fromkeys((a, b, place))),
                kind="distractor",
            )
        )
    return passages


def write_corpus(world: World, options: CorpusOptions | None = None) -> Corpus:
    """The aligned corpus of ``world``: entity pages cut into passages, plus distractors."""
    options = options or CorpusOptions()
    passages: list[Passage] = []
    for entity_id in world.entities:
        sentences = _entity_sentences(world, entity_id, _rng(world, entity_id))
        passages.extend(_chunk(world, entity_id, sentences, options.passage_words))
    passages.extend(_distractors(world, int(len(world) * options.distractor_ratio)))
    return Corpus(world.world_id, passages)
