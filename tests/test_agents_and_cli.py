"""Baseline agents and the ``searchgym eval`` main job."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import gymnasium as gym
import pytest

import searchgym  # noqa: F401
from searchgym.agents import HeuristicAgent, OracleAgent, RandomAgent, make_agent
from searchgym.evaluation import evaluate, run_episode


@pytest.fixture(scope="module")
def default_env():
    environment = gym.make("SearchQA-v0", split="test", max_turns=12)
    yield environment
    environment.close()


def test_oracle_solves_every_task_of_the_default_env_through_real_search(default_env):
    """Solvability end to end: each gold fact is retrieved by search, then EM is 1.0."""
    oracle = OracleAgent()
    tasks = default_env.unwrapped.tasks
    counts = Counter(task.task_type for task in tasks)
    assert len(tasks) >= 1000 and len(counts) == 5 and min(counts.values()) >= 50, counts
    for index, task in enumerate(tasks):
        result = run_episode(default_env, oracle, task.task_key, index)
        assert result.em == 1.0 and result.evidence_recall == 1.0, task.task_key
    assert oracle.accessed_fallbacks == 0


def test_heuristic_beats_random_which_scores_nothing(default_env):
    report = evaluate("SearchQA-v0", [HeuristicAgent(), RandomAgent()], 80, seed=1, split="test",
                      show_progress=False)
    heuristic = report["agents"]["heuristic"]["by_task_type"]["all"]["em"]
    random = report["agents"]["random"]["by_task_type"]["all"]["em"]
    assert heuristic > random + 0.1
    assert random < 0.1


def test_random_agent_is_seeded():
    env = gym.make("SearchQA-v0", world_size=300, tasks_per_type=30)
    key = env.unwrapped.tasks[0].task_key
    first = run_episode(env, RandomAgent(), key, seed=5)
    second = run_episode(env, RandomAgent(), key, seed=5)
    assert first == second


def test_make_agent_rejects_unknown_names():
    with pytest.raises(ValueError, match="oracle"):
        make_agent("genius")


def test_eval_cli_writes_tables_and_json(tmp_path):
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "searchgym.cli", "eval", "--env", "SearchQA-v0", "--agents", "oracle,random",
         "--episodes", "12", "--output", str(output), "--no-progress", "--set", "world_size=300",
         "--set", "tasks_per_type=30", "--set", "eval_tasks_per_type=30"],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "results by task type" in completed.stdout and "results by hops" in completed.stdout
    report = json.loads(output.read_text())
    assert report["episodes"] == 12
    assert report["agents"]["oracle"]["by_task_type"]["all"]["em"] == 1.0
    assert len(report["agents"]["random"]["episodes"]) == 12
    assert {"em", "f1", "searches", "turns"} <= set(report["agents"]["oracle"]["by_hops"]["all"])


def test_eval_cli_rejects_bad_arguments():
    completed = subprocess.run([sys.executable, "-m", "searchgym.cli", "eval", "--episodes", "0"],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode != 0 and "episodes" in completed.stderr


def test_agent_options_can_be_scoped_to_one_agent():
    from searchgym.cli import options_for_agent

    options = {"model": "shared", "openai.model": "served-name", "llm.temperature": 0.7, "seed": 3}
    agents = ["llm", "openai"]
    assert options_for_agent(options, "openai", agents) == {"model": "served-name", "seed": 3}
    assert options_for_agent(options, "llm", agents) == {"model": "shared", "temperature": 0.7, "seed": 3}
    with pytest.raises(SystemExit, match="'heuristc' is not one of the agents"):
        options_for_agent({"heuristc.x": 1}, "llm", agents)


def test_eval_cli_rejects_an_option_scoped_to_an_absent_agent(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "searchgym.cli", "eval", "--agents", "oracle", "--episodes", "1",
         "--agent-option", "openai.model=x", "--output", str(tmp_path / "r.json"), "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert "'openai' is not one of the agents" in result.stderr + result.stdout


def _heuristic_on(question: str, observations: list[str]) -> list[str]:
    """The heuristic's actions for ``question`` given each search's results in turn."""
    agent = HeuristicAgent()
    prompt = f"Answer the given question. Question: {question}\n"
    agent.begin(prompt, {}, 0)
    actions = [agent.act(prompt, {})]
    for observation in observations:
        actions.append(agent.act(observation, {}))
    return actions


def test_heuristic_reads_the_first_sentence_that_names_something():
    """A page opens with "X is a feature film.", as close to the question as the sentence
    that answers it; the heuristic must read on to the one that names the studio."""
    page = ("<information>Doc 1 (Title: Vadratrum Rising) [id: film_1-p0] Vadratrum Rising is a feature "
            "film. Vadratrum Rising is a production of Prupei Laboratories. Vadratrum Rising was released "
            "in 1935.</information>")
    assert _heuristic_on("Which studio produced Vadratrum Rising?", [page])[-1] == "<answer>Prupei Laboratories</answer>"
    person = ("<information>Doc 1 (Title: Wycom Pebryk) [id: person_1-p0] Wycom Pebryk is a person listed in "
              "this encyclopedia. Wycom Pebryk works for Meikris Mills. Wycom Pebryk works as an engineer."
              "</information>")
    assert _heuristic_on("What is the occupation of Wycom Pebryk?", [person])[-1] == "<answer>engineer</answer>"


def test_heuristic_follows_an_entity_on_intermediate_hops_and_extracts_the_answer_last():
    film = ("<information>Doc 1 (Title: A Winter in Sulae) [id: film_2-p0] Skaefek Jikrex directed A Winter "
            "in Sulae. A Winter in Sulae was released in 1935.</information>")
    director = ("<information>Doc 1 (Title: Skaefek Jikrex) [id: person_2-p0] Skaefek Jikrex is a person "
                "listed in this encyclopedia. Skaefek Jikrex was born in 1908.</information>")
    actions = _heuristic_on("In which year was the director of A Winter in Sulae born?", [film, director])
    assert actions[1].startswith("<search>Skaefek Jikrex ")  # the bridge entity, not the film's year
    assert actions[-1] == "<answer>1908</answer>"
