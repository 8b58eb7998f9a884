"""Ground a search query in the world: which entities it names, and what is true about them.

Simulated search engines (:mod:`searchgym.search.simulated`) must never invent a fact about the
asked entity. They start here: :class:`Grounder` finds the entities a query mentions (names and
aliases, case-insensitive, longest match first) and returns their facts rendered as short true
statements, plus *look-alike* entities (names one letter apart, or ``Entity.look_alike_of``) that
serve as controlled noise: true statements about a *different* entity with a confusable name.

Matching is a token n-gram lookup in a dict of normalised names built once per world, so a query
costs O(tokens x longest name), not O(entities). Look-alikes by edit distance are computed
lazily per entity (within its type, with a length filter) and memoised.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from searchgym.corpus.realize import Reference, format_value, render
from searchgym.types import Fact
from searchgym.world.choices import plain_choices
from searchgym.world.world import World

__all__ = [
    "Grounder",
    "Grounding",
    "Mention",
    "edit_distance",
    "fact_supported",
    "get_grounder",
    "normalize",
    "relation_vocabulary",
    "render_fact",
    "tokenize",
]

_NON_WORD = re.compile(r"[^0-9a-z]+")
# Single-token "names" that are ordinary words would match everyday queries; the generated
# names are invented words, but a custom schema could produce these.
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "by",
        "and",
        "or",
        "is",
        "was",
        "were",
        "be",
        "who",
        "what",
        "which",
        "when",
        "where",
        "how",
        "why",
        "did",
        "does",
        "do",
        "with",
        "from",
        "as",
        "it",
        "its",
        "this",
        "that",
    ]
)


def normalize(text: str) -> str:
    """Lower-case, accents stripped, every run of non-alphanumerics turned into one space."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return _NON_WORD.sub(" ", text).strip()


def tokenize(text: str) -> list[str]:
    return normalize(text).split()


def edit_distance(a: str, b: str, limit: int | None = None) -> int:
    """Levenshtein distance; with ``limit``, any value above it is reported as ``limit + 1``."""
    if a == b:
        return 0
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    distance = previous[-1]
    return distance if limit is None or distance <= limit else limit + 1


def _value_text(value: object) -> str:
    return format_value(value)  # type: ignore[arg-type]


def render_fact(world: World, fact: Fact) -> str:
    """A fact as one short, true sentence (its first sentence template in the schema's wording)."""
    wording = world.schema.wording
    if wording is None:
        raise ValueError(f"schema {world.schema.name!r} has no wording: load it with load_schema()")
    subject = world.name(fact.subject)
    if fact.is_relation:
        template = wording.relations[fact.relation].forward[0]
        slots = {"o": world.name(str(fact.object))}
    else:
        template = wording.attributes[fact.relation].sentences[0]
        slots = {"v": _value_text(fact.object)}
    return render(plain_choices(template, wording.lexicon), Reference(subject, subject, "it"), "name", slots)


_PLACEHOLDER = re.compile(r"\{[a-z_0-9]+\}")
_GENERIC = _STOPWORDS | frozenset(
    ["how", "many", "much", "are", "has", "have", "had", "its", "their", "there", "also", "one", "person", "they"]
)


def relation_vocabulary(world: World, relation: str) -> frozenset[str]:
    """Words that signal ``relation`` (or an attribute) in a query: its name and every sentence,
    noun phrase and question of its wording (``founded_year`` -> founded, established, year, ...)."""
    key = (world.schema.name, world.schema_hash, relation)
    cached = _VOCABULARY.get(key)
    if cached is None:
        wording = world.schema.wording
        texts = [relation.replace("_", " ")]
        if wording is not None and relation in wording.relations:
            words = wording.relations[relation]
            texts += [
                *words.forward,
                *words.forward_list,
                *words.inverse_one,
                *words.inverse_list,
                *words.inverse_notable,
                *words.noun,
                *words.question,
                *words.inverse_noun,
                *words.inverse_question,
            ]
        elif wording is not None and relation in wording.attributes:
            words_a = wording.attributes[relation]
            texts += [*words_a.sentences, *words_a.question]
        tokens = {w for text in texts for w in tokenize(_PLACEHOLDER.sub(" ", text))}
        cached = _VOCABULARY[key] = frozenset(w for w in tokens - _GENERIC if len(w) > 1)
    return cached


_VOCABULARY: dict[tuple[str, str, str], frozenset[str]] = {}


def _surface_forms(world: World, entity_id: str) -> list[str]:
    entity = world.entity(entity_id)
    return [entity.name, *entity.aliases]


