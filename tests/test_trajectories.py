"""``--save-trajectories`` and ``searchgym show``: every episode, inspectable without a replay."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

import searchgym  # noqa: F401
from searchgym.agents import HeuristicAgent, OracleAgent
from searchgym.batched_eval import LockstepAgents
from searchgym.cli import main
from searchgym.cli_support import UsageError
from searchgym.evaluation import evaluate, save_report
from searchgym.show import find_episodes, load_trajectories, render_episode
from searchgym.trajectories import read_trajectories, trajectories_path

SMALL = {"world_size": 300, "tasks_per_type": 30, "eval_tasks_per_type": 30}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    results = folder / "run.json"
    report = evaluate("SearchQA-v0", [OracleAgent(), HeuristicAgent()], 12, seed=3, env_kwargs=SMALL,
                      show_progress=False, trajectories_to=trajectories_path(results))
    save_report(report, results)
    return results, report, list(read_trajectories(trajectories_path(results)))


def test_one_line_per_episode_with_gold_actions_observations_and_timing(run):
    results, report, trajectories = run
    assert report["trajectories"] == "run.trajectories.jsonl"
    assert len(trajectories) == 24
    for trajectory in trajectories:
        episode = next(e for e in report["agents"][trajectory["agent"]]["episodes"]
                       if e["task_key"] == trajectory["task_key"])
        assert trajectory["result"] == episode
        task = trajectory["task"]
        assert task["question"] and task["answer"] and task["chain"] and task["evidence"]
        assert all(passage["text"] for unit in task["evidence"] for passage in unit["passages"])
        assert len(trajectory["steps"]) == episode["turns"]
        assert [step["turn"] for step in trajectory["steps"]] == list(range(1, episode["turns"] + 1))
        found = [unit for unit in task["evidence"] if unit["found_at"] is not None]
        assert len(found) / len(task["evidence"]) == pytest.approx(episode["evidence_recall"])
        for unit in found:  # the turn named found a document of that unit, marked gold
            step = trajectory["steps"][unit["found_at"] - 1]
            assert unit["unit"] in step["new_evidence_units"]
            assert any(r["gold"] and r["doc_id"] in unit["doc_ids"] for r in step["results"])
        for step in trajectory["steps"]:
            assert step["agent_seconds"] >= 0 and step["env_seconds"] >= 0 and step["kind"]
            assert all(r["gold"] == any(r["doc_id"] in u["doc_ids"] for u in task["evidence"]) for r in step["results"])
        if trajectory["agent"] == "oracle":
            assert episode["em"] == 1.0 and all(u["found_at"] for u in task["evidence"])
            assert trajectory["steps"][-1]["action"] == f"<answer>{task['answer']}</answer>"


def test_batched_trajectories_equal_the_sequential_ones(run):
    _, report, trajectories = run
    batched = evaluate("SearchQA-v0", [LockstepAgents(HeuristicAgent, 5)], 12, seed=3, env_kwargs=SMALL,
                       show_progress=False, trajectories_to=None)
    assert batched["agents"]["heuristic"] == report["agents"]["heuristic"]
    from searchgym.batched_eval import run_episodes_batched

    keys = [e["task_key"] for e in report["agents"]["heuristic"]["episodes"]]
    recorded: list = []
    run_episodes_batched("SearchQA-v0", LockstepAgents(HeuristicAgent, 5), keys, 3,
                         env_kwargs={**SMALL, "split": "test"}, trajectories=recorded)

    def strip(trajectory):
        steps = [{k: v for k, v in s.items() if not k.endswith("_seconds")} for s in trajectory["steps"]]
        return {**{k: v for k, v in trajectory.items() if k != "seconds"}, "steps": steps}

    sequential = [t for t in trajectories if t["agent"] == "heuristic"]
    assert [strip(t) for t in recorded] == [strip(t) for t in sequential]


def test_show_prints_the_gold_chain_and_what_was_found(run):
    results, _, trajectories = run
    failed = next((t for t in trajectories if t["result"]["em"] < 1), trajectories[0])
    console = Console(record=True, width=400)  # no wrapping: long questions stay on one line
    render_episode(failed, console)
    text = console.export_text()
    assert failed["task"]["question"] in text and f"gold       {failed['task']['answer']}" in text
    assert "gold chain" in text and failed["task"]["chain"][0]["subject"] in text
    assert ("never retrieved" in text) == any(u["found_at"] is None for u in failed["task"]["evidence"])
    assert f"turn {len(failed['steps'])}:" in text
    gold_ids = {d for u in failed["task"]["evidence"] for d in u["doc_ids"]}
    if any(r["doc_id"] in gold_ids for s in failed["steps"] for r in s["results"]):
        assert "★ gold" in text
    assert load_trajectories(results) == load_trajectories(trajectories_path(results))
    with pytest.raises(UsageError, match="did you mean"):
        find_episodes(trajectories, failed["task_key"][:-1], None)
    with pytest.raises(UsageError, match="no agent 'orakel' in this run; did you mean 'oracle'"):
        find_episodes(trajectories, failed["task_key"], "orakel")


def test_show_cli_lists_and_prints(run, capsys, tmp_path):
    results, _, trajectories = run
    assert main(["show", str(results), "--failures"]) == 0
    listing = capsys.readouterr().out
    failures = [t for t in trajectories if t["result"]["em"] < 1]
    assert all(t["task_key"] in listing for t in failures)
    assert main(["show", str(results), trajectories[0]["task_key"], "--agent", "oracle"]) == 0
    assert "correct" in capsys.readouterr().out
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({k: v for k, v in json.loads(results.read_text()).items() if k != "trajectories"}))
    assert main(["show", str(bare)]) == 2
    assert "--save-trajectories" in capsys.readouterr().err
