"""The searchgym command line.

benchmark:  eval (run agents, print tables, save JSON and trajectories), show (one episode),
            report (HTML page and Markdown leaderboard), compare (paired significance),
            audit (task depth, shortcuts, priors, split isolation)
serve:      serve (Search-R1 /retrieve), serve-llm (OpenAI API), serve-sim (ZeroSearch),
            serve-env (OpenEnv)
data:       export (verl / SkyRL / TRL datasets), preview (a world's pages and tasks),
            info (the bundled envs)

Errors in what you typed are one line, with the closest valid value when there is one
(SEARCHGYM_DEBUG=1 shows the traceback). Results go to stdout; progress bars go to stderr, and
only when it is a terminal.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from searchgym.cli_support import (
    Parser,
    UsageError,
    check_env_id,
    check_output_path,
    check_settings,
    parse_overrides,
    positive_int,
    progress_enabled,
    quiet_third_party_progress,
    warn,
)

SPLITS = ("train", "validation", "test")


def output_console() -> Console:
    """The console results go to: as wide as the tables when stdout is a file or a pipe (rich
    would otherwise wrap them at 80 columns), the terminal's own width otherwise."""
    return Console() if sys.stdout.isatty() else Console(width=140)


def options_for_agent(options: dict[str, Any], agent: str, agents: list[str]) -> dict[str, Any]:
    """The ``--agent-option``\\ s of one agent: ``key=v`` goes to every agent, ``agent.key=v`` to one.

    Why scoped keys: ``--agents llm,openai`` needs two different ``model`` values in one command;
    a scoped key wins over the shared one. A prefix naming no agent of the run is an error, not a
    silently ignored option.
    """
    shared: dict[str, Any] = {}
    scoped: dict[str, Any] = {}
    for key, value in options.items():
        owner = _owner(key, agents)
        if owner is None:
            if "." in key:
                prefix = key.partition(".")[0]
                raise SystemExit(f"--agent-option {key}: {prefix!r} is not one of the agents {agents}")
            shared[key] = value
        elif owner == agent:
            scoped[key[len(owner) + 1 :]] = value
    return {**shared, **scoped}


def _owner(key: str, agents: list[str]) -> str | None:
    """The agent an ``agent.key`` option is scoped to (longest name first: custom agents'
    import specs contain dots), or ``None`` for a shared option."""
    for agent in sorted(agents, key=len, reverse=True):
        if key.startswith(agent + "."):
            return agent
    return None


def warn_unused_agent_options(options: dict[str, Any], agents: list[str]) -> None:
    """An ``--agent-option`` that no agent of the run takes is named, not silently dropped."""
    from searchgym.agents.registry import accepted_options

    accepted = {agent: accepted_options(agent) for agent in agents}
    for key in options:
        owner = _owner(key, agents)
        targets = [owner] if owner else agents
        option = key[len(owner) + 1 :] if owner else key
        if not any((names := accepted[a]) is None or option in names for a in targets):
            takes = "; ".join(
                f"{a} takes {', '.join(sorted(names)) or 'none'}" for a in targets if (names := accepted[a]) is not None
            )
            warn(f"--agent-option {key}: unused, no agent of this run takes {option!r} ({takes})")


