"""The ``searchgym`` command line: ``eval`` (the main job), ``audit``, ``compare``, the servers
(``serve``, ``serve-llm``, ``serve-sim``, ``serve-env``), ``export``, ``preview``, ``info``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console


def output_console() -> Console:
    """The console results go to: as wide as the tables when stdout is a file or a pipe (rich
    would otherwise wrap them at 80 columns), the terminal's own width otherwise."""
    return Console() if sys.stdout.isatty() else Console(width=140)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``--set key=value`` pairs; values are parsed as JSON when they can be (numbers, lists)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            overrides[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key.strip()] = raw
    return overrides


def options_for_agent(options: dict[str, Any], agent: str, agents: list[str]) -> dict[str, Any]:
    """The ``--agent-option``s of one agent: ``key=v`` goes to every agent, ``agent.key=v`` to one.

    Why scoped keys: ``--agents llm,openai`` needs two different ``model`` values in one command;
    a scoped key wins over the shared one. A prefix naming no agent of the run is an error, not a
    silently ignored option.
    """
    shared: dict[str, Any] = {}
    scoped: dict[str, Any] = {}
    for key, value in options.items():
        prefix, dot, name = key.partition(".")
        if not dot:
            shared[key] = value
            continue
        if prefix not in agents:
            raise SystemExit(f"--agent-option {key}: {prefix!r} is not one of the agents {agents}")
        if prefix == agent:
            scoped[name] = value
    return {**shared, **scoped}


def _cmd_eval(args: argparse.Namespace) -> int:
    from searchgym.agents import make_agent
    from searchgym.evaluation import evaluate, render_tables, save_report

    console = output_console()
    names = [name.strip() for name in args.agents.split(",") if name.strip()]
    agent_options = parse_overrides(args.agent_option)
    agents = [make_agent(name, **options_for_agent(agent_options, name, names)) for name in names]
    env_kwargs = parse_overrides(args.set)
    if args.split:
        env_kwargs["split"] = args.split
    report = evaluate(args.env, agents, args.episodes, seed=args.seed, env_kwargs=env_kwargs, console=console,
                      show_progress=not args.no_progress)
    render_tables(report, console)
    output = Path(args.output or f"results/eval-{args.env.replace('/', '_')}.json")
    save_report(report, output)
    console.print(f"results saved to [bold]{output}[/bold]")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from searchgym.audit import run_audit
    from searchgym.audit.render import render_audit
    from searchgym.evaluation import save_report

    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    unknown = sorted(set(splits) - {"train", "validation", "test"})
    if unknown or not splits:
        raise SystemExit(f"--splits: {unknown or 'nothing'} given; use train, validation and/or test")
    console = output_console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=args.no_progress, transient=True) as progress:
        report = run_audit(args.env, splits, env_kwargs=parse_overrides(args.set), progress=progress)
    render_audit(report, console)
    output = Path(args.output or f"results/audit-{args.env.replace('/', '_')}.json")
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
            raise SystemExit("--agents takes two names, A,B (the agent of the first file, then of the second)")
        names = (parts[0], parts[1])
    second = args.second or args.first
    try:
        result = compare_reports(args.first, second, names)
    except CompareError as error:
        raise SystemExit(f"searchgym compare: {error}") from None
    render_comparison(result, output_console())
    if args.output:
        save_report(result, Path(args.output))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from searchgym.envs.config import load_spec, spec_files

    console = output_console()
    for env_id in spec_files():
        config = load_spec(env_id)
        console.print(f"[bold]{env_id}[/bold]: {config.description} (engine={config.engine}, "
                      f"world_size={config.world_size}, split={config.split})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="searchgym", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    evaluation = commands.add_parser("eval", help="evaluate baseline agents on an env")
    evaluation.add_argument("--env", default="SearchQA-v0")
    evaluation.add_argument("--agents", default="oracle,heuristic,random",
                            help="comma-separated agent names (oracle, heuristic, random, llm, openai)")
    evaluation.add_argument("--episodes", type=int, default=100)
    evaluation.add_argument("--split", default="test", help="train, validation, test or all")
    evaluation.add_argument("--seed", type=int, default=0)
    evaluation.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help="env setting override, e.g. --set top_k=5 (repeatable)")
    evaluation.add_argument("--agent-option", action="append", default=[], metavar="KEY=VALUE",
                            help="agent option for every agent, e.g. model=/path, or for one agent, e.g. "
                                 "openai.model=name (repeatable)")
    evaluation.add_argument("--output", help="JSON results path (default results/eval-<env>.json)")
    evaluation.add_argument("--no-progress", action="store_true")
    evaluation.set_defaults(func=_cmd_eval)

    audit = commands.add_parser("audit", help="measure an env's task depth, shortcuts, priors and split isolation")
    audit.add_argument("--env", default="SearchQA-v0")
    audit.add_argument("--splits", default="train,validation,test", help="comma-separated splits to audit")
    audit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="env setting override, e.g. --set top_k=5 (repeatable)")
    audit.add_argument("--output", help="JSON report path (default results/audit-<env>.json)")
    audit.add_argument("--no-progress", action="store_true")
    audit.set_defaults(func=_cmd_audit)

    compare = commands.add_parser("compare", help="paired difference of two agents' EM and F1, with a bootstrap CI")
    compare.add_argument("first", help="a searchgym eval results JSON")
    compare.add_argument("second", nargs="?", help="another results JSON (default: the first, for two of its agents)")
    compare.add_argument("--agents", help="A,B: the agent of the first file and of the second (needed when a file "
                                          "holds several)")
    compare.add_argument("--output", help="also save the comparison as JSON")
    compare.set_defaults(func=_cmd_compare)

    from searchgym.serve.commands import add_server_parsers

    add_server_parsers(commands)

    from searchgym.export import add_export_parser
    from searchgym.preview import add_preview_parser

    add_export_parser(commands)
    add_preview_parser(commands)

    info = commands.add_parser("info", help="list the bundled env specs")
    info.set_defaults(func=_cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import searchgym  # noqa: F401  (registers the envs)

    if args.command == "eval" and args.episodes < 1:
        raise SystemExit("--episodes must be at least 1")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
