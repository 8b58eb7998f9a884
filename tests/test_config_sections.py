"""Typed config sections, with every flat form still working.

Both forms — flat settings (spec ``[env]`` tables, ``gym.make(..., top_k=5)``, ``--set top_k=5``)
and nested sections (``[episode]`` tables, ``episode={"top_k": 5}``, ``--set episode.top_k=5``)
— give the same config; unknown keys are one-line errors with a suggestion; engine options are
checked before any world is built.
"""

from __future__ import annotations

import dataclasses
import json
import pickle

import gymnasium as gym
import pytest
from episodes import SMALL, SMALL_FLAGS

from searchgym.cli_support import UsageError, check_settings, parse_overrides
from searchgym.envs.config import (
    FLAT_SETTINGS,
    SECTIONS,
    EnvConfig,
    EpisodeSection,
    SearchSection,
    SpecError,
    load_spec,
    parse_spec,
    spec_files,
)


def test_flat_and_nested_forms_are_the_same_config():
    flat = EnvConfig(top_k=5, engine_options={"threads": 2}, reward="f1", split="test")
    nested = EnvConfig(episode={"top_k": 5}, search={"options": {"threads": 2}}, scoring={"metric": "f1"},
                       tasks={"split": "test"})
    typed = EnvConfig(episode=EpisodeSection(top_k=5), search=SearchSection(options={"threads": 2}),
                      scoring={"metric": "f1"}, tasks={"split": "test"})
    assert flat == nested == typed
    assert flat.top_k == flat.episode.top_k == 5 and flat.engine_options == flat.search.options == {"threads": 2}
    assert flat.reward == flat.scoring.metric == "f1" and flat.engine == flat.search.engine == "bm25"
    dotted = EnvConfig().with_overrides({"episode.top_k": 5, "engine_options.threads": 2, "scoring.metric": "f1",
                                         "split": "test"})
    assert dotted == flat
    assert set(FLAT_SETTINGS) == set(EnvConfig().to_dict()) - {"id", "description"}
    assert {section for section, _ in FLAT_SETTINGS.values()} == set(SECTIONS)


@pytest.mark.parametrize("env_id", sorted(spec_files()))
def test_every_bundled_spec_reads_the_same_in_the_nested_form(env_id):
    config = load_spec(env_id)
    lines = [f"id = {json.dumps(config.id)}", f"description = {json.dumps(config.description)}"]
    for section, values in config.sections().items():
        tables = {k: v for k, v in values.items() if isinstance(v, dict)}
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(list(v) if isinstance(v, tuple) else v)}" for key, v in values.items()
                  if key not in tables]
        for key, table in tables.items():
            lines.append(f"[{section}.{key}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    assert parse_spec("\n".join(lines) + "\n", origin=env_id) == config
    flat = config.to_dict()
    assert EnvConfig(**flat) == config  # the flat dict is a complete config too
    assert pickle.loads(pickle.dumps(config)) == config


def _toml_value(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def test_overrides_merge_into_sections_and_a_section_object_replaces_one():
    base = EnvConfig(top_k=4, max_turns=12)
    merged = base.with_overrides({"episode": {"top_k": 6}})
    assert (merged.top_k, merged.max_turns) == (6, 12)
    replaced = base.with_overrides({"episode": EpisodeSection(top_k=6)})
    assert (replaced.top_k, replaced.max_turns) == (6, EpisodeSection().max_turns)
    assert dataclasses.replace(base, episode=EpisodeSection(top_k=7)).top_k == 7
    hybrid = EnvConfig(engine="hybrid").with_overrides({"engine_options.bm25.threads": 1,
                                                        "engine_options.weights": [1.0, 2.0]})
    assert hybrid.engine_options == {"bm25": {"threads": 1}, "weights": [1.0, 2.0]}


@pytest.mark.parametrize(("settings", "message"), [
    ({"topk": 1}, r"unknown setting\(s\) \['topk'\] \(did you mean 'top_k'\?\)"),
    ({"episode": {"top_kk": 1}}, r"section 'episode' has no setting 'top_kk' \(did you mean 'top_k'\?\)"),
    ({"episode.max_turn": 3}, r"has no setting 'max_turn' \(did you mean 'max_turns'\?\)"),
    ({"episode": 3}, "episode must be a table"),
    ({"episode": {"top_k": "5"}}, "top_k must be an integer, got '5'"),
    ({"top_k": 0}, r"top_k=0 is invalid; expected in \[1, 100\]"),
    ({"scoring": {"metric": "bleu"}}, r"reward='bleu' is invalid"),
    ({"engine_options.k9": 1}, "engine 'bm25' has no option 'k9'"),
    ({"search": {"engine": "bm52"}}, "unknown search engine 'bm52'"),
    ({"top_k.x": 1}, "top_k is not a table"),
])
def test_bad_settings_are_one_line_errors(settings, message):
    with pytest.raises(SpecError, match=message) as error:
        load_spec("SearchQA-v0").with_overrides(settings)
    assert "\n" not in str(error.value) and str(error.value).startswith(("SearchQA-v0", "overrides of SearchQA-v0"))


def test_gym_make_takes_either_form_and_checks_engine_options_before_any_world(tmp_path, monkeypatch):
    flat = gym.make("SearchQA-v0", top_k=2, max_turns=5, **SMALL).unwrapped.config
    nested = gym.make("SearchQA-v0", episode={"top_k": 2, "max_turns": 5}, **SMALL).unwrapped.config
    assert flat == nested and nested.top_k == 2
    monkeypatch.setenv("SEARCHGYM_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(SpecError, match="has no option 'treads'.*did you mean 'threads'"):
        gym.make("SearchQA-v0", search={"options": {"treads": 2}}, world_size=2000)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.json"))  # nothing built


def test_cli_set_takes_flat_and_dotted_names():
    assert check_settings("SearchQA-v0", parse_overrides(["episode.top_k=5", "engine_options.threads=2"]))
    with pytest.raises(UsageError, match=r"--set: .*section 'episode' has no setting 'topk' \(did you mean"):
        check_settings("SearchQA-v0", parse_overrides(["episode.topk=5"]))
    with pytest.raises(UsageError, match="--set episodes.top_k: unknown setting"):
        check_settings("SearchQA-v0", parse_overrides(["episodes.top_k=5"]))
    with pytest.raises(UsageError, match="--set episode: unknown setting"):
        check_settings("SearchQA-v0", parse_overrides(["episode=5"]))


def test_the_cli_runs_with_a_dotted_setting(tmp_path):
    from searchgym.cli import main

    out = tmp_path / "eval.json"
    code = main(["eval", "--agents", "oracle", "--episodes", "2", "--split", "train", *SMALL_FLAGS,
                 "--set", "episode.max_turns=6", "--set", "top_k=2", "--output", str(out), "--no-progress"])
    assert code in (0, None)
    kwargs = json.loads(out.read_text())["env_kwargs"]
    assert kwargs["episode.max_turns"] == 6  # recorded as given, and it rebuilds the same env
    config = gym.make("SearchQA-v0", **kwargs).unwrapped.config
    assert (config.max_turns, config.top_k) == (6, 2)
