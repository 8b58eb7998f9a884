"""The citation syntax agents write inside answers, in one place.

Citations are bracket groups anywhere in the answer text:

* explicit: ``[doc: id1, id2]`` — the prefix may be ``doc``, ``docs``, ``id``, ``ids``,
  ``cite``, ``citation(s)`` or ``source(s)`` (case-insensitive); ids are separated by commas,
  semicolons or whitespace;
* bare: ``[id1]`` or ``[id1, id2]`` — accepted when every item is one whitespace-free token
  that is not just a number (so ``[1990]`` stays part of the answer).

Doc ids are those shown in results as ``[id: …]``. Two readers use this module: the CaRR
citation rubric (:mod:`searchgym.wrappers.reward_citation`), which strips the citations from a
short answer, and the long-form grader (:mod:`searchgym.nuggets`), which needs to know *which
sentence* each citation supports: :func:`cited_sentences`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CitedSentence", "cited_sentences", "citation_ids", "parse_citations", "strip_citations"]

_GROUP = re.compile(r"\[([^\[\]<>]*)\]")
_PREFIX = re.compile(r"^\s*(?:docs?|ids?|cite|citations?|sources?)\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)
_ITEM_SPLIT = re.compile(r"[,;\s]+")
_BARE_ITEM = re.compile(r"^[\w][\w.\-:/#]*$")
# A sentence ends at . ! ? and a space, but not after a one-letter abbreviation ("X (b. 1946) is
# a chemist", "J. Smith"), nor at a newline's neighbours.
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\b[A-Za-z]\.)\s+|\s*\n+\s*")


def citation_ids(inner: str) -> list[str] | None:
    """The ids of one bracket group's inner text, or None if it is not a citation group."""
    explicit = _PREFIX.match(inner)
    if explicit:
        return [item for item in _ITEM_SPLIT.split(explicit.group(1)) if item]
    items = [item.strip() for item in re.split(r"[,;]", inner)]
    if not items or any(not item or not _BARE_ITEM.match(item) for item in items):
        return None
    if all(item.replace(".", "").isdigit() for item in items):
        return None
    return items


def parse_citations(answer: str | None) -> tuple[str, list[str]]:
    """Split an answer into ``(answer without citations, cited doc ids in order, unique)``."""
    if not answer:
        return answer or "", []
    cited: dict[str, None] = {}

    def replace(match: re.Match[str]) -> str:
        ids = citation_ids(match.group(1))
        if ids is None:
            return match.group(0)
        for doc_id in ids:
            cited.setdefault(doc_id, None)
        return " "

    stripped = _GROUP.sub(replace, answer)
    return " ".join(stripped.split()), list(cited)


def strip_citations(answer: str) -> str:
    return parse_citations(answer)[0]


@dataclass(frozen=True)
class CitedSentence:
    """One sentence of a long-form answer (citations removed) and the ids cited in it."""

    text: str
    cited: tuple[str, ...]


def _segments(text: str) -> list[str | list[str]]:
    """The answer as text pieces and citation groups (lists of ids), in order."""
    out: list[str | list[str]] = []
    position = 0
    for match in _GROUP.finditer(text):
        ids = citation_ids(match.group(1))
        if ids is None:
            continue
        out += [text[position : match.start()], ids]
        position = match.end()
    out.append(text[position:])
    return out


def cited_sentences(answer: str | None) -> list[CitedSentence]:
    """The sentences of ``answer`` with the citations each carries.

    A citation supports the sentence it sits in (``X was born in 1957 [doc: a].``); a group
    that opens a sentence, right after the previous one ended (``X was born in 1957. [doc: a]``),
    belongs to that previous sentence. Sentences end at ``.``/``!``/``?`` followed by
    whitespace, and at line breaks (bullets and one-fact lines)."""
    if not answer:
        return []
    sentences: list[tuple[str, list[str]]] = []
    text, cited = "", list[str]()  # the sentence being read

    def close() -> None:
        nonlocal text, cited
        if text.strip():
            sentences.append((" ".join(text.split()), cited))
        elif cited and sentences:  # only citations: the previous sentence's
            sentences[-1][1].extend(cited)
        text, cited = "", []

    for segment in _segments(answer):
        if isinstance(segment, list):
            if not text.strip() and sentences:
                sentences[-1][1].extend(segment)
            else:
                cited.extend(segment)
                if text.rstrip().endswith((".", "!", "?")):  # "... old.[doc: a] Next": it ended
                    close()
            continue
        parts = _SENTENCE_END.split(segment)
        for index, part in enumerate(parts):
            text += part
            if index < len(parts) - 1:
                close()
    close()
    return [CitedSentence(t, tuple(dict.fromkeys(ids))) for t, ids in sentences]
