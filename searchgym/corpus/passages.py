"""Pack an article's statements into retrievable passages of 80-130 words with opaque ids.

Each group of the layout rule (:mod:`searchgym.corpus.article`) is packed on its own, so an
outgoing and an incoming fact never share a passage. A passage opens with its subject's full
name (it may be retrieved alone); later sentences refer to the subject by pronoun or short name
where the template reads well that way. Passages shorter than the minimum are completed with
connective narrative of their sections, which states no fact.

Doc ids are opaque hashes of (world, entity, position): they reveal neither the entity's type
nor its place in the world, and cannot be guessed from other ids.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from searchgym.cache import content_hash
from searchgym.corpus.article import Statement
from searchgym.corpus.realize import Reference, render
from searchgym.types import Passage

__all__ = ["MAX_PASSAGE_WORDS", "MIN_PASSAGE_WORDS", "opaque_doc_id", "pack_article"]

MIN_PASSAGE_WORDS = 80
MAX_PASSAGE_WORDS = 130
_DOC_ID_HEX = 10


def opaque_doc_id(world_id: str, key: str, taken: set[str]) -> str:
    """A short id derived from ``(world_id, key)``, unique among ``taken`` (which it joins)."""
    digest = content_hash(world_id, "doc", key)
    length = _DOC_ID_HEX
    while True:
        doc_id = "d" + digest[:length]
        if doc_id not in taken:
            taken.add(doc_id)
            return doc_id
        length += 2


def _mode(rng: np.random.Generator, reference: Reference) -> str:
    draw = rng.random()
    if draw < 0.5:
        return "pronoun"
    if draw < 0.68 and reference.description:
        return "description"
    if draw < 0.8 and reference.short != reference.name:
        return "short"
    return "name"


def _render(statement: Statement, reference: Reference, mode: str) -> str:
    return render(statement.template, reference, mode, dict(statement.slots))


def _groups(statements: list[Statement]) -> list[list[Statement]]:
    out = [s for s in statements if s.group == "out"]
    incoming = [s for s in statements if s.group == "in"]
    return [group for group in (out, incoming) if group]


def pack_article(
    statements: list[Statement],
    reference: Reference,
    narrative: Callable[[str], tuple[str, ...]],
    sections: tuple[str, ...],
    rng: np.random.Generator,
    make_passage: Callable[[int, str, str, tuple[str, ...], tuple[str, ...]], Passage],
    expand: Callable[[str, np.random.Generator], str],
) -> list[Passage]:
    """Passages of one article, in reading order (the ``out`` group, with the lead, first).

    ``narrative(section)`` gives that section's connective sentences (templates with only the
    subject's slots); ``make_passage(index, section, text, facts, mentions)`` builds each one;
    ``expand(template, rng)`` draws a narrative template's choices.
    """
    passages: list[Passage] = []
    used_narrative: set[str] = set()
    for group in _groups(statements):
        chunks: list[list[tuple[Statement, str]]] = []
        current: list[tuple[Statement, str]] = []
        words = 0
        for statement in group:
            first = not current
            mode = "name" if first else _mode(rng, reference)
            text = _render(statement, reference, mode)
            length = len(text.split())
            if current and words + length > MAX_PASSAGE_WORDS:
                chunks.append(current)
                text = _render(statement, reference, "name")
                length = len(text.split())
                current, words = [], 0
            current.append((statement, text))
            words += length
        if current:
            chunks.append(current)
        for chunk in chunks:
            texts = [text for _, text in chunk]
            _pad(texts, chunk, reference, narrative, sections, used_narrative, rng, expand)
            facts = tuple(dict.fromkeys(f for statement, _ in chunk for f in statement.facts))
            mentions = tuple(dict.fromkeys(m for statement, _ in chunk for m in statement.mentions))
            passages.append(make_passage(len(passages), chunk[0][0].section, " ".join(texts), facts, mentions))
    return passages


def _pad(
    texts: list[str],
    chunk: list[tuple[Statement, str]],
    reference: Reference,
    narrative: Callable[[str], tuple[str, ...]],
    sections: tuple[str, ...],
    used: set[str],
    rng: np.random.Generator,
    expand: Callable[[str, np.random.Generator], str],
) -> None:
    """Append narrative sentences (no facts) until the passage reaches the minimum length."""
    words = sum(len(text.split()) for text in texts)
    if words >= MIN_PASSAGE_WORDS:
        return
    # on-topic filler only: the passage's own sections, then the article's opening section
    own = list(dict.fromkeys(statement.section for statement, _ in chunk))
    order = own + [section for section in sections[:1] if section not in own]
    candidates: list[str] = []
    for section in order:  # each section's sentences in a per-article order, so pages differ
        options = [template for template in narrative(section) if template not in used]
        candidates.extend(options[int(i)] for i in rng.permutation(len(options)))
    for template in candidates:
        if words >= MIN_PASSAGE_WORDS:
            break
        text = render(expand(template, rng), reference, _mode(rng, reference), {})
        if words + len(text.split()) > MAX_PASSAGE_WORDS:
            continue
        used.add(template)
        texts.append(text)
        words += len(text.split())
