"""Read the factual claims a sentence makes about world entities, without a judge model.

The long-form grader (:mod:`searchgym.nuggets`) must tell whether a free-text sentence states
a fact of the world graph, and whether it states something the graph contradicts. Because the
world is known completely, a *grounding matcher* suffices: a claim is an
``(entity, aspect, value)`` triple found in one sentence from three kinds of evidence,

* **entity names** (and aliases), found by the world's :class:`~searchgym.search.grounding.Grounder`;
* **aspect cues**: the words the schema's wording uses for a relation or attribute (its page
  sentences, its question words, and its deep-research aspect noun and phrases: "born",
  "birthplace", "mentor", "employees", ...);
* **values**: numbers (not after "about"/"around", nor decimals: approximations claim nothing
  exact; an attribute's range for the subject's type decides which aspect a number fills, and a
  number outside every range is a false claim of the nearest one), category labels ("painter", "noir"),
  and entity names of the type the relation links to.

Each value is attached to one aspect: a category label to the attribute that owns it (no cue
needed: labels are specific), a number or an entity to the aspect whose cue is nearest in the
sentence, among those whose range or types admit it. The claim's *subject* is the profile's
subject when the sentence opens with a pronoun ("She was born in 1957"), else the first named
entity whose type has the aspect (other than the value), else the profile's subject. A
relation claim is true when the graph links the two entities by that relation in either
direction ("the mentor of X is Y" and "Y mentored X" read the same); an attribute claim is
true when the subject's attribute has exactly that value.

What it does not do, on purpose: parse negation, tense or hedges ("X was not born in 1957"
reads as the claim), or resolve a pronoun to anything but the profile's subject. Its errors
only ever *withhold* credit from unusual phrasings; they never create credit, which needs the
exact value next to a cue of the nugget's aspect (see :mod:`searchgym.nuggets`).
"""

from __future__ import annotations

import re
import weakref
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from searchgym.claim_templates import fact_patterns
from searchgym.search.grounding import get_grounder, relation_vocabulary, tokenize
from searchgym.types import Literal
from searchgym.world.world import World

__all__ = ["Claim", "ClaimReader", "claim_reader"]

# The word tables stay wrapped (one word per line would triple this file):
# fmt: off
_PRONOUNS = frozenset(["he", "she", "it", "they", "his", "her", "its", "their"])
_APPROXIMATE = frozenset(["about", "around", "approximately", "roughly", "nearly", "some", "over", "almost",
                          "circa", "under", "than"])
# Words of the wording files that say nothing about *which* fact a sentence states (narrative
# filler of page templates): never cues. Words in the wording of many aspects are dropped too
# (:data:`_SHARED`), except an aspect's own noun ("city" stays the cue of a university's city).
_GENERIC = frozenset([
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "by", "and", "or", "is", "was", "were", "be", "been",
    "as", "its", "it", "with", "from", "who", "that", "which", "what", "are", "has", "have", "had", "there",
    "their", "one", "name", "how", "many", "much", "when", "where", "did", "does", "do", "year", "years", "people",
    "person", "number", "total", "also", "s", "time", "called", "known", "after", "among", "back", "before",
    "being", "came", "come", "comes", "during", "into", "near", "since", "than", "rather", "so", "most", "best",
    "some", "only", "over", "under", "up", "out", "own", "old", "few", "first", "last", "long", "small", "large",
    "little", "single", "several", "these", "those", "others", "other", "whom", "whose", "often", "usually",
    "widely", "wide", "day", "place", "set", "made", "done", "took", "take", "takes", "give", "given", "gives",
    "saw", "put", "said", "noted", "listed", "list", "lists", "recorded", "records", "record", "according",
    "official", "account", "part", "full", "current", "currently", "today", "main", "major", "leading", "notable",
    "include", "includes", "including", "within", "without", "against", "kept", "light", "close", "family", "house",
    "home", "spring", "summer", "autumn", "winter", "world", "market", "means", "hard", "easy", "difficult",
    "public", "modest", "chance", "handful", "meeting", "money", "circle", "clients", "choice", "life", "living",
    "office", "necessity", "inclination", "miss", "spot", "stage", "shoes", "stockinged", "crowd", "cuts",
    "document", "events", "familiar", "figure", "group", "identity", "measurements", "mentioned", "overlooked",
    "photographs", "rarely", "reaches", "recognise", "reported", "papers", "parish", "register", "registers",
    "registry", "shows", "youngest", "child", "civil", "entered", "river", "valley", "fertile", "northern",
    "navigable", "border", "budget", "tight", "story", "shot", "original", "summer", "considerable", "expense",
    "charge", "handled", "managed", "overseen", "seen", "names", "memorable", "principal", "central", "counts",
    "count", "lies", "lie", "traces", "dates", "goes", "beginnings", "circumstances", "planning", "started",
    "created", "expectations", "mixed", "wait", "ordinary", "version", "final", "prints", "sit", "touch", "manner",
    "unusual", "kind", "guides", "index", "catalogues", "archive", "ambition", "critics", "reviewers", "audiences",
    "audience", "goers", "houses", "crowded", "opened", "reached"
])
# fmt: on
_SHARED = 4  # a word in the cues of this many aspects or more is no cue
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])")