def _object_forms(world: World, fact: Fact) -> list[str]:
    if fact.is_relation:
        return _surface_forms(world, str(fact.object))
    forms = {str(fact.object), _value_text(fact.object)}
    return sorted(forms)


def _contains(normalized_text: str, phrase: str) -> bool:
    key = normalize(phrase)
    return bool(key) and f" {key} " in f" {normalized_text} "


def fact_supported(world: World, fact: Fact, text: str) -> bool:
    """Whether ``text`` names the fact's subject and its object (name, alias or value).

    The cheap check used on LLM-written documents: it cannot prove the sentence *states* the
    fact, but a document lacking either string certainly does not.
    """
    normalized = normalize(text)
    return any(_contains(normalized, s) for s in _surface_forms(world, fact.subject)) and any(
        _contains(normalized, o) for o in _object_forms(world, fact)
    )


@dataclass(frozen=True)
class Mention:
    entity_id: str
    surface: str  # the normalised name or alias that matched
    start: int  # token offsets in the normalised query
    end: int


@dataclass(frozen=True)
class Grounding:
    """What the world says about a query: mentioned entities, their facts, their look-alikes."""

    query: str
    mentions: tuple[Mention, ...]
    facts: tuple[Fact, ...]
    statements: tuple[str, ...]  # one per fact, same order
    look_alikes: tuple[str, ...]  # entity ids, never one of the mentioned entities
    fuzzy: bool = False  # mentions found by edit distance (a typo in the query), not exactly

    @property
    def entity_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.entity_id for m in self.mentions))


