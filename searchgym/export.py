"""Export one task set in every trainer's dataset row schema, from the same stable task keys.

Why: each trainer builds episodes from dataset rows (verl ``reward_model``/``tools_kwargs``,
SkyRL ``env_class``/``reward_spec`` reaching the env as ``extras``, TRL columns passed to
``reset(**row)``), so the same searchgym tasks must be written in each schema, with the
``task_key`` that rebuilds the exact episode (``env.reset(options={"task_key": key})``) in
every row. Rows are derived from one canonical record per task (:func:`task_records`), so
task keys, prompts and ground truth are identical across formats.

The prompt is the env's reset prompt as a single user message (Search-R1 style: the
instruction and the question in one message), exactly what ``env.reset`` returns.

Ground truth (answer + aliases) appears ONLY where a schema asks for it: verl
``reward_model.ground_truth.target``, SkyRL ``reward_spec.ground_truth.target`` and the
generic ``jsonl``/``parquet`` dump (``answer``, ``answers``). TRL rows carry none: the TRL
environment owns the reward (it looks the task up by ``task_key``). Gold evidence doc ids go
to ``extra_info`` (never shown to the model) and the generic dump.

Formats and files:

========== ===================================================================== =========
``fmt``    row schema                                                            file
========== ===================================================================== =========
verl       data_source, prompt, ability, reward_model, extra_info, agent_name     parquet
skyrl      data_source, prompt, env_class, reward_spec, extra_info, task_key,     parquet
           env_id
trl        prompt, task_key, data_source, question, hops, task_type, split,       parquet
           index, prompt_style (``"tools"`` unless asked: TRL acts by tool calls)
jsonl      the canonical record (ground truth, evidence, chain ids)              JSON lines
parquet    the canonical record                                                  parquet
========== ===================================================================== =========

verl, skyrl and trl write JSON lines instead when ``path`` ends in ``.jsonl`` or ``.json``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from searchgym.bundle import WorldBundle, bundle_for_config
from searchgym.cache import atomic_write_lines
from searchgym.cli_support import positive_int
from searchgym.envs.config import EnvConfig, load_spec
from searchgym.envs.prompts import render_prompt
from searchgym.envs.task_pool import served_tasks
from searchgym.types import Task

__all__ = [
    "FORMATS",
    "SKYRL_ENV_CLASS",
    "VERL_AGENT_NAME",
    "VERL_AGENT_NAMES",
    "add_export_parser",
    "export_tasks",
    "read_rows",
    "task_records",
    "to_row",
]

FORMATS: tuple[str, ...] = ("verl", "trl", "skyrl", "jsonl", "parquet")
SKYRL_ENV_CLASS = "searchgym"
"""The SkyRL-gym env id :func:`searchgym.integrations.skyrl.register_skyrl` registers."""
VERL_AGENT_NAME = "tool_agent"
VERL_AGENT_NAMES = ("tool_agent", "searchgym_agent")
"""verl's built-in multi-turn tool agent loop (tools from the search tool config)."""
VERL_ABILITY = "search-qa"


# --------------------------------------------------------------------------- canonical records


def _resolve(env_id_or_env: Any, split: str | None, overrides: dict[str, Any]) -> tuple[EnvConfig, WorldBundle]:
    """The config and bundle of an env id / spec path / EnvConfig / env instance."""
    if isinstance(env_id_or_env, (str, Path, EnvConfig)):
        config = (
            env_id_or_env
            if isinstance(env_id_or_env, EnvConfig)
            else load_spec(
                str(env_id_or_env).removeprefix("searchgym/") if isinstance(env_id_or_env, str) else env_id_or_env
            )
        )
        if split is not None:
            overrides = {**overrides, "split": split}
        if overrides:
            config = config.with_overrides(overrides)
        return config, bundle_for_config(config)
    env = getattr(env_id_or_env, "unwrapped", env_id_or_env)
    if not hasattr(env, "config") or not hasattr(env, "bundle"):
        raise TypeError(
            f"expected an env id, a spec path, an EnvConfig or a SearchQAEnv, got {type(env_id_or_env).__name__}"
        )
    if overrides:
        raise ValueError(
            f"env overrides {sorted(overrides)} cannot be applied to an already built env; pass the env id instead"
        )
    if split is None or split == env.config.split:
        return env.config, env.bundle
    config = env.config.with_overrides({"split": split})
    return config, bundle_for_config(config)  # another split is another world


