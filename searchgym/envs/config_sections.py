"""The typed sections of an env config, and the flat setting names that map onto them.

Why sections: a SearchQA env has some thirty settings that belong to different stages (what
world and corpus are built, which tasks are generated and served, what an episode allows, which
engine searches, how answers are scored). Each :class:`Section` holds one stage's settings,
checks their types and ranges when it is made, and is what that stage's code reads
(``config.episode.top_k``, ``config.search.options``).

Why flat names too: every spec file, ``gym.make(..., top_k=5)`` keyword and ``--set top_k=5``
flag written so far names settings flat. :data:`FLAT_SETTINGS` maps each flat name onto its
section field (``top_k`` -> ``episode.top_k``, ``engine`` -> ``search.engine``,
``engine_options`` -> ``search.options``, ``reward`` -> ``scoring.metric``, ``reward_terms`` ->
``scoring.terms``), and :class:`~searchgym.envs.config.EnvConfig` reads them both ways. The
engine and reward sections are called ``search`` and ``scoring`` because ``engine`` and
``reward`` already name strings (the engine's name, the outcome metric) that stay readable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from searchgym.envs.prompts import STYLES
from searchgym.tasks import ALL_TASK_TYPES, SPLITS, TASK_TYPES

__all__ = [
    "FLAT_SETTINGS",
    "REWARDS",
    "SECTIONS",
    "CorpusSection",
    "EpisodeSection",
    "ScoringSection",
    "SearchSection",
    "Section",
    "TasksSection",
    "WorldSection",
]

REWARDS = ("em", "f1", "substring_em")


def _coerce(key: str, default: Any, value: Any) -> Any:
    """``value`` for a setting whose default is ``default``: lists become tuples, ints floats;
    a value of another type is a one-line ``ValueError`` naming the (flat) key."""
    if isinstance(default, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ValueError(f"{key} must be a list, got {value!r}")
        return tuple(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {value!r}")
    elif isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{key} must be an integer, got {value!r}")
    elif isinstance(default, float):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"{key} must be a number, got {value!r}")
        return float(value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a string, got {value!r}")
    elif isinstance(default, dict):
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be a table, got {value!r}")
        return dict(value)
    return value


class Section:
    """A frozen group of settings, type-checked on construction (see the module doc)."""

    name: ClassVar[str]
    #: flat setting name of a field whose flat name differs from the field's (``reward`` -> metric)
    flat_names: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):  # type: ignore[arg-type]
            default = spec.default if spec.default_factory is dataclasses.MISSING else spec.default_factory()
            value = getattr(self, spec.name)
            object.__setattr__(self, spec.name, _coerce(self.flat_name(spec.name), default, value))
        self.check()

    @classmethod
    def flat_name(cls, field_name: str) -> str:
        return cls.flat_names.get(field_name, field_name)

    def check(self) -> None:
        """Range checks (``ValueError`` naming the flat key); types are already checked."""

    def _expect(self, checks: list[tuple[bool, str, str]]) -> None:
        for ok, key, expected in checks:
            if not ok:
                value = getattr(self, key)
                raise ValueError(f"{self.flat_name(key)}={value!r} is invalid; expected {expected}")


@dataclass(frozen=True)
class WorldSection(Section):
    """``[world]``: the world's schema, size and seed."""

    name: ClassVar[str] = "world"
    schema: str = "default"
    world_size: int = 1000
    world_seed: int = 0


@dataclass(frozen=True)
class CorpusSection(Section):
    """``[corpus]``: how the world's pages are written."""

    name: ClassVar[str] = "corpus"
    passage_words: int = 100
    distractor_ratio: float = 0.1
    writer: str = "template"  # or "llm": rewrite pages with writer_model, keep verified rewrites
    writer_model: str = "smollm2"
    writer_batch_size: int = 8