def _cmd_eval(args: argparse.Namespace) -> int:
    from searchgym.agents import make_agent
    from searchgym.evaluation import evaluate, render_tables, save_report
    from searchgym.trajectories import trajectories_path

    check_env_id(args.env)
    env_kwargs = check_settings(args.env, parse_overrides(args.set))
    if "split" in env_kwargs:
        raise UsageError("--set split=...: use --split")
    output = check_output_path(
        args.output or f"results/eval-{args.env.replace('/', '_')}.json", (".json",), "the results JSON"
    )
    names = [name.strip() for name in args.agents.split(",") if name.strip()]
    if not names:
        raise UsageError("--agents: no agent given")
    agent_options = parse_overrides(args.agent_option, "--agent-option")
    warn_unused_agent_options(agent_options, names)
    agents = [make_agent(name, **options_for_agent(agent_options, name, names)) for name in names]
    if len({agent.name for agent in agents}) != len(agents):
        raise UsageError(f"--agents: two agents share a name ({[a.name for a in agents]}); their rows would collide")
    console = output_console()
    report = evaluate(
        args.env,
        agents,
        args.episodes,
        split=args.split,
        seed=args.seed,
        env_kwargs=env_kwargs,
        show_progress=progress_enabled(args.no_progress),
        trajectories_to=trajectories_path(output) if args.save_trajectories else None,
    )
    report["command"] = "searchgym " + shlex.join(args.argv)
    render_tables(report, console)
    save_report(report, output)
    console.print(
        f"results saved to [bold]{output}[/bold]"
        + (f", trajectories to [bold]{trajectories_path(output)}[/bold]" if args.save_trajectories else "")
    )
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from searchgym.show import find_episodes, load_trajectories, render_episode, render_episode_list

    episodes = load_trajectories(args.results)
    console = output_console()
    if args.task_key is None and args.full:
        warn("--full: unused, it applies to one episode (give a TASK_KEY)")
    if args.task_key is not None and args.failures:
        warn("--failures: unused, it applies to the list of episodes (without a TASK_KEY)")
    if args.task_key is None:
        render_episode_list(
            episodes if args.agent is None else [e for e in episodes if e["agent"] == args.agent],
            console,
            failures_only=args.failures,
        )
        return 0
    for episode in find_episodes(episodes, args.task_key, args.agent):
        render_episode(episode, console, full=args.full)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from searchgym.report import collect_runs, leaderboard_markdown, write_html

    if not args.html and not args.markdown:
        raise UsageError("nothing to write: give --html DIR and/or --markdown FILE (- for stdout)")
    if args.title != "searchgym report" and not args.html:
        warn("--title: unused without --html")
    missing = [path for path in args.results if not Path(path).is_file()]
    if missing:
        raise UsageError(f"no such results file: {missing[0]}")
    model = collect_runs(args.results)
    if args.html:
        if Path(args.html).suffix.lower() in (".html", ".htm"):
            raise UsageError(f"--html takes a folder (index.html is written in it), got {args.html}")
        path = write_html(model, args.html, title=args.title)
        print(f"report written to {path}", file=sys.stderr if args.markdown == "-" else sys.stdout)
    if args.markdown:
        text = leaderboard_markdown(model)
        if args.markdown == "-":
            sys.stdout.write(text)
        else:
            check_output_path(args.markdown, (".md", ".markdown"), "the Markdown leaderboard")
            Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
            Path(args.markdown).write_text(text, encoding="utf-8")
            print(f"leaderboard written to {args.markdown}")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from searchgym.audit import run_audit
    from searchgym.audit.render import render_audit
    from searchgym.evaluation import save_report

    check_env_id(args.env)
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown or not splits:
        raise UsageError(f"--splits: {unknown or 'nothing'} given; use train, validation and/or test")
    env_kwargs = check_settings(args.env, parse_overrides(args.set))
    output = check_output_path(
        args.output or f"results/audit-{args.env.replace('/', '_')}.json", (".json",), "the audit JSON"
    )
    console = output_console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(
        *columns, console=Console(stderr=True), disable=not progress_enabled(args.no_progress), transient=True
    ) as progress:
        report = run_audit(args.env, splits, env_kwargs=env_kwargs, progress=progress)
    render_audit(report, console)
    save_report(report, output)
    console.print(f"audit saved to [bold]{output}[/bold]")
    return 0 if report["passed"] else 1


