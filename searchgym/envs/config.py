"""Declarative env specs: the TOML files in ``envs/`` and their overrides.

A spec names everything an episode depends on — world schema, size and seed, corpus and task
options, the search engine, top-k, turn budget, prompt style — so a run is reproducible from
its spec id plus the overrides given to ``gym.make``. Unknown keys and bad values fail at
construction with a message naming the key, never later in an episode.

The settings live in typed sections (:mod:`searchgym.envs.config_sections`: ``world``,
``corpus``, ``tasks``, ``episode``, ``search``, ``scoring``); the flat names every spec file,
``gym.make`` keyword and ``--set`` flag has used so far map onto them and keep working.
"""

from __future__ import annotations

import copy
import difflib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from searchgym.answer_forms import check_abstention
from searchgym.corpus import CorpusOptions
from searchgym.envs.config_sections import (
    FLAT_SETTINGS,
    REWARDS,
    SECTIONS,
    CorpusSection,
    EpisodeSection,
    ScoringSection,
    SearchSection,
    Section,
    TasksSection,
    WorldSection,
)
from searchgym.resources import data_path
from searchgym.tasks import TASK_TYPES, TaskOptions

__all__ = [
    "FLAT_SETTINGS",
    "REWARDS",
    "SECTIONS",
    "CorpusSection",
    "EnvConfig",
    "EpisodeSection",
    "ScoringSection",
    "SearchSection",
    "Section",
    "SpecError",
    "TasksSection",
    "WorldSection",
    "load_spec",
    "parse_spec",
    "spec_files",
]

_LEGACY_TABLES = ("world", "corpus", "tasks", "env")  # TOML tables of flat settings (the original form)
_FLAT_TABLES = {"engine_options": "engine_options", "reward": "reward_terms"}  # TOML table -> flat setting
_NESTED_TABLES = ("episode", "search", "scoring")  # TOML tables of one section's fields
# The flat settings in their historical order (to_dict, hence exports and their comparisons).
_FLAT_ORDER = (
    "schema",
    "world_size",
    "world_seed",
    "passage_words",
    "distractor_ratio",
    "writer",
    "writer_model",
    "writer_batch_size",
    "tasks_per_type",
    "eval_tasks_per_type",
    "max_hops",
    "depth_top_k",
    "task_types",
    "obfuscated_relations",
    "max_constraints",
    "min_tier",
    "unanswerable_share",
    "profile_hops",
    "split",
    "hops",
    "engine",
    "top_k",
    "max_turns",
    "prompt_style",
    "allow_access",
    "reward",
    "abstain_penalty",
    "max_action_chars",
    "max_doc_chars",
    "show_doc_ids",
    "nondeterministic",
    "engine_options",
    "reward_terms",
)
assert set(_FLAT_ORDER) == set(FLAT_SETTINGS)

T = TypeVar("T")


class SpecError(ValueError):
    """An env spec file or override is invalid; the message names the key."""


class _Flat(Generic[T]):
    """A flat setting name read through to its section field (``config.top_k`` is
    ``config.episode.top_k``), typed for callers."""

    def __init__(self, name: str) -> None:
        self.section, self.field = FLAT_SETTINGS[name]

    @overload
    def __get__(self, obj: None, owner: type) -> _Flat[T]: ...
    @overload
    def __get__(self, obj: EnvConfig, owner: type) -> T: ...
    def __get__(self, obj: EnvConfig | None, owner: type) -> Any:
        if obj is None:
            return self
        return getattr(getattr(obj, self.section), self.field)


