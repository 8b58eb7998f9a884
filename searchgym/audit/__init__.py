"""``searchgym audit``: measure whether a benchmark's labels and splits are honest.

For each split of an env (each its own world), with the env's own engine and top-k:
measured depth per task type and hop count, what one search of the question already gives away,
what trivial priors score, and whether the split's world shares facts with the train world.
:data:`TARGETS` are the budgets a benchmark must meet; :func:`run_audit` checks every one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym

from searchgym.audit.measures import audit_split

__all__ = ["TARGETS", "Target", "check_targets", "run_audit"]

if TYPE_CHECKING:
    from searchgym.envs.search_qa import SearchQAEnv


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    value: Callable[[dict[str, Any]], float | None]
    passes: Callable[[float, dict[str, Any]], bool]
    bound: Callable[[dict[str, Any]], str]


def _get(*path: str) -> Callable[[dict[str, Any]], float | None]:
    def read(report: dict[str, Any]) -> float | None:
        value: Any = report
        for key in path:
            if not isinstance(value, dict) or value.get(key) is None:
                return None
            value = value[key]
        return float(value)

    return read


def _chance(*path: str) -> Callable[[dict[str, Any]], float]:
    def read(report: dict[str, Any]) -> float:
        value = _get(*path, "chance")(report)
        return 0.0 if value is None else value

    return read


PRIOR_MARGIN = 0.05  # a prior may beat chance by this much
# a text-only false-premise classifier may beat chance (0.5) by this much: about three standard
# errors of a balanced accuracy on the smallest audited half-split (~90 false premises)
PREMISE_TELL_BOUND = 0.60


def _prior(name: str, description: str, key: str) -> Target:
    """A trivial prior's EM, bounded by its chance level plus :data:`PRIOR_MARGIN`."""
    chance = _chance("priors", key)
    return Target(
        name,
        description,
        _get("priors", key, "em"),
        lambda v, r: v <= chance(r) + PRIOR_MARGIN,
        lambda r: f"<= {chance(r) + PRIOR_MARGIN:.3f}",
    )


TARGETS: tuple[Target, ...] = (
    Target(
        "chains_at_least_hops",
        "chains of h >= 2 hops need >= h searches",
        _get("depth", "chains_at_least_hops"),
        lambda v, r: v >= 0.95,
        lambda r: ">= 0.95",
    ),
    Target(
        "question_search_surfaces_answer",
        "one question-text search surfaces the answer (tasks of >= 2 hops)",
        _get("shortcuts", "question_search_surfaces_answer"),
        lambda v, r: v <= 0.10,
        lambda r: "<= 0.10",
    ),
    Target(
        "first_option",
        "'the first-named option' on comparisons",
        _get("priors", "first_option", "em"),
        lambda v, r: v <= 0.55,
        lambda r: "<= 0.55",
    ),
    Target(
        "second_option",
        "'the second-named option' on comparisons",
        _get("priors", "second_option", "em"),
        lambda v, r: v <= 0.55,
        lambda r: "<= 0.55",
    ),
    _prior("form_prior_loo", "most common answer per question form (leave-one-out in the split)", "form_prior_loo"),
    _prior("form_prior_worst", "the worst question form (>= 50 tasks), same prior", "form_prior_worst"),
    _prior("form_prior_from_train", "most common answer per question form, learned on train", "form_prior_from_train"),
    Target(
        "most_common_count",
        "share of the most common counting answer",
        _get("priors", "most_common_count", "share"),
        lambda v, r: v <= 0.25,
        lambda r: "<= 0.25",
    ),
    _prior("count_prior", "'the most common count' (learned on train)", "count_prior_from_train"),
    Target(
        "premise_tell",
        "text alone tells false premises from answerable questions (balanced accuracy)",
        _get("priors", "premise_tell", "balanced_accuracy"),
        lambda v, r: v <= PREMISE_TELL_BOUND,
        lambda r: f"<= {PREMISE_TELL_BOUND:.2f}",
    ),
    Target(
        "tasks_stated_in_train",
        "tasks whose every gold fact the train world states",
        _get("isolation", "tasks_stated_in_train"),
        lambda v, r: v == 0.0,
        lambda r: "== 0",
    ),
    Target(
        "tier_labels_hold",
        "tasks whose re-measured tier is at least their label (worst tier)",
        lambda r: min(
            (t["label_held"] for t in r.get("tiers", {}).values() if t["label_held"] is not None), default=None
        ),
        lambda v, r: v >= 0.95,
        lambda r: ">= 0.95",
    ),
    Target("test_size", "tasks in the test split", _get("tasks"), lambda v, r: v >= 1000, lambda r: ">= 1000"),
)


def check_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target that applies to this split's report: value, bound, pass/fail."""
    rows = []
    for target in TARGETS:
        value = target.value(report)
        if value is None or (target.name == "test_size" and report.get("split") != "test"):
            continue
        rows.append(
            {
                "target": target.name,
                "description": target.description,
                "value": value,
                "bound": target.bound(report),
                "passed": bool(target.passes(value, report)),
            }
        )
    return rows


def run_audit(
    env_id: str,
    splits: tuple[str, ...] = ("train", "validation", "test"),
    *,
    env_kwargs: dict[str, Any] | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Audit every split of ``env_id``; returns the JSON-ready report with per-split targets."""
    kwargs = dict(env_kwargs or {})
    kwargs.pop("split", None)
    envs = {split: gym.make(env_id, split=split, **kwargs) for split in dict.fromkeys(("train", *splits))}
    try:
        train = envs["train"]
        report: dict[str, Any] = {"env": env_id, "env_kwargs": kwargs, "splits": {}}
        for split in splits:
            env = envs[split]
            pool = cast("SearchQAEnv", env.unwrapped).tasks
            bar = progress.add_task(f"auditing {split}", total=len(pool)) if progress else None
            advance = (lambda n, bar=bar: progress.advance(bar, n)) if progress else None
            split_report = audit_split(env, None if split == "train" else train, advance)
            split_report["targets"] = check_targets(split_report)
            report["splits"][split] = split_report
        report["passed"] = all(row["passed"] for s in report["splits"].values() for row in s["targets"])
        return report
    finally:
        for env in envs.values():
            env.close()
