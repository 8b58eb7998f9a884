"""Every bad input to the CLI is a one-line message with a hint, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from searchgym.cli import main

SMALL = ["--set", "world_size=300", "--set", "tasks_per_type=30", "--set", "eval_tasks_per_type=30"]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse errors and --version exit
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("argv", "expected"), [
    (["eval", "--env", "SearchQA-v1"], "unknown env 'SearchQA-v1'; did you mean 'SearchQA-v0'?"),
    (["eval", "--agents", "oracel"], "unknown agent 'oracel'; did you mean 'oracle'?"),
    (["eval", "--split", "tset"], "invalid choice: 'tset'"),
    (["eval", "--set", "top_k=abc"], "top_k must be an integer, got 'abc' (default 3)"),
    (["eval", "--set", "topk=1"], "--set topk: unknown setting; did you mean 'top_k'?"),
    (["eval", "--set", "nosuchkey=1"], "--set nosuchkey: unknown setting"),
    (["eval", "--set", "noequals"], "--set expects KEY=VALUE"),
    (["eval", "--episodes", "0"], "--episodes: must be a positive integer"),
    (["eval", "--output", "results.csv"], "--output results.csv: the results JSON goes to a .json file"),
    (["eval", "--agents", "no_such_module:Agent"], "cannot import 'no_such_module'"),
    (["export", "--format", "verl", "--output", "x.parquet", "--limit", "-1"], "--limit: must be a positive integer"),
    (["export", "--format", "verl", "--output", "x.csv"], "format verl writes .parquet or .jsonl or .json files"),
    (["export", "--format", "jsonl", "--output", "x.parquet"], "format jsonl writes .jsonl or .json files"),
    (["serve", "--topk", "0"], "--topk: must be a positive integer"),
    (["serve", "--port", "99999"], "--port: must be in 1..65535"),
    (["serve", "--port", "http"], "--port: expected a port number"),
    (["evl"], "did you mean 'eval'?"),
    (["show", "missing.json"], "missing.json: no such file"),
    (["report", "missing.json", "--html", "out"], "no such results file: missing.json"),
    (["compare", "missing.json"], "missing.json"),
])
def test_bad_input_is_one_line_with_a_hint(argv, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(argv, capsys)
    assert code == 2, (code, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err + out


def test_settings_list_is_the_overridable_ones_only(capsys):
    _, _, err = run(["eval", "--set", "nosuchkey=1"], capsys)
    assert "top_k" in err and "world_size" in err
    assert "'id'" not in err and "description" not in err


def test_an_unused_agent_option_is_a_warning(tmp_path, capsys):
    output = tmp_path / "r.json"
    code, out, err = run(["eval", "--agents", "random", "--episodes", "2", "--agent-option", "foo=1",
                          "--output", str(output), *SMALL], capsys)
    assert code == 0, err
    assert "warning: --agent-option foo: unused, no agent of this run takes 'foo' (random takes none)" in err
    assert output.is_file()


def test_version_help_defaults_and_info_table(capsys):
    import searchgym

    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"searchgym {searchgym.__version__}"
    for command in ("eval", "export", "serve", "report", "show", "audit"):
        code, out, _ = run([command, "--help"], capsys)
        assert code == 0 and "``" not in out
        if command in ("eval", "export", "serve", "audit"):
            assert "(default:" in out, command
    code, out, _ = run(["--help"], capsys)
    assert "export" in out and "report" in out and "show" in out and "``" not in out
    code, out, _ = run(["info"], capsys)
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("env id"))
    assert header.split()[:3] == ["env", "id", "engine"]
    assert any(line.startswith("SearchQA-Dense-v0") and " dense " in line for line in out.splitlines())


def test_piped_eval_prints_only_results_on_stdout(tmp_path):
    """A real process, stdout and stderr piped: no progress, no third-party bars, no traceback."""
    output = tmp_path / "r.json"
    completed = subprocess.run(
        [sys.executable, "-m", "searchgym.cli", "eval", "--agents", "oracle", "--episodes", "3",
         "--output", str(output), *SMALL], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("SearchQA-v0 (test): results by task type")
    assert "it/s" not in completed.stdout + completed.stderr and "━" not in completed.stdout
    bad = subprocess.run([sys.executable, "-m", "searchgym.cli", "eval", "--set", "top_k=abc"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
