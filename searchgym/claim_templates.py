"""The wording's own fact sentences as patterns: where a sentence follows one, which value
positions fill which aspect.

The cue reader of :mod:`searchgym.claims` attaches a value to the aspect whose cue word is
nearest; its cue words are the words of each aspect's wording less the narrative filler that
many aspects share. Some fact sentences of the corpus are made *only* of such filler ("Grernonia
traces its beginnings to 1539", "X first saw the light of day in Y", "21 people work for Z", "It
extends over 9177 square kilometres", where "over" also reads as an approximation), and some
state two facts at once ("After studying at U, X joined W": the combos of the wording; the leads,
"X (b. 1946) is a chemist"). An honest
agent that copies such a sentence from a passage would get no credit for it. So every fact
sentence of the wording is also compiled into a pattern: where a sentence follows one (anywhere
in it, since pages add attributions around facts: "..., according to a local museum"), each
value slot of the pattern names the aspect of what fills it.

A pattern only says *which aspect* a value fills; whether the claim is true is still decided by
the graph (:meth:`searchgym.claims.ClaimReader.holds`), so a pattern never turns a false claim
into a true one, and a hedge in a slot ("was born in A or B") still puts two values under one
aspect, which states nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from searchgym.search.grounding import tokenize
from searchgym.world.world import World

__all__ = ["FactPatterns", "fact_patterns"]

_SLOT = re.compile(r"\{([a-z_0-9]+)\}")
_SUBJECT_SLOTS = frozenset(["s", "s_pos", "x", "name", "t_pos"])  # the page's entity: not a value
_NUMBER_SLOT = r"(?P<{name}>\d[\d,]*)"  # a year or a number
_WORDS_SLOT = r"(?P<{name}>[^,.;:()\[\]\d]+?)"  # a name or a label: words without digits
_FILL = r"(?:[^.;]+?)"  # a subject slot: a name, a pronoun or a description ("The university")


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    slots: tuple[tuple[str, str], ...]  # (group name, aspect key)
    words: frozenset[str]  # literal tokens that every sentence following it contains


def _alternatives(template: str) -> str:
    """``[a|b]`` choices as regex alternations (slots inside them stay slots)."""
    out, depth = [], 0
    for char in template:
        if char == "[":
            out.append("\x00(")
            depth += 1
        elif char == "]" and depth:
            out.append("\x00)")
            depth -= 1
        elif char == "|" and depth:
            out.append("\x00|")
        else:
            out.append(char)
    return "".join(out)


def _compile(template: str, key_of: dict[str, str], numeric: frozenset[str]) -> _Pattern | None:
    """The pattern of one template; ``key_of`` maps its value slots to aspect keys (``v``/``o``
    to the fact's own key, combo slots to themselves), ``numeric`` names the keys whose values
    are numbers (their slots take digits only, the others none, so "a {genre} film" does not
    swallow the year of "a 1944 thriller film"). None when it has no value slot."""
    marked = _alternatives(template.strip().rstrip("."))
    parts: list[str] = []
    slots: list[tuple[str, str]] = []
    words: set[str] = set()
    optional = 0
    for piece in re.split(r"(\x00[()|]|\{[a-z_0-9]+\})", marked):
        if not piece:
            continue
        if piece.startswith("\x00"):
            parts.append({"(": "(?:", ")": ")", "|": "|"}[piece[1]])
            optional += {"(": 1, ")": -1}.get(piece[1], 0)
            continue
        slot = _SLOT.fullmatch(piece)
        if slot is None:
            literal = re.escape(piece)
            literal = re.sub(r"\\ ", r"\\s+", literal)
            literal = re.sub(r"(?<![A-Za-z])an?\\s\+", r"an?\\s+", literal)  # "a engineer" is written "an"
            parts.append(literal)
            if not optional:
                words.update(tokenize(piece))
            continue
        name = slot.group(1)
        if name in key_of and not optional:
            group = f"g{len(slots)}"
            slots.append((group, key_of[name]))
            parts.append((_NUMBER_SLOT if key_of[name] in numeric else _WORDS_SLOT).format(name=group))
        else:
            parts.append(_FILL)
    if not slots:
        return None
    words.discard("a")
    words.discard("an")
    regex = re.compile("".join(parts) + r"(?=\s*(?:[,.;:)]|$))", re.IGNORECASE)
    return _Pattern(regex, tuple(slots), frozenset(words))


#: the wording's attribution pools: phrases pages wrap around a fact sentence
_ASIDE_POOLS = ("fact_opener", "fact_tail")
_POOL = re.compile(r"\[@([a-z_]+)\]")


def _phrase_regex(phrase: str, lexicon: dict[str, tuple[str, ...]], memo: dict[str, str]) -> str:
    """A regex for one pool phrase, its ``[@pool]`` groups as alternations."""
    pieces = _POOL.split(phrase)  # literal, pool name, literal, ...
    return "".join(
        _pool_regex(piece, lexicon, memo) if index % 2 else re.sub(r"\\ ", r"\\s+", re.escape(piece))
        for index, piece in enumerate(pieces)
    )


def _pool_regex(name: str, lexicon: dict[str, tuple[str, ...]], memo: dict[str, str]) -> str:
    """A regex alternation of every phrase ``[@name]`` can expand to (pools nest, never in a cycle)."""
    if name not in memo:
        phrases = sorted((_phrase_regex(p, lexicon, memo) for p in lexicon[name]), key=len, reverse=True)
        memo[name] = "(?:" + "|".join(phrases) + ")"
    return memo[name]


def _asides(lexicon: dict[str, tuple[str, ...]]) -> re.Pattern[str] | None:
    """The attribution phrases of the wording ("As a local museum points out", "according to
    an amateur historian"): they say who reports a fact, never a fact about the page's entity,
    so their words ("historian") must not read as claims. Whole words only (the phrases less
    their joining commas), so a phrase never starts or ends inside a word."""
    memo: dict[str, str] = {}
    phrases = [
        _phrase_regex(phrase.strip(" ,;"), lexicon, memo)
        for name in _ASIDE_POOLS
        if name in lexicon
        for phrase in lexicon[name]
    ]
    if not phrases:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(phrases, key=len, reverse=True)) + r")(?!\w)", re.IGNORECASE)


class FactPatterns:
    """The compiled fact sentences of one world's wording, indexed by their rarest word."""

    def __init__(self, world: World) -> None:
        wording = world.schema.wording
        self._asides = _asides(dict(wording.lexicon)) if wording is not None else None
        patterns: list[_Pattern] = []
        numeric = frozenset(
            spec.name
            for entity_type in world.schema.entity_types
            for spec in entity_type.attributes
            if spec.kind in ("year", "number")
        )
        if wording is not None:
            for key, words in wording.attributes.items():
                patterns += [p for t in words.sentences if (p := _compile(t, {"v": key}, numeric))]
            for key, rel in wording.relations.items():
                for template in (*rel.forward, *rel.inverse_one):
                    if (p := _compile(template, {"o": key, "v": key}, numeric)) is not None:
                        patterns.append(p)
            for (first, second), templates in wording.combos.items():
                patterns += [p for t in templates if (p := _compile(t, {first: first, second: second}, numeric))]
            facts = {*wording.attributes, *wording.relations}  # a lead names its facts' slots by key
            for type_wording in wording.types.values():
                patterns += [p for t in type_wording.leads if (p := _compile(t, {k: k for k in facts}, numeric))]
        frequency: dict[str, int] = defaultdict(int)
        for pattern in patterns:
            for word in pattern.words:
                frequency[word] += 1
        self._by_word: dict[str, list[_Pattern]] = defaultdict(list)
        self._anywhere: list[_Pattern] = []
        for pattern in patterns:
            if pattern.words:
                self._by_word[min(pattern.words, key=lambda w: (frequency[w], w))].append(pattern)
            else:
                self._anywhere.append(pattern)

    def aside_positions(self, sentence: str) -> set[int]:
        """Token positions of ``sentence`` inside an attribution phrase of the wording."""
        if self._asides is None:
            return set()
        positions: set[int] = set()
        for match in self._asides.finditer(sentence):
            first = len(tokenize(sentence[: match.start()]))
            positions.update(range(first, first + len(tokenize(match.group(0)))))
        return positions

    def slots(self, sentence: str, tokens: list[str]) -> dict[int, str]:
        """Token positions of ``sentence`` that a matching pattern's value slots cover, each with
        the aspect key of its slot (a position two patterns read differently is left out)."""
        present = set(tokens)
        found: dict[int, set[str]] = defaultdict(set)
        candidates = [p for word in present for p in self._by_word.get(word, ())] + self._anywhere
        for pattern in candidates:
            if not pattern.words <= present:
                continue
            for match in pattern.regex.finditer(sentence):
                for group, key in pattern.slots:
                    start, end = match.span(group)
                    first = len(tokenize(sentence[:start]))
                    for position in range(first, first + len(tokenize(sentence[start:end]))):
                        found[position].add(key)
        return {position: next(iter(keys)) for position, keys in found.items() if len(keys) == 1}


_PATTERNS: dict[tuple[str, str], FactPatterns] = {}


def fact_patterns(world: World) -> FactPatterns:
    """One :class:`FactPatterns` per schema (its wording decides the patterns)."""
    key = (world.schema.name, world.schema_hash)
    if key not in _PATTERNS:
        _PATTERNS[key] = FactPatterns(world)
    return _PATTERNS[key]
