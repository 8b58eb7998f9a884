"""searchgym.export: every trainer format written, read back, consistent and leak-free."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import searchgym  # noqa: F401  (registers the envs)
from searchgym.export import FORMATS, add_export_parser, export_tasks, read_rows, task_records
from searchgym.metrics import normalize_answer
from episodes import SMALL


def _suffix(fmt: str) -> str:
    return ".jsonl" if fmt == "jsonl" else ".parquet"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    directory = tmp_path_factory.mktemp("export")
    paths = {fmt: export_tasks("SearchQA-v0", fmt, directory / f"tasks-{fmt}{_suffix(fmt)}", **SMALL) for fmt in FORMATS}
    return {fmt: read_rows(path) for fmt, path in paths.items()}


def _key(fmt: str, row: dict) -> str:
    return row["extra_info"]["task_key"] if fmt == "verl" else row["task_key"]


def test_parquet_files_are_real_parquet(tmp_path):
    import pyarrow.parquet as pq

    path = export_tasks("SearchQA-v0", "verl", tmp_path / "sub" / "train.parquet", **SMALL)
    table = pq.read_table(path)
    assert {"data_source", "prompt", "ability", "reward_model", "extra_info", "agent_name"} <= set(table.column_names)
    assert table.num_rows == len(task_records("SearchQA-v0", **SMALL))


def test_every_format_has_the_same_task_keys_in_the_same_order(exported):
    keys = {fmt: [_key(fmt, row) for row in rows] for fmt, rows in exported.items()}
    reference = keys["jsonl"]
    assert len(reference) == len(set(reference)) > 0
    for fmt in FORMATS:
        assert keys[fmt] == reference, fmt


def test_verl_schema(exported):
    row = exported["verl"][0]
    assert row["data_source"] == "SearchQA-v0"
    assert row["agent_name"] == "tool_agent"
    assert row["reward_model"]["style"] == "rule"
    assert row["reward_model"]["ground_truth"]["target"] == exported["jsonl"][0]["answers"]
    extra = row["extra_info"]
    assert extra["index"] == 0 and extra["split"] == "train"
    assert extra["need_tools_kwargs"] is True
    assert extra["tools_kwargs"]["search"]["create_kwargs"]["task_key"] == extra["task_key"]
    assert row["prompt"] == exported["jsonl"][0]["prompt"]
    # the world's overrides travel with the row, for trainer-side envs
    assert json.loads(extra["tools_kwargs"]["search"]["create_kwargs"]["env_overrides_json"]) == SMALL
    assert json.loads(extra["env_overrides_json"]) == SMALL


def test_verl_rows_can_target_the_tag_agent_loop(tmp_path):
    path = export_tasks("SearchQA-v0", "verl", tmp_path / "tags.jsonl", verl_agent_name="searchgym_agent",
                        limit=3, **SMALL)
    assert {row["agent_name"] for row in read_rows(path)} == {"searchgym_agent"}
    with pytest.raises(ValueError, match="unknown verl agent loop"):
        export_tasks("SearchQA-v0", "verl", tmp_path / "bad.jsonl", verl_agent_name="nope", **SMALL)
    assert not (tmp_path / "bad.jsonl").exists()


def test_skyrl_schema(exported):
    row = exported["skyrl"][0]
    assert row["env_class"] == "searchgym"
    assert row["reward_spec"] == {"method": "rule", "ground_truth": {"target": exported["jsonl"][0]["answers"]}}
    assert row["env_id"] == "SearchQA-v0"
    assert row["extra_info"]["gold_doc_ids"] == exported["jsonl"][0]["gold_doc_ids"]


def test_trl_rows_feed_reset(exported):
    from searchgym.integrations.trl import SearchGymTRLEnv

    env = SearchGymTRLEnv("SearchQA-v0", **SMALL)
    row = exported["trl"][5]
    assert env.reset(**row) == ""  # the prompt column already holds the instruction
    assert env.session.task_key == row["task_key"]


def test_prompt_is_the_env_reset_prompt(exported):
    env = gym.make("SearchQA-v0", **SMALL)
    for row in exported["jsonl"][:20]:
        prompt, info = env.reset(options={"task_key": row["task_key"]})
        assert row["prompt"] == [{"role": "user", "content": prompt}]
        assert row["question"] == info["question"]
        # ``index`` is the env's task_index for the same split
        _, info = env.reset(options={"task_index": row["index"]})
        assert info["task_key"] == row["task_key"]


def _strings(value, skip=()):
    """Every string leaf of a row (numbers are not answers' carriers: hops=2 is no leak)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in skip:
                yield from _strings(item, skip)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, skip)


def test_ground_truth_only_where_the_schema_wants_it(exported):
    truth = {row["task_key"]: row for row in exported["jsonl"]}
    # the prompt and question are checked to be the env's own reset prompt elsewhere
    gt_fields = {"verl": ("reward_model",), "skyrl": ("reward_spec",), "trl": ()}
    checked = 0
    for fmt, fields in gt_fields.items():
        for row in exported[fmt]:
            record = truth[_key(fmt, row)]
            leaves = _strings(row, skip=fields + ("prompt", "question"))
            text = " " + " ".join(normalize_answer(leaf) for leaf in leaves) + " "
            for answer in record["answers"]:
                norm = normalize_answer(answer)
                assert f" {norm} " not in text, (fmt, answer)  # whole words, not inside hashes
                checked += 1
    assert checked > 100
    # and the ground truth is exactly the gold answers where it is wanted
    for row in exported["skyrl"]:
        assert row["reward_spec"]["ground_truth"]["target"] == truth[row["task_key"]]["answers"]


def test_split_and_overrides(tmp_path):
    test_rows = read_rows(export_tasks("SearchQA-v0", "jsonl", tmp_path / "t.jsonl", split="test", **SMALL))
    assert test_rows and {row["split"] for row in test_rows} == {"test"}
    tools = read_rows(export_tasks("SearchQA-v0", "trl", tmp_path / "t.parquet", prompt_style="tools", limit=3, **SMALL))
    assert len(tools) == 3 and "call the answer tool" in tools[0]["prompt"][0]["content"]


def test_export_from_a_built_env_matches_the_id(tmp_path):
    env = gym.make("SearchQA-v0", **SMALL)
    a = read_rows(export_tasks(env, "jsonl", tmp_path / "a.jsonl"))
    b = read_rows(export_tasks("SearchQA-v0", "jsonl", tmp_path / "b.jsonl", **SMALL))
    assert a == b
    with pytest.raises(ValueError, match="overrides"):
        export_tasks(env, "jsonl", tmp_path / "c.jsonl", top_k=5)


def test_bad_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown export format"):
        export_tasks("SearchQA-v0", "csv", tmp_path / "x.csv", **SMALL)


def test_cli_parser(tmp_path, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    add_export_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "skyrl.parquet"
    args = parser.parse_args(["export", "--env", "SearchQA-v0", "--format", "skyrl", "--output", str(out),
                              "--split", "validation", "--set", "world_size=300", "--set", "tasks_per_type=30",
                              "--set", "eval_tasks_per_type=30"])
    assert args.func(args) == 0
    rows = read_rows(out)
    assert rows and {row["extra_info"]["split"] for row in rows} == {"validation"}
    assert "skyrl rows" in capsys.readouterr().out
