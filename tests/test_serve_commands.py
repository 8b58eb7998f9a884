"""The server subcommands of the CLI: flags, refusals, and each server started as a user starts it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
from loopback import free_port

from searchgym.cli import build_parser
from episodes import SMALL_FLAGS as SMALL_SET


def test_flags_parse_and_bad_values_are_refused(capsys):
    parser = build_parser()
    args = parser.parse_args(["serve", "--max-batch", "8192", "--max-query-chars", "512", "--topk", "5"])
    assert (args.max_batch, args.max_query_chars, args.topk) == (8192, 512, 5)
    assert parser.parse_args(["serve"]).max_batch == 4096
    assert parser.parse_args(["serve-llm", "--served-model-name", "policy"]).served_model_name == "policy"
    assert parser.parse_args(["serve-sim"]).port == 6001  # ZeroSearch's simulator port
    assert parser.parse_args(["serve-env", "--max-sessions", "4"]).max_sessions == 4
    for bad in (["serve", "--max-batch", "0"], ["serve-env", "--max-sessions", "-1"], ["serve-llm", "--batch-size", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    assert "must be a positive integer" in capsys.readouterr().err


def started(arguments: list[str], port: int):
    """``searchgym <arguments>`` in a subprocess, once its /health answers."""
    process = subprocess.Popen([sys.executable, "-m", "searchgym.cli", *arguments, "--port", str(port),
                                "--log-level", "warning"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("server did not start")


@pytest.mark.slow
def test_serve_serve_sim_and_serve_env_start_from_the_command_line():
    ports = [free_port() for _ in range(3)]
    servers = [started(["serve", "--max-batch", "8", *SMALL_SET], ports[0]),
               started(["serve-sim", "--env", "SearchQA-Sim-v0", *SMALL_SET], ports[1]),
               started(["serve-env", "--max-sessions", "3", *SMALL_SET], ports[2])]
    try:
        health = httpx.get(f"http://127.0.0.1:{ports[0]}/health").json()
        assert health["limits"]["max_batch"] == 8
        assert httpx.post(f"http://127.0.0.1:{ports[0]}/retrieve", json={"queries": ["a"] * 9}).status_code == 422
        prompt = "You are the Google search engine.\nGiven a query, you need to generate five useful documents for the query.\n\nQuery: who\nUseful Output:\n"
        reply = httpx.post(f"http://127.0.0.1:{ports[1]}/v1/chat/completions", timeout=30,
                           json={"model": "", "messages": [{"role": "user", "content": prompt}]}).json()
        assert reply["choices"][0]["message"]["content"].startswith("Doc 1: ")
        bad = httpx.post(f"http://127.0.0.1:{ports[1]}/v1/chat/completions",
                         json={"model": "", "messages": [{"role": "user", "content": "hello"}]})
        assert bad.status_code == 400 and "not a simulated-search prompt" in bad.json()["error"]["message"]
        assert httpx.get(f"http://127.0.0.1:{ports[2]}/health").json()["max_sessions"] == 3
        episode = httpx.post(f"http://127.0.0.1:{ports[2]}/reset", json={}).json()
        assert episode["observation"]["text"] and not episode["done"]
        assert json.loads(json.dumps(episode))["observation"]["episode_id"]
    finally:
        for server in servers:
            server.terminate()
            server.wait(30)