def spec_overrides(config: EnvConfig) -> dict[str, Any]:
    """The fields where ``config`` differs from its registered spec (all of them if unregistered).

    Why rows carry them: a task key exists only in the world it was generated in, so a
    trainer-side env (verl tools, the tag agent loop) must rebuild *this* world — whether the
    export got ``world_size=300`` as an override or a built env configured that way. Stored as
    a JSON string, parquet-safe even when empty.
    """
    current = config.to_dict()
    try:
        base = load_spec(config.id).to_dict()
    except Exception:  # a spec file or EnvConfig built in code: no registered defaults to diff
        base = {}
    changed = {
        key: value
        for key, value in current.items()
        if key not in base
        or json.dumps(base[key], sort_keys=True, default=str) != json.dumps(value, sort_keys=True, default=str)
    }
    changed.pop("id", None)
    changed.pop("description", None)
    return changed


def _select(config: EnvConfig, bundle: WorldBundle) -> list[Task]:
    """The env's task list for this config (the rule ``SearchQAEnv.tasks`` uses)."""
    return served_tasks(bundle, config)


def task_records(
    env_id_or_env: Any = "SearchQA-v0", *, split: str | None = None, **env_overrides: Any
) -> list[dict[str, Any]]:
    """One canonical record per task of the env's split (``index`` = position = ``task_index``).

    Keys: ``index``, ``task_key``, ``data_source`` (env id), ``question``, ``prompt`` (one user
    message), ``answer``, ``answers`` (answer + aliases), ``gold_doc_ids``, ``evidence`` (per gold
    fact, the doc ids stating it), ``hops``, ``task_type``, ``answer_kind`` (the answer form:
    ``""`` for one string, ``list``, ``unanswerable``, ``longform``), ``answer_set`` (a list
    task's members, each with its aliases), ``abstain_penalty``, ``split``, ``world_id``,
    ``env_overrides_json`` (:func:`spec_overrides` of the resolved config, as JSON), ``prompt_style``.
    """
    config, bundle = _resolve(env_id_or_env, split, dict(env_overrides))
    overrides_json = json.dumps(spec_overrides(config), sort_keys=True, default=str)
    records = []
    for index, task in enumerate(_select(config, bundle)):
        prompt = render_prompt(
            task.question, style=config.prompt_style, allow_access=config.allow_access, top_k=config.top_k
        )
        records.append(
            {
                "index": index,
                "task_key": task.task_key,
                "data_source": config.id,
                "question": task.question,
                "prompt": [{"role": "user", "content": prompt}],
                "answer": task.answer,
                "answers": list(task.answers),
                "gold_doc_ids": list(task.gold_passages),
                "evidence": [list(ids) for ids in task.evidence],
                "hops": int(task.hops),
                "task_type": task.task_type,
                "answer_kind": str(task.meta.get("answer_kind") or ""),
                "answer_set": [list(aliases) for aliases in task.meta.get("answer_set", ())],
                "abstain_penalty": float(config.scoring.abstain_penalty),
                "split": task.split,
                "world_id": task.world_id,
                "env_overrides_json": overrides_json,
                "prompt_style": config.prompt_style,
            }
        )
    return records


# --------------------------------------------------------------------------- row schemas


def _extra_info(record: dict[str, Any]) -> dict[str, Any]:
    """Per-row metadata the model never sees (no ground truth)."""
    return {
        "index": record["index"],
        "split": record["split"],
        "task_key": record["task_key"],
        "env_id": record["data_source"],
        "question": record["question"],
        "hops": record["hops"],
        "task_type": record["task_type"],
        "world_id": record["world_id"],
        "gold_doc_ids": list(record["gold_doc_ids"]),
        "env_overrides_json": record.get("env_overrides_json", "{}"),
    }