@dataclass(frozen=True, init=False)
class EnvConfig:
    """Every setting of a SearchQA env, in typed sections (:mod:`searchgym.envs.config_sections`).

    Build it from sections, flat settings, or both: ``EnvConfig(episode=EpisodeSection(top_k=5))``,
    ``EnvConfig(episode={"top_k": 5})`` and ``EnvConfig(top_k=5)`` are the same config. Every
    flat name also reads through (``config.top_k``, ``config.engine``, ``config.engine_options``).
    Bad values fail here, with the key named, before any world or engine is built.
    """

    id: str
    description: str
    world: WorldSection
    corpus: CorpusSection
    tasks: TasksSection
    episode: EpisodeSection
    search: SearchSection
    scoring: ScoringSection

    def __init__(
        self,
        id: str = "SearchQA-v0",
        description: str = "",
        *,
        world: Section | Mapping[str, Any] | None = None,
        corpus: Section | Mapping[str, Any] | None = None,
        tasks: Section | Mapping[str, Any] | None = None,
        episode: Section | Mapping[str, Any] | None = None,
        search: Section | Mapping[str, Any] | None = None,
        scoring: Section | Mapping[str, Any] | None = None,
        **flat: Any,
    ) -> None:
        given = {
            "world": world,
            "corpus": corpus,
            "tasks": tasks,
            "episode": episode,
            "search": search,
            "scoring": scoring,
        }
        settings: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
        settings.update(flat)
        values: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        _apply(values, settings, origin=str(id))
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "description", description)
        try:
            for name, cls in SECTIONS.items():
                object.__setattr__(self, name, cls(**values[name]))
            self._check_across_sections()
        except ValueError as error:
            raise SpecError(f"{id}: {error}") from error

    def _check_across_sections(self) -> None:
        self.corpus_options()
        self.task_options()
        check_abstention(self.tasks.unanswerable_share, self.scoring.abstain_penalty)

    # -- flat names (spec files, gym.make keywords and --set flags use them) ---------------------
    schema = _Flat[str]("schema")
    world_size = _Flat[int]("world_size")
    world_seed = _Flat[int]("world_seed")
    passage_words = _Flat[int]("passage_words")
    distractor_ratio = _Flat[float]("distractor_ratio")
    writer = _Flat[str]("writer")
    writer_model = _Flat[str]("writer_model")
    writer_batch_size = _Flat[int]("writer_batch_size")
    tasks_per_type = _Flat[int]("tasks_per_type")
    eval_tasks_per_type = _Flat[int]("eval_tasks_per_type")
    max_hops = _Flat[int]("max_hops")
    depth_top_k = _Flat[int]("depth_top_k")
    task_types = _Flat[tuple[str, ...]]("task_types")
    obfuscated_relations = _Flat[tuple[int, ...]]("obfuscated_relations")
    max_constraints = _Flat[int]("max_constraints")
    min_tier = _Flat[int]("min_tier")
    unanswerable_share = _Flat[float]("unanswerable_share")
    profile_hops = _Flat[tuple[int, ...]]("profile_hops")
    split = _Flat[str]("split")
    hops = _Flat[tuple[int, ...]]("hops")
    engine = _Flat[str]("engine")
    top_k = _Flat[int]("top_k")
    max_turns = _Flat[int]("max_turns")
    prompt_style = _Flat[str]("prompt_style")
    allow_access = _Flat[bool]("allow_access")
    reward = _Flat[str]("reward")
    abstain_penalty = _Flat[float]("abstain_penalty")
    max_action_chars = _Flat[int]("max_action_chars")
    max_doc_chars = _Flat[int]("max_doc_chars")
    show_doc_ids = _Flat[bool]("show_doc_ids")
    nondeterministic = _Flat[bool]("nondeterministic")
    engine_options = _Flat[dict[str, Any]]("engine_options")
    reward_terms = _Flat[dict[str, Any]]("reward_terms")

    def corpus_options(self) -> CorpusOptions:
        corpus = self.corpus
        return CorpusOptions(
            passage_words=corpus.passage_words,
            distractor_ratio=corpus.distractor_ratio,
            writer=corpus.writer,
            writer_model=corpus.writer_model,
            writer_batch_size=corpus.writer_batch_size,
        )

    def task_options(self) -> TaskOptions:
        """The tasks of this config's split: ``tasks_per_type`` per stratum for train,
        ``eval_tasks_per_type`` (when set) for validation and test."""
        tasks = self.tasks
        per_type = tasks.tasks_per_type
        if tasks.split != "train" and tasks.eval_tasks_per_type:
            per_type = tasks.eval_tasks_per_type
        # The classic types are generated together whatever the env serves (task_types filters
        # them); a deep family is generated only when asked for, with the types asked for.
        types = tasks.task_types if set(tasks.task_types) - set(TASK_TYPES) else TASK_TYPES
        return TaskOptions(
            per_type=per_type,
            max_hops=tasks.max_hops,
            split=tasks.split,
            depth_top_k=tasks.depth_top_k,
            depth_open_pages=self.episode.allow_access,
            types=types,
            obfuscated_relations=tasks.obfuscated_relations,
            max_constraints=tasks.max_constraints,
            min_tier=tasks.min_tier,
            unanswerable_share=tasks.unanswerable_share,
            profile_hops=tasks.profile_hops,
        )

    def to_dict(self) -> dict[str, Any]:
        """Every setting under its flat name (lists for tuples): what spec files and exports use."""
        data: dict[str, Any] = {"id": self.id, "description": self.description}
        for name in _FLAT_ORDER:
            value = getattr(self, name)
            data[name] = list(value) if isinstance(value, tuple) else copy.deepcopy(value)
        return data

    def sections(self) -> dict[str, dict[str, Any]]:
        """Every setting by section (``{"episode": {"top_k": 3, ...}, ...}``)."""
        return {name: _section_values(getattr(self, name)) for name in SECTIONS}

    def with_overrides(self, overrides: Mapping[str, Any]) -> EnvConfig:
        """This config with ``overrides``: flat settings (``top_k``), sections (``episode={...}``
        merges into the section, a :class:`Section` replaces it) or dotted names
        (``episode.top_k``, ``engine_options.threads``)."""
        values = self.sections()
        _apply(values, overrides, origin=f"overrides of {self.id}")
        return EnvConfig(self.id, self.description, **values)


