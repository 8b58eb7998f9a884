"""What ``searchgym audit`` measures on one split, with the env's own engine and top-k.

Every number here is recomputed from the bundle and the engine, never read from a label: depth
by the knowledge-free agent (:mod:`searchgym.tasks.depth`), what one search of the question text
already gives away, how far trivial priors get (:mod:`searchgym.audit.priors`), and whether the
split's world shares anything with the train world.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from searchgym.audit.premise_tell import premise_tell
from searchgym.audit.priors import count_prior, first_option, form_prior_cross, form_prior_loo, most_common_count_share
from searchgym.audit.tiers import tier_report
from searchgym.metrics import normalize_answer
from searchgym.tasks.depth import OPEN, DepthMeter, DepthQuery
from searchgym.tasks.generate import NEW_TASK_TYPES
from searchgym.tasks.generate import depth_query as measured_query
from searchgym.types import Task
from searchgym.world.world import World

__all__ = ["audit_split", "fact_statements", "MIN_FORM_TASKS"]

MIN_FORM_TASKS = 50  # a question form is checked on its own only with this many tasks (noise below)


def depth_query(task: Task) -> DepthQuery:
    """What the audit measures for a task: what generation measured
    (:func:`searchgym.tasks.generate.depth_query`: a deep task's local descriptions are
    searchable and its depth is bounded by packing, without the exact plan search). Classic
    tasks always get the exact search, even where generation skipped it for a failed label."""
    if task.task_type not in NEW_TASK_TYPES:
        return DepthQuery(task.question, task.evidence)
    return measured_query(task.task_type, task.question, task.evidence, task.hops, tuple(task.meta.get("queries", ())))


def _stratum(task: Task) -> str:
    return f"{task.task_type}/{task.hops}"


def _statement(world: World, subject: str, relation: str, obj: Any) -> tuple[str, str, str]:
    text = world.name(obj) if isinstance(obj, str) and obj in world.entities else str(obj)
    return world.name(subject), relation, text


def fact_statements(world: World, tasks: list[Task]) -> list[set[tuple[str, str, str]]]:
    """Each task's gold facts as (subject name, relation, object name or value): what a reader
    could have memorised, independent of entity ids."""
    return [{_statement(world, s.subject, s.relation, s.object) for s in task.chain} for task in tasks]


def _world_statements(world: World) -> set[tuple[str, str, str]]:
    return {_statement(world, f.subject, f.relation, f.object) for f in world.facts()}


def audit_split(env: Any, train: Any | None = None, progress: Any = None) -> dict[str, Any]:
    """The audit of one split's env (``train``: the train split's env, for cross-split checks)."""
    base = env.unwrapped
    tasks: list[Task] = list(base.tasks)
    meter = DepthMeter(base.world, base.corpus, base.engine, base.config.top_k, open_pages=base.config.allow_access)
    depths = []
    for start in range(0, len(tasks), 512):
        chunk = tasks[start : start + 512]
        depths += meter.measure_many([depth_query(t) for t in chunk])
        if progress is not None:
            progress(len(chunk))
    hits = base.engine.search([t.question for t in tasks], base.config.top_k) if tasks else []
    report: dict[str, Any] = {
        "split": base.config.split,
        "world_id": base.world.world_id,
        "tasks": len(tasks),
        "engine": base.config.engine,
        "top_k": base.config.top_k,
        "by_stratum": dict(sorted(Counter(_stratum(t) for t in tasks).items())),
    }
    distribution: dict[str, Counter[int | None]] = defaultdict(Counter)
    honest = deep = surfaced = surfaced_name = solved_by_question = inexact = 0
    worst_gap = 0
    for task, depth, task_hits in zip(tasks, depths, hits):
        distribution[_stratum(task)][depth.min_searches] += 1
        if not depth.exact:
            inexact += 1
            worst_gap = max(worst_gap, (depth.min_searches or 0) - (depth.lower_bound or 0))
        if all(depth.question_covers):
            solved_by_question += 1
        if task.hops < 2:
            continue
        deep += 1
        lower = depth.lower_bound if depth.lower_bound is not None else depth.min_searches
        if task.task_type == "chain" and lower is not None and lower >= task.hops:
            honest += 1
        units = task.meta.get("answer_units", range(len(task.evidence)))
        evidence = all(depth.question_covers[i] for i in units)
        entity = task.meta.get("answer_entity")
        named = isinstance(entity, str) and entity not in task.topic_entities and entity in depth.question_names
        text = " ".join(normalize_answer(h.text) for h in task_hits)
        literal = task.meta.get("answer_type") != "entity" and any(
            f" {normalize_answer(a)} " in f" {text} " for a in task.answers
        )
        surfaced += evidence or named or literal
        surfaced_name += named or literal
    chains = sum(1 for t in tasks if t.task_type == "chain" and t.hops >= 2)
    report["depth"] = {
        "min_searches": {
            s: {str(k): v for k, v in sorted(c.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))}
            for s, c in sorted(distribution.items())
        },
        "chains_at_least_hops": honest / chains if chains else None,
        "chains_deep": chains,
        "inexact": inexact,
        "worst_bound_gap": worst_gap,
        # tasks whose minimal plan opens a page (a fact a name search ranks below the top-k)
        "plans_opening_a_page": sum(any(step.startswith(OPEN) for step in d.plan) for d in depths),
    }
    report["tiers"] = tier_report(tasks, depths)
    report["shortcuts"] = {
        "deep_tasks": deep,
        "question_search_surfaces_answer": surfaced / deep if deep else None,
        "question_search_names_answer": surfaced_name / deep if deep else None,
        "question_search_solves_by_type": _share_by_type(tasks, [all(d.question_covers) for d in depths]),
        "question_search_solves": solved_by_question / len(tasks) if tasks else None,
    }
    learn = list(train.unwrapped.tasks) if train is not None else tasks
    loo, per_form = form_prior_loo(tasks)
    big_forms = {f: s for f, s in per_form.items() if s["n"] >= MIN_FORM_TASKS}
    worst = max(big_forms.items(), key=lambda kv: kv[1]["em"] - kv[1]["chance"], default=(None, None))
    count_answer, count_share, count_n = most_common_count_share(tasks)
    report["priors"] = {
        "first_option": first_option(tasks, 0),
        "second_option": first_option(tasks, 1),
        "form_prior_loo": loo,
        "form_prior_worst": {"form": worst[0], **(worst[1] or {})},
        "form_prior_from_train": form_prior_cross(learn, tasks) if train is not None else None,
        "most_common_count": {"answer": count_answer, "share": count_share, "n": count_n},
        "count_prior_from_train": count_prior(learn, tasks) if train is not None else count_prior(tasks, tasks),
        # learned on train, or on half of this split when it is the train split itself
        "premise_tell": premise_tell(learn if train is not None else tasks, tasks),
    }
    if train is not None:
        train_world = train.unwrapped.world
        train_names = {e.name for e in train_world.entities.values()}
        names = {e.name for e in base.world.entities.values()}
        known = _world_statements(train_world)
        memorisable = sum(1 for s in fact_statements(base.world, tasks) if s and s <= known)
        report["isolation"] = {
            "train_world_id": train_world.world_id,
            "same_world": train_world.world_id == base.world.world_id,
            "shared_names": len(names & train_names),
            "tasks_stated_in_train": memorisable / len(tasks) if tasks else 0.0,
        }
    return report


def _share_by_type(tasks: list[Task], flags: list[bool]) -> dict[str, float]:
    totals: Counter[str] = Counter(t.task_type for t in tasks)
    yes: Counter[str] = Counter(t.task_type for t, flag in zip(tasks, flags) if flag)
    return {task_type: yes[task_type] / total for task_type, total in sorted(totals.items())}