def _ground_truth(record: dict[str, Any]) -> dict[str, Any]:
    """A row's rule ground truth: Search-R1's ``{"target": answers}``, plus the answer form for
    tasks of a registered form, so a row scored without its task (verl's ``compute_score``
    when ``extra_info`` lost the ``task_key``) still scores lists by their set and abstentions
    by the spec's penalty, and a long-form row says it cannot be graded that way."""
    truth: dict[str, Any] = {"target": list(record["answers"])}
    kind = record.get("answer_kind") or ""
    if kind:
        truth["answer_kind"] = kind
        truth["answer_set"] = [list(aliases) for aliases in record.get("answer_set", [])]
    if record.get("abstain_penalty"):
        truth["abstain_penalty"] = float(record["abstain_penalty"])
    return truth


def _verl_row(record: dict[str, Any], *, verl_agent_name: str = VERL_AGENT_NAME) -> dict[str, Any]:
    create = {
        "task_key": record["task_key"],
        "data_source": record["data_source"],
        "env_overrides_json": record.get("env_overrides_json", "{}"),
    }
    extra = _extra_info(record)
    extra["need_tools_kwargs"] = True
    extra["tools_kwargs"] = {name: {"create_kwargs": dict(create)} for name in ("search", "access")}
    return {
        "data_source": record["data_source"],
        "prompt": record["prompt"],
        "ability": VERL_ABILITY,
        "reward_model": {"style": "rule", "ground_truth": _ground_truth(record)},
        "extra_info": extra,
        "agent_name": verl_agent_name,
    }


def _skyrl_row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "data_source": record["data_source"],
        "prompt": record["prompt"],
        "env_class": SKYRL_ENV_CLASS,
        "reward_spec": {"method": "rule", "ground_truth": _ground_truth(record)},
        "extra_info": _extra_info(record),
        # Every column but prompt/env_class reaches the env as ``extras``: top-level keys are
        # what SearchGymSkyRLEnv reads first.
        "task_key": record["task_key"],
        "env_id": record["data_source"],
    }


def _trl_row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "prompt": record["prompt"],
        "task_key": record["task_key"],
        "data_source": record["data_source"],
        "question": record["question"],
        "hops": record["hops"],
        "task_type": record["task_type"],
        "split": record["split"],
        "index": record["index"],
        "prompt_style": record["prompt_style"],
    }


def _generic_row(record: dict[str, Any]) -> dict[str, Any]:
    return dict(record)


_ROWS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "verl": _verl_row,
    "skyrl": _skyrl_row,
    "trl": _trl_row,
    "jsonl": _generic_row,
    "parquet": _generic_row,
}


def to_row(record: dict[str, Any], fmt: str, *, verl_agent_name: str = VERL_AGENT_NAME) -> dict[str, Any]:
    """One canonical record (from :func:`task_records`) in ``fmt``'s row schema.

    ``verl_agent_name`` picks verl's agent loop per row: ``tool_agent`` (OpenAI-style tool calls
    to :class:`~searchgym.integrations.verl.SearchGymSearchTool`) or ``searchgym_agent`` (the
    Search-R1 tag loop of :mod:`searchgym.integrations.verl_agent_loop`).
    """
    if fmt not in _ROWS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {FORMATS}")
    if verl_agent_name not in VERL_AGENT_NAMES:
        raise ValueError(f"unknown verl agent loop {verl_agent_name!r}; expected one of {VERL_AGENT_NAMES}")
    if fmt == "verl":
        return _verl_row(record, verl_agent_name=verl_agent_name)
    return _ROWS[fmt](record)


# --------------------------------------------------------------------------- writing


