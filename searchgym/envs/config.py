"""Declarative env specs: the TOML files in ``envs/`` and their overrides.

A spec names everything an episode depends on — world schema, size and seed, corpus and task
options, the search engine, top-k, turn budget, prompt style — so a run is reproducible from
its spec id plus the overrides given to ``gym.make``. Unknown keys and bad values fail at
construction with a message naming the key, never later in an episode.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from searchgym.answer_forms import check_abstention
from searchgym.corpus import CorpusOptions
from searchgym.envs.prompts import STYLES
from searchgym.resources import data_path
from searchgym.search.factory import validate_engine_options
from searchgym.tasks import ALL_TASK_TYPES, SPLITS, TASK_TYPES, TaskOptions

REWARDS = ("em", "f1", "substring_em")
_SECTIONS = ("world", "corpus", "tasks", "env", "engine_options")
_TABLES = {"engine_options": "engine_options", "reward": "reward_terms"}  # TOML table -> field


class SpecError(ValueError):
    """An env spec file or override is invalid; the message names the key."""


@dataclass(frozen=True)
class EnvConfig:
    """Every setting of a SearchQA env (flattened from the spec's TOML sections)."""

    id: str = "SearchQA-v0"
    description: str = ""
    # [world]
    schema: str = "default"
    world_size: int = 1000
    world_seed: int = 0
    # [corpus]
    passage_words: int = 100
    distractor_ratio: float = 0.1
    writer: str = "template"  # or "llm": rewrite pages with writer_model, keep verified rewrites
    writer_model: str = "smollm2"
    writer_batch_size: int = 8
    # [tasks]
    tasks_per_type: int = 200
    eval_tasks_per_type: int = 0  # validation and test tasks per stratum; 0: as tasks_per_type
    max_hops: int = 4
    depth_top_k: int = 3  # top-k of the engine that measures task depth at generation
    task_types: tuple[str, ...] = TASK_TYPES
    obfuscated_relations: tuple[int, ...] = (8, 10, 12)  # obfuscated strata: the subgraph's edge counts
    max_constraints: int = 8  # the most descriptors an obfuscated question stacks
    min_tier: int = 1  # tasks below this difficulty tier are not generated (searchgym.tasks.tiers)
    unanswerable_share: float = 0.0  # share of false-premise tasks (task type "unanswerable")
    # [env]
    split: str = "train"
    hops: tuple[int, ...] = ()
    engine: str = "bm25"
    top_k: int = 3
    max_turns: int = 8
    prompt_style: str = "search_r1"
    allow_access: bool = True
    reward: str = "em"
    abstain_penalty: float = 0.0  # reward of abstaining on an answerable task is -abstain_penalty
    max_action_chars: int = 20000
    max_doc_chars: int = 1000
    show_doc_ids: bool = True
    nondeterministic: bool = False
    # [engine_options]
    engine_options: dict[str, Any] = field(default_factory=dict)
    # [reward]: the reward composition the env itself scores (searchgym.wrappers.reward_compose);
    # empty: the built-in outcome reward ``reward`` alone
    reward_terms: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = [
            (self.split in SPLITS, "split", f"one of {SPLITS} (each split is its own world)"),
            (0 <= self.eval_tasks_per_type <= 100_000, "eval_tasks_per_type", "in [0, 100000]"),
            (1 <= self.depth_top_k <= 100, "depth_top_k", "in [1, 100]"),
            (self.engine.strip() != "", "engine", "a non-empty engine name"),
            (1 <= self.top_k <= 100, "top_k", "in [1, 100]"),
            (1 <= self.max_turns <= 1000, "max_turns", "in [1, 1000]"),
            (self.prompt_style in STYLES, "prompt_style", f"one of {STYLES}"),
            (self.reward in REWARDS, "reward", f"one of {REWARDS}"),
            (100 <= self.max_action_chars <= 10_000_000, "max_action_chars", "in [100, 10000000]"),
            (50 <= self.max_doc_chars <= 1_000_000, "max_doc_chars", "in [50, 1000000]"),
            (set(self.task_types) <= set(ALL_TASK_TYPES) and len(self.task_types) > 0, "task_types",
             f"a non-empty subset of {ALL_TASK_TYPES}"),
            (all(isinstance(h, int) and 1 <= h <= 12 for h in self.hops), "hops", "integers in [1, 12]"),
            (isinstance(self.engine_options, dict), "engine_options", "a table"),
            (isinstance(self.reward_terms, dict), "reward_terms", "a [reward] table"),
        ]
        for ok, key, expected in checks:
            if not ok:
                raise SpecError(f"{self.id}: {key}={getattr(self, key)!r} is invalid; expected {expected}")
        try:
            self.corpus_options()
            self.task_options()
            # the engine and its options are checked here, before any world is built for them
            validate_engine_options(self.engine, self.engine_options)
            if not 0.0 <= self.abstain_penalty <= 10.0:
                raise ValueError(f"abstain_penalty={self.abstain_penalty!r} is invalid; expected in [0, 10]")
            check_abstention(self.unanswerable_share, self.abstain_penalty)
            if self.reward_terms:
                from searchgym.wrappers.reward_compose import normalize_reward_table

                object.__setattr__(self, "reward_terms", normalize_reward_table(self.reward_terms))
        except ValueError as error:
            raise SpecError(f"{self.id}: {error}") from error

    def corpus_options(self) -> CorpusOptions:
        return CorpusOptions(passage_words=self.passage_words, distractor_ratio=self.distractor_ratio,
                             writer=self.writer, writer_model=self.writer_model,
                             writer_batch_size=self.writer_batch_size)

    def task_options(self) -> TaskOptions:
        """The tasks of this config's split: ``tasks_per_type`` per stratum for train,
        ``eval_tasks_per_type`` (when set) for validation and test."""
        per_type = self.tasks_per_type
        if self.split != "train" and self.eval_tasks_per_type:
            per_type = self.eval_tasks_per_type
        # The classic types are generated together whatever the env serves (task_types filters
        # them); a deep family is generated only when asked for, with the types asked for.
        types = self.task_types if set(self.task_types) - set(TASK_TYPES) else TASK_TYPES
        return TaskOptions(per_type=per_type, max_hops=self.max_hops, split=self.split,
                           depth_top_k=self.depth_top_k, depth_open_pages=self.allow_access, types=types,
                           obfuscated_relations=self.obfuscated_relations, max_constraints=self.max_constraints,
                           min_tier=self.min_tier, unanswerable_share=self.unanswerable_share)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["task_types"] = list(self.task_types)
        data["hops"] = list(self.hops)
        data["obfuscated_relations"] = list(self.obfuscated_relations)
        return data

    def with_overrides(self, overrides: dict[str, Any]) -> EnvConfig:
        return replace(self, **_coerce(overrides, origin=f"overrides of {self.id}"))


_FIELD_TYPES = {f.name: f for f in fields(EnvConfig)}


def _coerce(values: dict[str, Any], *, origin: str) -> dict[str, Any]:
    """Check keys against EnvConfig and turn TOML/JSON lists into tuples."""
    unknown = sorted(set(values) - set(_FIELD_TYPES))
    if unknown:
        raise SpecError(f"{origin}: unknown setting(s) {unknown}; valid settings: {sorted(_FIELD_TYPES)}")
    coerced: dict[str, Any] = {}
    for key, value in values.items():
        default = getattr(EnvConfig(), key)
        if isinstance(default, tuple):
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
                raise SpecError(f"{origin}: {key} must be a list, got {value!r}")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise SpecError(f"{origin}: {key} must be true or false, got {value!r}")
        elif isinstance(default, int):
            if not isinstance(value, int) or isinstance(value, bool):
                raise SpecError(f"{origin}: {key} must be an integer, got {value!r}")
        elif isinstance(default, float):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise SpecError(f"{origin}: {key} must be a number, got {value!r}")
            value = float(value)
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise SpecError(f"{origin}: {key} must be a string, got {value!r}")
        coerced[key] = value
    return coerced


def parse_spec(text: str, *, origin: str = "<string>") -> EnvConfig:
    """Parse an env spec TOML text into an :class:`EnvConfig`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{origin}: not valid TOML: {error}") from error
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TABLES:
            if not isinstance(value, dict):
                raise SpecError(f"{origin}: [{key}] must be a table")
            flat[_TABLES[key]] = dict(value)
        elif key in _SECTIONS:
            if not isinstance(value, dict):
                raise SpecError(f"{origin}: [{key}] must be a table")
            flat.update(value)
        else:
            flat[key] = value
    if "id" not in flat:
        raise SpecError(f"{origin}: missing required key 'id'")
    try:
        return EnvConfig(**_coerce(flat, origin=origin))
    except TypeError as error:  # pragma: no cover - _coerce already checked the keys
        raise SpecError(f"{origin}: {error}") from error


def spec_files() -> dict[str, Path]:
    """The bundled spec files by env id."""
    found = {}
    for path in sorted(data_path("envs").glob("*.toml")):
        found[parse_spec(path.read_text(encoding="utf-8"), origin=str(path)).id] = path
    return found


def load_spec(spec: str | Path) -> EnvConfig:
    """An env config from a bundled env id (``"SearchQA-v0"``) or a path to a spec file."""
    path = Path(spec)
    if path.suffix == ".toml" and path.is_file():
        return parse_spec(path.read_text(encoding="utf-8"), origin=str(path))
    name = str(spec).split("/", 1)[-1]
    files = spec_files()
    if name not in files:
        raise SpecError(f"unknown env spec {str(spec)!r}; bundled specs: {sorted(files)} (or pass a .toml path)")
    return parse_spec(files[name].read_text(encoding="utf-8"), origin=str(files[name]))
