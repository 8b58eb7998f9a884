"""``searchgym show RESULTS [TASK_KEY]``: one episode, readably, from a run's trajectories.

Without a task key it lists the run's episodes (failures first) so one can be picked. With one,
it prints the question, the gold answer, the gold chain and evidence units (found or not, and
at which turn), then every turn: the action, the retrieved documents (gold evidence marked) or
the error, the reward and its parts, and the time the agent and the env took.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from searchgym.cli_support import UsageError, closest
from searchgym.evaluation import load_report, report_trajectories_path
from searchgym.tables import compact_table
from searchgym.trajectories import read_trajectories

__all__ = ["find_episodes", "load_trajectories", "render_episode", "render_episode_list"]

_SNIPPET = 160


def load_trajectories(path: str | Path) -> list[dict[str, Any]]:
    """Trajectories from a results JSON (via its ``"trajectories"`` field) or a ``.jsonl`` file."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.suffix == ".jsonl":
        return list(read_trajectories(path))
    try:
        report = load_report(path)
    except ValueError as error:
        raise UsageError(str(error)) from None
    trajectories = report_trajectories_path(report, path)
    if trajectories is None or not trajectories.exists():
        raise UsageError(f"{path} has no trajectories: rerun `searchgym eval` with --save-trajectories")
    return list(read_trajectories(trajectories))


def find_episodes(episodes: list[dict[str, Any]], task_key: str, agent: str | None) -> list[dict[str, Any]]:
    """The episodes of ``task_key`` (of ``agent`` if given); a one-line error naming close keys."""
    agents = sorted({e["agent"] for e in episodes})
    if agent is not None and agent not in agents:
        raise UsageError(f"no agent {agent!r} in this run{closest(agent, agents)} (agents: {', '.join(agents)})")
    found = [e for e in episodes if e["task_key"] == task_key and agent in (None, e["agent"])]
    if not found:
        keys = sorted({e["task_key"] for e in episodes})
        raise UsageError(
            f"no episode with task key {task_key!r}{closest(task_key, keys)} "
            f"(`searchgym show RESULTS` lists the {len(keys)} keys)"
        )
    return found


def render_episode_list(episodes: list[dict[str, Any]], console: Console, failures_only: bool = False) -> None:
    table = compact_table(
        "episodes (failures first)",
        ["agent", "task key", "type", "hops", "EM", "F1", "srch", "prediction"],
        3,
        wrap=("prediction",),
    )
    rows = sorted(episodes, key=lambda e: (e["result"]["em"], e["agent"], e["task_key"]))
    for episode in rows:
        result = episode["result"]
        if failures_only and result["em"] >= 1.0:
            continue
        table.add_row(
            episode["agent"],
            episode["task_key"],
            result["task_type"],
            str(result["hops"]),
            f"{result['em']:.0f}",
            f"{result['f1']:.2f}",
            str(result["searches"]),
            escape(str(result["prediction"])[:40]),
        )
    console.print(table)


def _id(document: dict[str, Any]) -> str:
    return f"[{document['doc_id']}]"


def _snippet(text: str, full: bool) -> str:
    text = " ".join(str(text).split())
    return text if full or len(text) <= _SNIPPET else text[:_SNIPPET] + " ..."


def render_episode(episode: dict[str, Any], console: Console, full: bool = False) -> None:
    """Print one episode; ``full`` prints whole observations and documents, not snippets."""
    task, result = episode["task"], episode["result"]
    verdict = "[green]correct[/green]" if result["em"] >= 1.0 else "[red]wrong[/red]"
    console.print(
        f"[bold]{escape(episode['agent'])}[/bold] on [bold]{escape(episode['task_key'])}[/bold] "
        f"({task['task_type']}, {task['hops']} hop(s), measured depth {task['min_searches']}): {verdict}, "
        f"EM {result['em']:.0f} F1 {result['f1']:.2f}, {result['searches']} search(es), "
        f"{len(episode['steps'])} turn(s), {episode['seconds']:.2f} s"
    )
    console.print(f"[bold]question[/bold]   {escape(task['question'])}")
    aliases = f" (also: {', '.join(task['aliases'])})" if task["aliases"] else ""
    console.print(f"[bold]gold[/bold]       {escape(task['answer'])}{escape(aliases)}")
    console.print(f"[bold]predicted[/bold]  {escape(str(result['prediction']))}")
    console.print("[bold]gold chain[/bold]")
    for index, fact in enumerate(task["chain"], start=1):
        subject, relation, obj = escape(fact["subject"]), escape(fact["relation"]), escape(str(fact["object"]))
        console.print(f"  {index}. {subject} —{relation}→ {obj}")
    console.print("[bold]gold evidence[/bold]")
    for unit in task["evidence"]:
        found = f"[green]found at turn {unit['found_at']}[/green]" if unit["found_at"] else "[red]never retrieved[/red]"
        for passage in unit["passages"]:
            console.print(
                f"  unit {unit['unit'] + 1}: {found}  {escape(passage['title'])} {escape(_id(passage))}: "
                f"{escape(_snippet(passage['text'], full))}"
            )
    for step in episode["steps"]:
        _render_step(step, console, full)


def _render_step(step: dict[str, Any], console: Console, full: bool) -> None:
    timing = f"agent {step['agent_seconds']:.3f} s, env {step['env_seconds']:.3f} s"
    console.rule(f"turn {step['turn']}: {step['kind']} ({timing})", align="left")
    console.print(f"[bold]action[/bold] {escape(_snippet(step['action'], full))}")
    if step.get("error"):
        console.print(f"[yellow]error[/yellow] {escape(str(step['error']))}")
    for record in step["results"]:
        mark = "[green]★ gold[/green] " if record.get("gold") else ""
        query = f" for {record['query']!r}" if record.get("query") and len(step["queries"]) > 1 else ""
        console.print(
            f"  {record['rank']}. {mark}{escape(record['title'])} {escape(_id(record))}{escape(query)}: "
            f"{escape(_snippet(record['text'], full))}"
        )
    if not step["results"] and step["observation"] and step["kind"] != "answer":
        console.print(f"  {escape(_snippet(step['observation'], full))}")
    if step["new_evidence_units"]:
        units = ", ".join(str(u + 1) for u in step["new_evidence_units"])
        console.print(f"  [green]found gold evidence unit(s) {units}[/green]")
    parts = ", ".join(f"{name} {value:+.3f}" for name, value in step["reward_parts"].items())
    console.print(f"[bold]reward[/bold] {step['reward']:+.3f}" + (f" ({parts})" if parts else ""))
