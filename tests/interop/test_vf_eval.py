"""``vf-eval searchgym`` (verifiers' own CLI, in a subprocess) against our OpenAI server.

It runs as the README shows: ``--env.agent.runtime.type subprocess`` (a local runtime instead
of a remote sandbox) and ``--no-push`` (no result upload). verifiers imports the ``searchgym``
package, takes the taskset and harness it exports, launches one MCP tool server per rollout and
drives the model through its interception proxy.

The model plays the oracle's gold tool calls (a scripted OpenAI model: every turn it writes the
next Hermes ``<tool_call>`` of the task's gold trajectory), so a reward of 1.0 proves the whole
loop: prompt with tool schemas, tool calls parsed by our server, tools run by verifiers, the
env's replayed reward. The bundled SmolLM2 then runs the same command through ``searchgym
serve-llm``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from episodes import SMALL, oracle_tool_calls
from loopback import serve_openai_app

pytest.importorskip("verifiers.v1", reason="verifiers >= 0.4 is not installed")

from searchgym.export import task_records  # noqa: E402
from searchgym.llm.base import Generation  # noqa: E402
from searchgym.llm.openai_server import create_openai_app  # noqa: E402

VF_EVAL = Path(sys.executable).with_name("vf-eval")
_QUESTION = re.compile(r"Question: (.*)\n?$")


class OracleToolModel:
    """An OpenAI-served "model" that answers each turn with the next gold tool call of its task."""

    def __init__(self, plans: dict[str, list[tuple[str, dict]]]) -> None:
        self.plans = plans
        self.tools_seen: list[list[str]] = []
        self.lock = threading.Lock()

    def generate(self, prompts, config=None):
        return [g.text for g in self.generate_detailed(prompts, config)]

    def generate_detailed(self, prompts, config=None, tools=None):
        with self.lock:
            self.tools_seen.append(sorted(t["function"]["name"] for t in tools or []))
        outputs = []
        for messages in prompts:
            question = _QUESTION.search(next(m["content"] for m in messages if m["role"] == "user").strip()).group(1)
            done = sum(1 for m in messages if m["role"] == "tool")
            name, arguments = self.plans[question][done]
            outputs.append(Generation(f'<tool_call>\n{json.dumps({"name": name, "arguments": arguments})}\n</tool_call>',
                                      "stop", 50, 20))
        return outputs


def vf_eval(base_url: str, out: Path, limit: int, model: str, max_turns: int = 6) -> list[dict]:
    command = [str(VF_EVAL), "searchgym", "--env.taskset.overrides", json.dumps(SMALL), "-n", str(limit),
               "-m", model, "--client.base-url", base_url, "--env.agent.runtime.type", "subprocess",
               "--env.agent.max-turns", str(max_turns), "--no-push", "--no-rich", "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    (traces,) = out.glob("*/traces.jsonl")
    return [trace for line in traces.read_text().splitlines() for trace in json.loads(line)["traces"]]


@pytest.mark.slow
def test_vf_eval_runs_the_taskset_with_the_tools_prompt(tmp_path):
    records = task_records("SearchQA-v0", prompt_style="tools", **SMALL)[:2]
    plans = {record["question"]: oracle_tool_calls(record["task_key"]) for record in records}
    model = OracleToolModel(plans)
    with serve_openai_app(create_openai_app(model, "oracle")) as url:
        traces = vf_eval(url, tmp_path, limit=2, model="oracle")
    assert len(traces) == 2
    for trace in traces:
        assert trace["ok"] and not trace["errors"]
        assert trace["rewards"]["searchgym_reward"]["score"] == 1.0
        assert trace["metrics"]["searchgym_evidence_recall"] == 1.0
        first = trace["nodes"][0]["message"]
        assert first["role"] == "user" and "call the answer tool" in first["content"]  # the tools prompt
        calls = [m["message"] for m in trace["nodes"] if m["message"]["role"] == "assistant"]
        assert calls and all(m.get("tool_calls") for m in calls)  # native tool calls, parsed by our server
    assert all(seen == ["access", "answer", "search"] for seen in model.tools_seen)


@pytest.mark.slow
def test_vf_eval_against_serve_llm_with_smollm2(tmp_path):
    """The README command: ``searchgym serve-llm`` (bundled SmolLM2) and ``vf-eval searchgym``."""
    from loopback import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "searchgym.cli", "serve-llm", "--port", str(port),
                               "--num-threads", "1", "--default-max-tokens", "24", "--log-level", "warning"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = server.stdout.readline()
        while line and "serving" not in line:
            line = server.stdout.readline()
        assert "serving" in line, "serve-llm did not start"
        traces = vf_eval(f"http://127.0.0.1:{port}/v1", tmp_path, limit=1, model="smollm2", max_turns=2)
    finally:
        server.terminate()
        server.wait(30)
    (trace,) = traces
    assert trace["ok"] and trace["stop_condition"] == "agent_completed"
    assert "searchgym_reward" in trace["rewards"] and trace["num_input_tokens"] > 300  # tool schemas in the prompt