@dataclass(frozen=True)
class Claim:
    """One claim a sentence makes: ``subject``'s ``key`` (an attribute or relation) is
    ``value`` (a literal, or an entity id for a relation), and whether the world agrees."""

    subject: str
    key: str
    value: Literal
    true: bool


@dataclass
class _Aspect:
    key: str
    relation: bool
    cues: frozenset[str]
    types: frozenset[str]  # attribute: the types that have it; relation: its two end types
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)  # numeric attribute, per type
    ends: tuple[str, str] = ("", "")  # relation: (source type, target type)


def _words(texts: list[str]) -> set[str]:
    return {w for text in texts for w in tokenize(re.sub(r"\{[a-z_0-9]+\}", " ", text))}


class ClaimReader:
    """Claims of sentences about one world's entities (build once per world: :func:`claim_reader`)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.grounder = get_grounder(world)
        self.patterns = fact_patterns(world)
        deep = getattr(world.schema.wording, "deep", None)
        self.aspects: dict[str, _Aspect] = {}
        nouns: dict[str, set[str]] = {}  # each aspect's own noun words ("birth", "year" of "birth year")
        self.labels: dict[tuple[str, ...], list[str]] = defaultdict(list)  # category label tokens -> attributes
        for entity_type in world.schema.entity_types:
            for spec in entity_type.attributes:
                aspect = self.aspects.get(spec.name)
                if aspect is None:
                    texts = [spec.name.replace("_", " ")]
                    if deep is not None and spec.name in deep.attributes:
                        words = deep.attributes[spec.name]
                        texts += [words.aspect, *words.modifier, *words.plural]
                    cues = (_words(texts) | relation_vocabulary(world, spec.name)) - _GENERIC
                    aspect = self.aspects[spec.name] = _Aspect(spec.name, False, frozenset(cues), frozenset())
                    nouns[spec.name] = _words([deep.attributes[spec.name].aspect]) if deep is not None else set()
                aspect.types = aspect.types | {entity_type.name}
                if spec.kind in ("year", "number") and spec.min is not None and spec.max is not None:
                    aspect.ranges[entity_type.name] = (spec.min, spec.max)
                for label in spec.values if spec.kind == "category" else ():
                    if spec.name not in self.labels[tuple(tokenize(label))]:
                        self.labels[tuple(tokenize(label))].append(spec.name)
        for relation in world.schema.relations:
            texts = [relation.name.replace("_", " ")]
            if deep is not None and relation.name in deep.relations:
                words_r = deep.relations[relation.name]
                texts += [words_r.aspect, words_r.inverse_aspect, *words_r.forward, *words_r.inverse]
            cues = (_words(texts) | relation_vocabulary(world, relation.name)) - _GENERIC
            self.aspects[relation.name] = _Aspect(
                relation.name,
                True,
                frozenset(cues),
                frozenset((relation.source, relation.target)),
                ends=(relation.source, relation.target),
            )
            if deep is not None and relation.name in deep.relations:
                nouns[relation.name] = _words(
                    [deep.relations[relation.name].aspect, deep.relations[relation.name].inverse_aspect]
                )
        spread = Counter(word for aspect in self.aspects.values() for word in aspect.cues)
        for key, aspect in self.aspects.items():
            aspect.cues = frozenset(w for w in aspect.cues if spread[w] < _SHARED or w in nouns.get(key, ()))
        self._longest_label = max((len(k) for k in self.labels), default=1)

    # -- truth --------------------------------------------------------------------------------
    def holds(self, subject: str, key: str, value: Literal) -> bool:
        """Whether the world states ``subject``'s ``key`` is ``value`` (relations: either way)."""
        if self.aspects[key].relation:
            value = str(value)
            return value in self.world.targets(subject, key) or subject in self.world.targets(value, key)
        actual = self.world.entity(subject).attributes.get(key)
        if isinstance(actual, str) and isinstance(value, str):
            return tokenize(actual) == tokenize(value)
        return actual == value

    # -- reading ------------------------------------------------------------------------------
    def claims(self, sentence: str, subject: str | None = None) -> list[Claim]:
        """Every claim ``sentence`` makes (``subject``: the profile's subject, or None)."""
        tokens = tokenize(sentence)
        if not tokens:
            return []
        mentions = self._mentions(sentence, subject)
        masked = [False] * len(tokens)
        for start, end, _ in mentions:
            masked[start:end] = [True] * (end - start)
        for position in self.patterns.aside_positions(sentence):  # "according to an amateur historian"
            if position < len(masked):
                masked[position] = True
        cues: dict[str, list[int]] = defaultdict(list)
        for index, token in enumerate(tokens):
            if not masked[index]:
                for key, aspect in self.aspects.items():
                    if token in aspect.cues:
                        cues[key].append(index)
        slots = self.patterns.slots(sentence, tokens)  # a fact sentence of the wording names its aspects
        for position, key in slots.items():
            cues[key].append(position)
        pronoun = tokens[0] in _PRONOUNS and not (mentions and mentions[0][0] == 0)
        subjects = [] if pronoun else [entity for _, _, entity in mentions]
        if subject is not None and subject not in subjects:
            subjects.append(subject)  # the profile's subject, named or not
        values: list[tuple[int, Literal, list[str]]] = []  # (position, value, aspects it may fill)
        values += self._labels(tokens, masked)
        values += [
            (position, number, [k for k in cues if self.aspects[k].ranges])
            for position, number in self._numbers(sentence, set(slots))
        ]
        values += [
            (
                start,
                entity,
                [
                    k
                    for k in cues
                    if self.aspects[k].relation and self.world.entity(entity).type in self.aspects[k].types
                ],
            )
            for start, _, entity in mentions
        ]
        out: dict[tuple[str, frozenset[Literal]], Claim] = {}
        for position, value, keys in values:
            for claim in self._read(position, value, keys, cues, subjects):
                # a relation claim is about a pair: "X's mentor is Y" claims it once, from either side
                relation = self.aspects[claim.key].relation
                pair = frozenset((claim.subject, value)) if relation else frozenset((value,))
                out.setdefault((claim.key if relation else f"{claim.key}|{claim.subject}", pair), claim)
        return list(out.values())

    def _read(
        self, position: int, value: Literal, keys: list[str], cues: dict[str, list[int]], subjects: list[str]
    ) -> list[Claim]:
        """The claims a value makes. Its readings (aspect by nearest cue, then subject in order
        of mention): every one the world confirms ("the country of X is Y" when X is Y's
        capital: both located_in and capital_of), else the first, as a false claim. Reading
        charitably only decides *which* true statements a value makes; a value true under no
        reading stays a contradiction, so it never turns a false claim into a true one."""
        order = sorted(keys, key=lambda k: (min((abs(p - position) for p in cues.get(k, ())), default=0), k))
        readings = [(key, owner) for key in order for owner in subjects if self._admits(key, owner, value)]
        if not readings and isinstance(value, int):  # a number no range admits is still a (false) claim
            readings = [
                (key, owner) for key in order for owner in subjects if self._admits(key, owner, value, ranged=False)
            ]
        if not readings:
            return []
        true = [Claim(owner, key, value, True) for key, owner in readings if self.holds(owner, key, value)]
        key, owner = readings[0]
        return true or [Claim(owner, key, value, False)]

    def _admits(self, key: str, owner: str, value: Literal, ranged: bool = True) -> bool:
        """Whether ``owner`` can have ``value`` under ``key`` (types, and ranges of numbers)."""
        aspect = self.aspects[key]
        kind = self.world.entity(owner).type
        if owner == value or kind not in aspect.types:
            return False
        if aspect.relation:
            return self._fits(key, owner, str(value))
        if isinstance(value, int) and aspect.ranges:
            low, high = aspect.ranges.get(kind, (1, 0))
            return low <= value <= high or (not ranged and kind in aspect.ranges)
        return True

    def _mentions(self, sentence: str, subject: str | None) -> list[tuple[int, int, str]]:
        """Named entities as (start, end, entity id); an ambiguous name counts only as the
        profile's subject when it is one of its readings."""
        spans: dict[tuple[int, int], list[str]] = defaultdict(list)
        for mention in self.grounder.mentions(sentence):
            spans[(mention.start, mention.end)].append(mention.entity_id)
        out = []
        for (start, end), entities in sorted(spans.items()):
            if len(entities) == 1:
                out.append((start, end, entities[0]))
            elif subject in entities:
                out.append((start, end, subject))
        return out

    def _labels(self, tokens: list[str], masked: list[bool]) -> list[tuple[int, Literal, list[str]]]:
        found: list[tuple[int, Literal, list[str]]] = []
        index = 0
        while index < len(tokens):
            for length in range(min(self._longest_label, len(tokens) - index), 0, -1):
                key = tuple(tokens[index : index + length])
                if key in self.labels and not any(masked[index : index + length]):
                    found.append((index, " ".join(key), list(self.labels[key])))
                    index += length - 1
                    break
            index += 1
        return found

    @staticmethod
    def _numbers(sentence: str, exact: set[int]) -> list[tuple[int, int]]:
        """Exact integers of the sentence with their token positions (not approximations, unless
        a fact sentence of the wording puts the number in a value slot: "extends over 9177
        square kilometres" states the area)."""
        found = []
        for match in _NUMBER.finditer(sentence):
            before = tokenize(sentence[: match.start()])
            text = match.group(0).replace(",", "")
            if (before and before[-1] in _APPROXIMATE and len(before) not in exact) or "." in text:
                continue  # "about 290,000", "1.2 million": approximations claim no exact value
            found.append((len(before), int(text)))
        return found

    def _fits(self, key: str, one: str, other: str) -> bool:
        """Whether the two entities' types are the relation's two ends (in some order)."""
        if one == other or other not in self.world.entities:
            return False
        source, target = self.aspects[key].ends
        types = (self.world.entity(one).type, self.world.entity(other).type)
        return types in ((source, target), (target, source))


_READERS: weakref.WeakKeyDictionary[World, ClaimReader] = weakref.WeakKeyDictionary()


def claim_reader(world: World) -> ClaimReader:
    """One :class:`ClaimReader` per world object (built on first use)."""
    reader = _READERS.get(world)
    if reader is None:
        reader = _READERS[world] = ClaimReader(world)
    return reader