@dataclass(frozen=True)
class TasksSection(Section):
    """``[tasks]``: which tasks are generated, and which of them (split, hops) the env serves."""

    name: ClassVar[str] = "tasks"
    split: str = "train"
    hops: tuple[int, ...] = ()
    tasks_per_type: int = 200
    eval_tasks_per_type: int = 0  # validation and test tasks per stratum; 0: as tasks_per_type
    max_hops: int = 4
    depth_top_k: int = 3  # top-k of the engine that measures task depth at generation
    task_types: tuple[str, ...] = TASK_TYPES
    obfuscated_relations: tuple[int, ...] = (8, 10, 12)  # obfuscated strata: the subgraph's edge counts
    max_constraints: int = 8  # the most descriptors an obfuscated question stacks
    min_tier: int = 1  # tasks below this difficulty tier are not generated (searchgym.tasks.tiers)
    unanswerable_share: float = 0.0  # share of false-premise tasks (task type "unanswerable")
    profile_hops: tuple[int, ...] = (1,)  # profile strata: 1 names the subject, h >= 2 describes it by h - 1 relations

    def check(self) -> None:
        self._expect(
            [
                (self.split in SPLITS, "split", f"one of {SPLITS} (each split is its own world)"),
                (0 <= self.eval_tasks_per_type <= 100_000, "eval_tasks_per_type", "in [0, 100000]"),
                (1 <= self.depth_top_k <= 100, "depth_top_k", "in [1, 100]"),
                (
                    set(self.task_types) <= set(ALL_TASK_TYPES) and len(self.task_types) > 0,
                    "task_types",
                    f"a non-empty subset of {ALL_TASK_TYPES}",
                ),
                (all(isinstance(h, int) and 1 <= h <= 12 for h in self.hops), "hops", "integers in [1, 12]"),
                (
                    len(self.profile_hops) > 0
                    and len(set(self.profile_hops)) == len(self.profile_hops)
                    and all(type(h) is int and 1 <= h <= 4 for h in self.profile_hops),
                    "profile_hops",
                    "a non-empty list of distinct integers in [1, 4]",
                ),
            ]
        )


@dataclass(frozen=True)
class EpisodeSection(Section):
    """``[episode]``: what one episode allows and shows the agent."""

    name: ClassVar[str] = "episode"
    top_k: int = 3
    max_turns: int = 8
    prompt_style: str = "search_r1"
    allow_access: bool = True
    max_action_chars: int = 20000
    max_doc_chars: int = 1000
    show_doc_ids: bool = True
    nondeterministic: bool = False

    def check(self) -> None:
        self._expect(
            [
                (1 <= self.top_k <= 100, "top_k", "in [1, 100]"),
                (1 <= self.max_turns <= 1000, "max_turns", "in [1, 1000]"),
                (self.prompt_style in STYLES, "prompt_style", f"one of {STYLES}"),
                (100 <= self.max_action_chars <= 10_000_000, "max_action_chars", "in [100, 10000000]"),
                (50 <= self.max_doc_chars <= 1_000_000, "max_doc_chars", "in [50, 1000000]"),
            ]
        )


@dataclass(frozen=True)
class SearchSection(Section):
    """``[search]``: the engine and its options, checked against the engine registry's declared
    options when the section is made, before any world is built."""

    name: ClassVar[str] = "search"
    flat_names: ClassVar[dict[str, str]] = {"options": "engine_options"}
    engine: str = "bm25"
    options: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        from searchgym.search.factory import validate_engine_options

        self._expect([(self.engine.strip() != "", "engine", "a non-empty engine name")])
        validate_engine_options(self.engine, self.options)


@dataclass(frozen=True)
class ScoringSection(Section):
    """``[scoring]``: the env's outcome metric, the abstention penalty and the reward
    composition the env scores (``[reward]`` table; empty: the outcome metric alone)."""

    name: ClassVar[str] = "scoring"
    flat_names: ClassVar[dict[str, str]] = {"metric": "reward", "terms": "reward_terms"}
    metric: str = "em"
    abstain_penalty: float = 0.0  # reward of abstaining on an answerable task is -abstain_penalty
    terms: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        self._expect([(self.metric in REWARDS, "metric", f"one of {REWARDS}")])
        if not 0.0 <= self.abstain_penalty <= 10.0:
            raise ValueError(f"abstain_penalty={self.abstain_penalty!r} is invalid; expected in [0, 10]")
        if self.terms:
            from searchgym.wrappers.reward_compose import normalize_reward_table

            object.__setattr__(self, "terms", normalize_reward_table(self.terms))


#: Section name -> section class, in spec order.
SECTIONS: dict[str, type[Section]] = {
    cls.name: cls for cls in (WorldSection, CorpusSection, TasksSection, EpisodeSection, SearchSection, ScoringSection)
}

#: Flat setting name -> (section name, field name).
FLAT_SETTINGS: dict[str, tuple[str, str]] = {
    cls.flat_name(spec.name): (section, spec.name)
    for section, cls in SECTIONS.items()
    for spec in dataclasses.fields(cls)  # type: ignore[arg-type]
}
