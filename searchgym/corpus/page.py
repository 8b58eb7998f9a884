"""A whole article as a reader who *opens* it sees it: title, infobox, sections, every passage.

Search returns passages (80-130-word chunks, the Search-R1 unit); ``<access>`` of a passage of
an article opens the article, as clicking a search result opens a web page. The page shows
what no single result shows: the infobox (rendered here from the world, never indexed, so
search results stay prose) and the article's other passages, under their section headings.
Facts in a long article's later passages, which a search for its name ranks below the top-k,
are thus reachable by opening the page — and :mod:`searchgym.tasks.depth` counts an open as a
retrieval call, so measured depth stays honest.

A page shows at most :data:`PAGE_MAX_PASSAGES` passages (in reading order); the env records
exactly those as retrieved, and the depth meter models exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass

from searchgym.corpus.corpus import Corpus
from searchgym.corpus.realize import format_value
from searchgym.types import Passage
from searchgym.world.world import World

__all__ = ["PAGE_MAX_PASSAGES", "Page", "infobox_entries", "open_page", "page_passages"]

PAGE_MAX_PASSAGES = 12
MAX_INFOBOX_ENTRIES = 8


@dataclass(frozen=True)
class Page:
    """An opened article: what the reader sees and the passages it shows (retrieved on open)."""

    doc_id: str  # the passage id that was opened
    title: str
    text: str
    doc_ids: tuple[str, ...]
    omitted: int = 0  # passages of the article beyond PAGE_MAX_PASSAGES


def infobox_entries(world: World, entity_id: str) -> list[tuple[str, str]]:
    """``(label, value)`` lines of the entity's infobox: its attributes and its single
    neighbours under labelled functional (and inverse-functional) relations, in schema order."""
    wording = world.schema.wording
    assert wording is not None
    entity = world.entity(entity_id)
    entries = [
        (wording.attributes[name].label, format_value(value)) for name, value in sorted(entity.attributes.items())
    ]
    for relation in world.schema.relations:
        words = wording.relations[relation.name]
        if relation.source == entity.type and relation.functional and words.label:
            targets = world.targets(entity_id, relation.name)
            if len(targets) == 1:
                entries.append((words.label, world.name(targets[0])))
        if (
            relation.target == entity.type
            and words.inverse_label
            and relation.inverse_functional
            and relation.inverse_list != "none"
        ):  # the page's passages state it too
            sources = world.sources(entity_id, relation.name)
            if len(sources) == 1:
                entries.append((words.inverse_label, world.name(sources[0])))
    return entries[:MAX_INFOBOX_ENTRIES]


def page_passages(corpus: Corpus, entity_id: str) -> list[str]:
    """The doc ids an opened page of ``entity_id`` shows, in reading order."""
    return corpus.pages.get(entity_id, [])[:PAGE_MAX_PASSAGES]


def open_page(world: World, corpus: Corpus, passage: Passage) -> Page | None:
    """The page ``passage`` belongs to, or None for passages that are not part of an article
    (round-up pages, documents of simulated engines): those open as themselves. The passage is
    looked up by id in ``corpus``, so a remote engine serving the same corpus (whose passages
    come back without provenance) opens the same page as the local one."""
    own = corpus.by_id.get(passage.doc_id)
    if own is None or own.kind != "page" or own.entity_id is None:
        return None
    entity_id = own.entity_id
    shown = page_passages(corpus, entity_id)
    lines = [world.name(entity_id)]
    box = infobox_entries(world, entity_id)
    if box:
        lines.append("Infobox: " + " · ".join(f"{label}: {value}" for label, value in box))
    section = None
    for doc_id in shown:
        current = corpus[doc_id]
        if current.section != section:
            section = current.section
            lines.append(f"== {section} ==")
        lines.append(current.text)
    omitted = len(corpus.pages.get(entity_id, [])) - len(shown)
    if omitted:
        lines.append(f"({omitted} further section passage(s) not shown; search for them by name.)")
    return Page(passage.doc_id, passage.title, "\n".join(lines), tuple(shown), omitted)