class Grounder:
    """Entity linking and fact look-up for one world (build once, share; thread-safe reads)."""

    def __init__(self, world: World, *, max_edit_distance: int = 2, max_facts_per_entity: int = 40) -> None:
        self.world = world
        self.max_edit_distance = int(max_edit_distance)
        self.max_facts_per_entity = int(max_facts_per_entity)
        self._names: dict[tuple[str, ...], list[str]] = defaultdict(list)
        by_name: dict[str, str] = {}
        for entity in world.entities.values():
            for form in (entity.name, *entity.aliases):
                key = tuple(tokenize(form))
                if not key or (len(key) == 1 and key[0] in _STOPWORDS):
                    continue
                if entity.id not in self._names[key]:
                    self._names[key].append(entity.id)
            by_name.setdefault(normalize(entity.name), entity.id)
        self._max_tokens = max((len(key) for key in self._names), default=1)
        # Declared look-alikes: ``look_alike_of`` holds the *name* of the original entity.
        self._declared: dict[str, set[str]] = defaultdict(set)
        for entity in world.entities.values():
            if entity.look_alike_of:
                original = by_name.get(normalize(entity.look_alike_of))
                if original is not None and original != entity.id:
                    self._declared[entity.id].add(original)
                    self._declared[original].add(entity.id)
        self._type_names: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for entity in world.entities.values():
            self._type_names[entity.type].append((normalize(entity.name), entity.id))
        self._lock = threading.Lock()
        self._look_alike_memo: dict[str, tuple[str, ...]] = {}

    # -- entity linking ------------------------------------------------------------------------
    def mentions(self, query: str) -> list[Mention]:
        """Entities named in ``query``: all exact n-gram matches, longest first, non-overlapping,
        returned in query order."""
        tokens = tokenize(query)
        found: list[tuple[int, int, tuple[str, ...]]] = []
        for start in range(len(tokens)):
            for length in range(min(self._max_tokens, len(tokens) - start), 0, -1):
                key = tuple(tokens[start : start + length])
                if key in self._names:
                    found.append((start, start + length, key))
        found.sort(key=lambda item: (-(item[1] - item[0]), item[0]))
        taken = [False] * len(tokens)
        chosen: list[Mention] = []
        for start, end, key in found:
            if any(taken[start:end]):
                continue
            for index in range(start, end):
                taken[index] = True
            for entity_id in self._names[key]:
                chosen.append(Mention(entity_id, " ".join(key), start, end))
        chosen.sort(key=lambda m: (m.start, m.entity_id))
        return chosen

    def fuzzy_mentions(self, query: str) -> list[Mention]:
        """Typo-tolerant fallback: query n-grams within ``max_edit_distance`` of a name with the
        same number of tokens (only n-grams of capitalised-looking length >= 4 characters)."""
        if self.max_edit_distance <= 0:
            return []
        tokens = tokenize(query)
        by_length = self._names_by_token_count()
        best: list[tuple[int, int, int, str, str]] = []
        for length, names in by_length.items():
            for start in range(len(tokens) - length + 1):
                gram = " ".join(tokens[start : start + length])
                if len(gram) < 4 or all(t in _STOPWORDS for t in tokens[start : start + length]):
                    continue
                for name, entity_ids in names:
                    limit = 1 if len(name) < 8 else self.max_edit_distance
                    distance = edit_distance(gram, name, limit)
                    if distance <= limit:
                        for entity_id in entity_ids:
                            best.append((distance, -length, start, entity_id, name))
        best.sort()
        taken: set[int] = set()
        chosen: list[Mention] = []
        for _distance, negative_length, start, entity_id, name in best:
            span = set(range(start, start - negative_length))
            if span & taken:
                continue
            taken |= span
            chosen.append(Mention(entity_id, name, start, start - negative_length))
        chosen.sort(key=lambda m: (m.start, m.entity_id))
        return chosen

    def _names_by_token_count(self) -> dict[int, list[tuple[str, list[str]]]]:
        memo = getattr(self, "_by_count", None)
        if memo is None:
            memo = defaultdict(list)
            for key, ids in self._names.items():
                memo[len(key)].append((" ".join(key), ids))
            self._by_count = memo
        return memo

    # -- facts ---------------------------------------------------------------------------------
    def facts_of(self, entity_id: str) -> list[Fact]:
        """Attribute facts, then relation facts (as subject or object), capped per entity."""
        facts = self.world.attribute_facts(entity_id) + self.world.relation_facts(entity_id)
        return facts[: self.max_facts_per_entity]

    def look_alikes(self, entity_id: str, limit: int = 3) -> tuple[str, ...]:
        """Entities easily confused with ``entity_id``: declared look-alikes first, then same-type
        names within the edit-distance budget (closest first, ties by id)."""
        with self._lock:
            cached = self._look_alike_memo.get(entity_id)
        if cached is None:
            entity = self.world.entity(entity_id)
            own = normalize(entity.name)
            scored: list[tuple[int, str]] = []
            for name, other in self._type_names[entity.type]:
                if other == entity_id:
                    continue
                distance = edit_distance(own, name, self.max_edit_distance)
                if distance <= self.max_edit_distance:
                    scored.append((distance, other))
            declared = sorted(self._declared.get(entity_id, ()))
            ranked = declared + [other for _, other in sorted(scored) if other not in declared]
            cached = tuple(ranked)
            with self._lock:
                self._look_alike_memo[entity_id] = cached
        return cached[:limit]

    def ground(self, query: str, *, fuzzy: bool = True, look_alike_limit: int = 3) -> Grounding:
        """Mentions of ``query`` (exact, else fuzzy), their facts as true statements, look-alikes."""
        mentions = self.mentions(query)
        used_fuzzy = False
        if not mentions and fuzzy:
            mentions = self.fuzzy_mentions(query)
            used_fuzzy = bool(mentions)
        entity_ids = list(dict.fromkeys(m.entity_id for m in mentions))
        facts: list[Fact] = []
        seen: set[str] = set()
        for entity_id in entity_ids:
            for fact in self.facts_of(entity_id):
                if fact.fact_id not in seen:
                    seen.add(fact.fact_id)
                    facts.append(fact)
        look: list[str] = []
        for entity_id in entity_ids:
            for other in self.look_alikes(entity_id, look_alike_limit):
                if other not in entity_ids and other not in look:
                    look.append(other)
        return Grounding(
            query=query,
            mentions=tuple(mentions),
            facts=tuple(facts),
            statements=tuple(render_fact(self.world, fact) for fact in facts),
            look_alikes=tuple(look),
            fuzzy=used_fuzzy,
        )

    def statements(self, facts: Iterable[Fact]) -> list[str]:
        return [render_fact(self.world, fact) for fact in facts]

    def supported_facts(self, text: str, facts: Sequence[Fact]) -> list[str]:
        """Ids of the ``facts`` whose subject and object both appear in ``text``."""
        return [fact.fact_id for fact in facts if fact_supported(self.world, fact, text)]


_GROUNDERS: dict[str, Grounder] = {}
_GROUNDERS_LOCK = threading.Lock()


def get_grounder(world: World) -> Grounder:
    """One :class:`Grounder` per world in this process (keyed by ``world_id``).

    A grounder made for another object of the same world is replaced: a cold build generates
    its tasks on the generator's world, then hands out the compact one read back from its
    column file (:func:`searchgym.bundle.build_bundle`); keeping the first grounder would keep
    the generator's world alive beside it."""
    with _GROUNDERS_LOCK:
        grounder = _GROUNDERS.get(world.world_id)
        if grounder is None or grounder.world is not world:  # same id, same world: either one answers alike
            grounder = Grounder(world)
            _GROUNDERS[world.world_id] = grounder
        return grounder
