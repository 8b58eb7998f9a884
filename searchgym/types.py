"""Plain data records shared by every layer of searchgym.

They are frozen dataclasses of JSON-friendly values so that a world, its corpus and its tasks
can be written to disk, hashed, sent over HTTP or shipped to a Ray worker without pickling.
Everything that is *generated* (worlds, passages, tasks) is made of these records, which is what
makes "same schema + seed ⇒ byte-identical output" checkable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

Literal = str | int | float
"""An attribute value: a year, a number or a category label."""

_Record = TypeVar("_Record")


def filled(cls: type[_Record], **fields: Any) -> _Record:
    """An instance of the frozen dataclass ``cls`` (without slots) made by filling its
    ``__dict__`` with every field: the same object as ``cls(**fields)`` (fields, equality, hash,
    pickling) without ``__init__``'s ``object.__setattr__`` per field, which was a third of
    loading 157k passages from columns. For loaders of records that were checked when written."""
    instance = object.__new__(cls)
    instance.__dict__.update(fields)
    return instance


@dataclass(frozen=True, order=True)
class Fact:
    """One triple of the world: ``subject --relation--> object``.

    ``object`` is an entity id when ``is_relation`` is true, else a literal attribute value.
    ``fact_id`` is the stable string key used for provenance and evidence bookkeeping.
    """

    subject: str
    relation: str
    object: Literal
    is_relation: bool = True

    @property
    def fact_id(self) -> str:
        return f"{self.subject}|{self.relation}|{self.object}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fact:
        return cls(**data)


@dataclass(frozen=True)
class Passage:
    """A retrievable unit of the corpus (about 100 words).

    ``facts`` is the provenance: the ids of the world facts this passage states. Distractor
    passages have ``kind == "distractor"`` and state no asked fact.
    """

    doc_id: str
    title: str
    text: str
    entity_id: str | None = None
    section: str = ""
    facts: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    kind: str = "page"

    @property
    def contents(self) -> str:
        """The Search-R1 ``contents`` field: a quoted title line, then the text."""
        return f'"{self.title}"\n{self.text}'

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["facts"] = list(self.facts)
        data["mentions"] = list(self.mentions)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Passage:
        data = dict(data)
        data["facts"] = tuple(data.get("facts", ()))
        data["mentions"] = tuple(data.get("mentions", ()))
        return cls(**data)


@dataclass(frozen=True)
class Hit:
    """One search result: a passage id, its rank score, and what the agent is shown."""

    doc_id: str
    score: float
    title: str
    text: str

    @property
    def contents(self) -> str:
        return f'"{self.title}"\n{self.text}'


@dataclass(frozen=True)
class HopStep:
    """One step of a task's gold reasoning chain (a fact the agent must find)."""

    subject: str
    relation: str
    object: Literal
    fact_id: str


@dataclass(frozen=True)
class Task:
    """A verified question with a unique answer.

    ``chain`` is the gold facts in reasoning order. ``evidence`` holds, for each *evidence unit*,
    the ids of all passages that state it; retrieving any one of them is enough. A unit is one
    gold fact, except for counting, whose single unit is the complete list (so neither the
    number of units nor evidence recall reveals the count). ``gold_passages`` is the ordered,
    de-duplicated list of canonical evidence passages (one per unit, preferably the subject's
    own page).

    ``hops`` counts dependent reasoning steps (a k-hop chain: k; a comparison: 1, its two
    look-ups being parallel; a bridge comparison: 2). ``min_searches`` is *measured*: the fewest
    retrieval calls (searches, and page opens where the env allows ``<access>``) a
    knowledge-free agent needs with the generation engine and top-k to retrieve every unit
    (:mod:`searchgym.tasks.depth`).
    """

    task_key: str
    task_type: str
    question: str
    answer: str
    aliases: tuple[str, ...]
    hops: int
    chain: tuple[HopStep, ...]
    topic_entities: tuple[str, ...]
    evidence: tuple[tuple[str, ...], ...]
    gold_passages: tuple[str, ...]
    split: str
    world_id: str
    min_searches: int = 0
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def answers(self) -> tuple[str, ...]:
        """The answer followed by its aliases: every string that counts as correct."""
        return (self.answer, *self.aliases)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["aliases"] = list(self.aliases)
        data["chain"] = [asdict(step) for step in self.chain]
        data["topic_entities"] = list(self.topic_entities)
        data["evidence"] = [list(ids) for ids in self.evidence]
        data["gold_passages"] = list(self.gold_passages)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        data = dict(data)
        data["aliases"] = tuple(data["aliases"])
        data["chain"] = tuple(HopStep(**step) for step in data["chain"])
        data["topic_entities"] = tuple(data["topic_entities"])
        data["evidence"] = tuple(tuple(ids) for ids in data["evidence"])
        data["gold_passages"] = tuple(data["gold_passages"])
        data["meta"] = dict(data.get("meta", {}))
        return cls(**data)