def _section_values(section: Section) -> dict[str, Any]:
    return {spec.name: copy.deepcopy(getattr(section, spec.name)) for spec in fields(section)}  # type: ignore[arg-type]


def _suggest(key: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, sorted(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _apply(values: dict[str, dict[str, Any]], settings: Mapping[str, Any], *, origin: str) -> None:
    """Write ``settings`` (flat, section or dotted names) into ``values[section][field]``."""
    unknown = [
        key
        for key in settings
        if str(key).partition(".")[0] not in FLAT_SETTINGS and str(key).partition(".")[0] not in SECTIONS
    ]
    if unknown:
        first = str(unknown[0])
        raise SpecError(
            f"{origin}: unknown setting(s) {sorted(map(str, unknown))}{_suggest(first, FLAT_SETTINGS)}; "
            f"valid settings: {sorted(FLAT_SETTINGS)} (or a section: {', '.join(SECTIONS)})"
        )
    for key, value in settings.items():
        head, _, rest = str(key).partition(".")
        if head in SECTIONS and head not in FLAT_SETTINGS:
            if not rest:
                if isinstance(value, Section):
                    values[head] = _section_values(value)
                    continue
                if not isinstance(value, Mapping):
                    raise SpecError(f"{origin}: {head} must be a table of its settings, got {value!r}")
                for name, item in value.items():
                    _set(values, head, str(name), item, "", origin)
                continue
            name, _, rest = rest.partition(".")
            _set(values, head, name, value, rest, origin)
        else:
            section, name = FLAT_SETTINGS[head]
            _set(values, section, name, value, rest, origin)


def _set(values: dict[str, dict[str, Any]], section: str, name: str, value: Any, path: str, origin: str) -> None:
    known = {spec.name for spec in fields(SECTIONS[section])}  # type: ignore[arg-type]
    if name not in known:
        raise SpecError(
            f"{origin}: section {section!r} has no setting {name!r}{_suggest(name, known)}; "
            f"its settings: {sorted(known)}"
        )
    if not path:
        values[section][name] = value
        return
    # a dotted path into a table setting (engine_options.threads): merged into the current table
    current = values[section].get(name)
    if current is None:
        current = copy.deepcopy(getattr(SECTIONS[section](), name))
    if not isinstance(current, dict):
        raise SpecError(f"{origin}: {section}.{name} is not a table, so {name}.{path} names nothing")
    table = current = dict(current)
    *parents, last = path.split(".")
    for part in parents:
        child = table.get(part)
        table[part] = dict(child) if isinstance(child, Mapping) else {}
        table = table[part]
    table[last] = value
    values[section][name] = current


def parse_spec(text: str, *, origin: str = "<string>") -> EnvConfig:
    """Parse an env spec TOML text into an :class:`EnvConfig`.

    Both forms are read: the flat one (``[world]``, ``[corpus]``, ``[tasks]`` and ``[env]`` of flat
    settings, ``[engine_options]``, ``[reward]`` terms) and the nested one (``[episode]``,
    ``[search]``, ``[scoring]`` of their sections' fields, e.g. ``[search.options]``).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{origin}: not valid TOML: {error}") from error
    settings: dict[str, Any] = {}
    for key, value in data.items():
        if key in _LEGACY_TABLES or key in _FLAT_TABLES or key in _NESTED_TABLES:
            if not isinstance(value, dict):
                raise SpecError(f"{origin}: [{key}] must be a table")
            if key in _LEGACY_TABLES:
                settings.update(value)
            else:
                settings[_FLAT_TABLES.get(key, key)] = dict(value)
        elif key not in ("id", "description"):
            settings[key] = value
    if "id" not in data:
        raise SpecError(f"{origin}: missing required key 'id'")
    for key in ("id", "description"):
        if key in data and not isinstance(data[key], str):
            raise SpecError(f"{origin}: {key} must be a string, got {data[key]!r}")
    values: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    _apply(values, settings, origin=origin)
    return EnvConfig(data["id"], data.get("description", ""), **values)


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