def _cmd_compare(args: argparse.Namespace) -> int:
    from searchgym.compare import CompareError, compare_reports, render_comparison
    from searchgym.evaluation import save_report

    names: tuple[str | None, str | None] = (None, None)
    if args.agents:
        parts = [part.strip() or None for part in args.agents.split(",")]
        if len(parts) != 2:
            raise UsageError("--agents takes two names, A,B (the agent of the first file, then of the second)")
        names = (parts[0], parts[1])
    try:
        result = compare_reports(args.first, args.second or args.first, names)
    except CompareError as error:
        raise UsageError(str(error)) from None
    render_comparison(result, output_console())
    if args.output:
        save_report(result, check_output_path(args.output, (".json",), "the comparison JSON"))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from searchgym.envs.config import load_spec, spec_files
    from searchgym.tables import compact_table

    table = compact_table(
        "bundled envs (gym.make(ID) or searchgym eval --env ID)",
        ["env id", "engine", "world", "split", "turns", "top-k", "description"],
        2,
        wrap=("description",),
    )
    for env_id in spec_files():
        config = load_spec(env_id)
        table.add_row(
            env_id,
            config.engine,
            str(config.world_size),
            config.split,
            str(config.max_turns),
            str(config.top_k),
            config.description,
        )
    output_console().print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    import searchgym

    parser = Parser(prog="searchgym", description=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--version", action="version", version=f"searchgym {searchgym.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    evaluation = commands.add_parser(
        "eval",
        help="evaluate agents on an env (tables, JSON, trajectories)",
        description="Run agents on the same tasks; print tables; save JSON.",
    )
    evaluation.add_argument("--env", default="SearchQA-v0", help="env id (searchgym info lists them)")
    evaluation.add_argument(
        "--agents",
        default="oracle,heuristic,random",
        help="comma-separated: oracle, heuristic, random, llm, openai, or your own as "
        "module.path:ClassName or file.py:ClassName",
    )
    evaluation.add_argument("--episodes", type=positive_int, default=100, help="tasks per agent")
    evaluation.add_argument("--split", default="test", choices=SPLITS, help="each split is its own world")
    evaluation.add_argument("--seed", type=int, default=0, help="picks the tasks and seeds the episodes")
    evaluation.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="env setting override, e.g. --set top_k=5 (repeatable)",
    )
    evaluation.add_argument(
        "--agent-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="agent option for every agent, e.g. model=/path, or for one agent, e.g. openai.model=name (repeatable)",
    )
    evaluation.add_argument("--output", help="results JSON (default: results/eval-<env>.json)")
    evaluation.add_argument(
        "--save-trajectories",
        action="store_true",
        help="also write every episode as JSONL beside the results (<output>.trajectories.jsonl)",
    )
    evaluation.add_argument(
        "--no-progress", action="store_true", help="no progress bar (none when stderr is not a terminal)"
    )
    evaluation.set_defaults(func=_cmd_eval)

    show = commands.add_parser(
        "show",
        help="print one episode of a run (or list its episodes)",
        description="Print an episode: question, gold chain and evidence, each turn.",
    )
    show.add_argument("results", help="results JSON of `searchgym eval --save-trajectories`, or its .jsonl")
    show.add_argument("task_key", nargs="?", help="the episode's task key (omit to list the episodes)")
    show.add_argument("--agent", help="only this agent's episode(s)")
    show.add_argument("--full", action="store_true", help="whole documents and observations, not snippets")
    show.add_argument("--failures", action="store_true", help="when listing, only failed episodes")
    show.set_defaults(func=_cmd_show)

    report = commands.add_parser(
        "report",
        help="HTML report and Markdown leaderboard of eval results",
        description="Leaderboard with 95% CIs, EM plots and a trajectory viewer.",
    )
    report.add_argument("results", nargs="+", help="results JSON files of searchgym eval")
    report.add_argument("--html", metavar="DIR", help="write DIR/index.html (self-contained)")
    report.add_argument("--markdown", metavar="FILE", help="write the leaderboard as Markdown (- for stdout)")
    report.add_argument("--title", default="searchgym report", help="page title")
    report.set_defaults(func=_cmd_report)

    compare = commands.add_parser("compare", help="paired difference of two agents' EM and F1, with a bootstrap CI")
    compare.add_argument("first", help="a searchgym eval results JSON")
    compare.add_argument("second", nargs="?", help="another results JSON (default: the first, for two of its agents)")
    compare.add_argument(
        "--agents", help="A,B: the agent of the first file and of the second (needed when a file holds several)"
    )
    compare.add_argument("--output", help="also save the comparison as JSON")
    compare.set_defaults(func=_cmd_compare)

    audit = commands.add_parser("audit", help="measure an env's task depth, shortcuts, priors and split isolation")
    audit.add_argument("--env", default="SearchQA-v0", help="env id")
    audit.add_argument("--splits", default="train,validation,test", help="comma-separated splits to audit")
    audit.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="env setting override, e.g. --set top_k=5 (repeatable)",
    )
    audit.add_argument("--output", help="JSON report path (default: results/audit-<env>.json)")
    audit.add_argument("--no-progress", action="store_true", help="no progress bar")
    audit.set_defaults(func=_cmd_audit)

    from searchgym.serve.commands import add_server_parsers

    add_server_parsers(commands)

    from searchgym.export import add_export_parser
    from searchgym.preview import add_preview_parser

    add_export_parser(commands)
    add_preview_parser(commands)

    info = commands.add_parser("info", help="list the bundled env specs as a table")
    info.set_defaults(func=_cmd_info)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input, not a bug: printed as one line."""
    import gymnasium as gym

    from searchgym.llm.base import LLMError

    return UsageError, ValueError, LLMError, gym.error.Error, FileNotFoundError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in the results, so a run says how to reproduce it
    quiet_third_party_progress()
    import searchgym  # noqa: F401  (registers the envs)

    try:
        return int(args.func(args))
    except _user_errors() as error:
        if os.environ.get("SEARCHGYM_DEBUG"):
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"searchgym {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"searchgym {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