def _check_extension(fmt: str, path: Path) -> None:
    """The file's extension must say what is in it: ``.jsonl``/``.json`` for JSON lines,
    ``.parquet`` for Parquet (``--format jsonl`` only JSON lines, ``--format parquet`` only Parquet)."""
    suffix = path.suffix.lower()
    allowed = {"jsonl": (".jsonl", ".json"), "parquet": (".parquet",)}.get(fmt, (".parquet", ".jsonl", ".json"))
    if suffix not in allowed:
        raise ValueError(
            f"--output {path}: format {fmt} writes {' or '.join(allowed)} files, not "
            f"{suffix or 'a file without extension'}"
        )


def _is_jsonl(fmt: str, path: Path) -> bool:
    if fmt == "jsonl":
        return True
    if fmt == "parquet":
        return False
    return path.suffix.lower() in (".jsonl", ".json")


def _write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def export_tasks(
    env_id_or_env: Any,
    fmt: str,
    path: str | Path,
    *,
    split: str | None = None,
    limit: int | None = None,
    verl_agent_name: str = VERL_AGENT_NAME,
    **env_overrides: Any,
) -> Path:
    """Write the env's tasks (its configured split, or ``split``) to ``path`` in ``fmt``.

    Args:
        env_id_or_env: env id (``"SearchQA-v0"``), spec path, :class:`EnvConfig` or a built env.
        fmt: ``verl``, ``trl``, ``skyrl``, ``jsonl`` or ``parquet``.
        path: output file; parent directories are created. Written atomically.
        split: ``train``/``validation``/``test`` (each its own world); default the env's configured split.
        limit: write only the first ``limit`` tasks.
        verl_agent_name: verl rows' ``agent_name``: ``tool_agent`` (default) or ``searchgym_agent``.
        **env_overrides: :class:`EnvConfig` fields (``world_size=300``, ``prompt_style="tools"``;
            ``fmt="trl"`` exports of an env id default to ``prompt_style="tools"``).

    Returns the path written.
    """
    if fmt not in _ROWS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {FORMATS}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    _check_extension(fmt, Path(path))
    if fmt == "trl" and isinstance(env_id_or_env, (str, Path)):
        # TRL's environment_factory gives the model native tools: its rows say so by default.
        env_overrides.setdefault("prompt_style", "tools")
    records = task_records(env_id_or_env, split=split, **env_overrides)
    if limit is not None:
        records = records[:limit]
    rows = [to_row(record, fmt, verl_agent_name=verl_agent_name) for record in records]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if _is_jsonl(fmt, path):
        atomic_write_lines(path, (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows))
    else:
        _write_parquet(rows, path)
    return path


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Read an exported file back (parquet via pyarrow, else JSON lines)."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".json"):
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


# --------------------------------------------------------------------------- CLI


def _cmd_export(args: argparse.Namespace) -> int:
    from searchgym.cli_support import check_env_id, check_settings, parse_overrides

    if not str(args.env).endswith(".toml"):
        check_env_id(args.env)
        check_settings(args.env, parse_overrides(args.set))

    path = export_tasks(
        args.env,
        args.format,
        args.output,
        split=args.split,
        limit=args.limit,
        verl_agent_name=args.verl_agent,
        **parse_overrides(args.set),
    )
    print(f"wrote {len(read_rows(path))} {args.format} rows to {path}")
    return 0


def add_export_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``searchgym export --env ID --format FMT --output PATH [--split S] [--set k=v]``."""
    parser = subparsers.add_parser("export", help="write an env's tasks as a verl/SkyRL/TRL dataset")
    parser.add_argument("--env", default="SearchQA-v0", help="env id or spec path (becomes data_source)")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--output", required=True, help="output file (.parquet, or .jsonl for JSON lines)")
    parser.add_argument("--split", default=None, help="train, validation or test (default: the env's split)")
    parser.add_argument("--limit", type=positive_int, default=None, help="export only the first N tasks")
    parser.add_argument(
        "--verl-agent",
        default=VERL_AGENT_NAME,
        choices=VERL_AGENT_NAMES,
        help="verl rows' agent loop: tool_agent (tool calls, default) or searchgym_agent (tags)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="env setting override, e.g. --set world_size=300 (repeatable)",
    )
    parser.set_defaults(func=_cmd_export)
    return parser
