"""A user's own agent, evaluated in one command; honest agents never receive the env."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import searchgym  # noqa: F401
from searchgym.agents import AgentError, OracleAgent, make_agent, register_agent
from searchgym.agents.registry import AGENTS
from searchgym.batched_eval import LockstepAgents, run_episodes_batched
from searchgym.cli import main
from searchgym.evaluation import evaluate

SMALL = {"world_size": 300, "tasks_per_type": 30, "eval_tasks_per_type": 30}
SMALL_FLAGS = [flag for key, value in SMALL.items() for flag in ("--set", f"{key}={value}")]
README = Path(__file__).resolve().parents[1] / "README.md"

AGENT_MODULE = '''
class Recorder:
    """Records what begin() receives; searches the question once, then answers."""
    name = "recorder"
    seen = []

    def __init__(self, greeting: str = "hello"):
        self.greeting = greeting

    def begin(self, observation, info, seed, **extra):
        Recorder.seen.append(sorted(extra))
        self.question = info["question"]

    def act(self, observation, info):
        if not info["results"]:
            return f"<search>{self.question}</search>"
        return f"<answer>{self.greeting}</answer>"


class Peeker(Recorder):
    """A privileged baseline: opts in, and is handed the env."""
    name = "peeker"
    privileged = True

    def begin(self, observation, info, seed, *, env):
        Recorder.seen.append(["env"])
        self.answer = env.unwrapped.task.answer
        self.question = info["question"]

    def act(self, observation, info):
        return f"<answer>{self.answer}</answer>"


class NotAnAgent:
    name = "nothing"
'''


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- custom-agent-example", 1)[1]
    return re.search(r"```python\n(.*?)```", block, re.S).group(1)


@pytest.fixture
def agent_dir(tmp_path, monkeypatch):
    (tmp_path / "my_agent.py").write_text(readme_example())
    (tmp_path / "custom_agents.py").write_text(AGENT_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    yield tmp_path
    for name in ("my_agent", "custom_agents"):
        sys.modules.pop(name, None)


def test_the_readme_example_is_ten_lines_and_runs_from_the_cli(agent_dir, capsys):
    code_lines = [line for line in readme_example().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(code_lines) <= 11  # the class, its docstring, name, two methods: about 10 lines
    output = agent_dir / "mine.json"
    assert main(["eval", "--agents", "my_agent:FirstHitAgent,heuristic", "--episodes", "6", "--output", str(output),
                 "--save-trajectories", *SMALL_FLAGS]) == 0
    report = json.loads(output.read_text())
    assert set(report["agents"]) == {"first-hit", "heuristic"} and report["split"] == "test"
    episodes = report["agents"]["first-hit"]["episodes"]
    assert len(episodes) == 6 and all(e["answered"] and e["searches"] == 1 for e in episodes)
    assert "first-hit" in capsys.readouterr().out


def test_a_file_spec_and_signature_options(agent_dir, capsys):
    output = agent_dir / "r.json"
    assert main(["eval", "--agents", "custom_agents.py:Recorder", "--episodes", "2", "--output", str(output),
                 "--agent-option", "greeting=hi", "--agent-option", "colour=red", *SMALL_FLAGS]) == 0
    err = capsys.readouterr().err
    assert "--agent-option colour: unused" in err and "(custom_agents.py:Recorder takes greeting)" in err
    assert "--agent-option greeting" not in err
    episodes = json.loads(output.read_text())["agents"]["recorder"]["episodes"]
    assert [e["prediction"] for e in episodes] == ["hi", "hi"]


def test_honest_agents_get_no_env_and_privileged_ones_opt_in(agent_dir):
    sys.path.insert(0, str(agent_dir))
    import custom_agents

    custom_agents.Recorder.seen.clear()
    report = evaluate("SearchQA-v0", [custom_agents.Recorder(), custom_agents.Peeker()], 3, env_kwargs=SMALL,
                      show_progress=False)
    assert custom_agents.Recorder.seen == [[]] * 3 + [["env"]] * 3
    assert report["agents"]["peeker"]["by_task_type"]["all"]["em"] == 1.0
    # The batched path applies the same rule, through LockstepAgents.
    custom_agents.Recorder.seen.clear()
    keys = [key["task_key"] for key in report["agents"]["peeker"]["episodes"]]
    for factory in (custom_agents.Recorder, custom_agents.Peeker):
        run_episodes_batched("SearchQA-v0", LockstepAgents(factory, 2), keys, 0, env_kwargs={**SMALL, "split": "test"})
    assert custom_agents.Recorder.seen == [[]] * 3 + [["env"]] * 3


def test_spec_errors_are_one_line_with_suggestions(agent_dir):
    with pytest.raises(AgentError, match="has no attribute 'FirstHitAgen'; did you mean FirstHitAgent"):
        make_agent("my_agent:FirstHitAgen")
    with pytest.raises(AgentError, match="is not an agent: it has no begin"):
        make_agent("custom_agents:NotAnAgent")
    with pytest.raises(AgentError, match="no file nowhere.py"):
        make_agent("nowhere.py:Agent")
    with pytest.raises(AgentError, match="not an import spec"):
        make_agent("custom_agents:")


def test_register_agent_with_its_options():
    calls = []

    def factory(depth: int = 1):
        calls.append(depth)
        agent = OracleAgent()
        agent.name = "deep"
        return agent

    register_agent("deep", factory)
    try:
        assert AGENTS["deep"].options == frozenset({"depth"})
        assert make_agent("deep", depth=3, unrelated=1).name == "deep" and calls == [3]
        with pytest.raises(AgentError, match="must be non-empty"):
            register_agent("a:b", factory)
    finally:
        AGENTS.pop("deep")


def test_structured_results_match_the_observation():
    env = gym.make("SearchQA-v0", **SMALL, top_k=3, max_doc_chars=120)
    observation, info = env.reset(seed=0)
    assert info["results"] == []
    task = env.unwrapped.task
    observation, _, _, _, info = env.step({"name": "search", "arguments": {"query": task.question}})
    records = info["results"]
    assert [r["rank"] for r in records] == [1, 2, 3] and [r["doc_id"] for r in records] == info["doc_ids"]
    for record in records:
        assert f"(Title: {record['title']}) [id: {record['doc_id']}] {record['text']}" in observation
        assert len(record["text"]) <= 120 + 4 and record["query"] == task.question and record["score"] is not None
    observation, _, _, _, info = env.step(f"<access>{records[0]['doc_id']}</access>")
    # An open shows the whole article: one record per passage it shows, the opened one among them.
    opened = info["results"]
    assert [r["doc_id"] for r in opened] == info["doc_ids"] and records[0]["doc_id"] in info["doc_ids"]
    assert all(r["score"] is None and r["query"] is None and r["text"] in observation for r in opened)
    _, _, _, _, info = env.step("no tag at all")
    assert info["results"] == [] and info["action_kind"] == "invalid"
