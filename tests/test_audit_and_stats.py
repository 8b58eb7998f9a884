"""``searchgym audit``, confidence intervals and ``searchgym compare``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from searchgym.audit import check_targets, run_audit
from searchgym.audit.priors import first_option, form_prior_loo, most_common_count_share
from searchgym.compare import CompareError, compare_reports
from searchgym.stats import bootstrap_mean_ci, paired_bootstrap, wilson_interval
from episodes import SMALL


@pytest.fixture(scope="module")
def audit():
    return run_audit("SearchQA-v0", ("train", "test"), env_kwargs=SMALL)


def test_audit_measures_every_split_with_the_envs_engine(audit):
    assert set(audit["splits"]) == {"train", "test"}
    for split, data in audit["splits"].items():
        assert data["split"] == split and data["engine"] == "bm25" and data["top_k"] == 3
        assert data["depth"]["chains_at_least_hops"] == 1.0
        assert data["shortcuts"]["question_search_surfaces_answer"] <= 0.10
        assert 0.4 <= data["priors"]["first_option"]["em"] <= 0.6
        assert data["priors"]["most_common_count"]["share"] <= 0.25
        assert sum(sum(c.values()) for c in data["depth"]["min_searches"].values()) == data["tasks"]
    isolation = audit["splits"]["test"]["isolation"]
    assert not isolation["same_world"] and isolation["tasks_stated_in_train"] == 0.0
    json.dumps(audit)  # JSON-ready


def test_targets_fail_when_a_budget_is_broken(audit):
    broken = json.loads(json.dumps(audit["splits"]["test"]))
    broken["depth"]["chains_at_least_hops"] = 0.5
    broken["priors"]["first_option"]["em"] = 0.9
    failed = {row["target"] for row in check_targets(broken) if not row["passed"]}
    assert {"chains_at_least_hops", "first_option", "test_size"} <= failed  # 300 entities: < 1000 tasks


def test_priors_score_chance_on_balanced_data_and_catch_a_skewed_one(small_bundle):
    tasks = list(small_bundle.tasks)
    assert first_option(tasks)["em"] == pytest.approx(0.5, abs=0.05)
    loo, _ = form_prior_loo(tasks)
    assert loo["em"] <= loo["chance"] + 0.05
    _, share, n = most_common_count_share(tasks)
    assert n and share <= 0.25
    import dataclasses

    skewed = [dataclasses.replace(t, answer="1", aliases=()) if t.task_type == "counting" else t for t in tasks]
    assert most_common_count_share(skewed)[1] == 1.0
    assert form_prior_loo(skewed)[0]["em"] > loo["em"]


def test_wilson_interval_matches_known_values():
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 0.0)


def test_bootstrap_intervals_cover_the_mean_and_shrink_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.random(40), rng.random(4000)
    for data in (small, large):
        low, high = bootstrap_mean_ci(data)
        assert low < data.mean() < high
    assert np.subtract(*bootstrap_mean_ci(large)[::-1]) < np.subtract(*bootstrap_mean_ci(small)[::-1])
    assert bootstrap_mean_ci([0.3]) == (0.3, 0.3)


def test_paired_bootstrap_detects_a_real_difference_and_not_noise():
    rng = np.random.default_rng(1)
    base = rng.random(300) < 0.5
    better = base | (rng.random(300) < 0.2)
    result = paired_bootstrap(better.astype(float), base.astype(float))
    assert result["significant"] and result["low"] > 0
    same = paired_bootstrap(base.astype(float), base.astype(float))
    assert not same["significant"] and same["difference"] == 0.0
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [1.0, 0.0])


def _report(path, agent, ems):
    episodes = [{"task_key": f"k{i}", "em": em, "f1": em} for i, em in enumerate(ems)]
    path.write_text(json.dumps({"agents": {agent: {"episodes": episodes}}}))
    return path


def test_compare_pairs_tasks_and_reports_significance(tmp_path):
    a = _report(tmp_path / "a.json", "strong", [1.0] * 80 + [0.0] * 20)
    b = _report(tmp_path / "b.json", "weak", [1.0] * 40 + [0.0] * 60)
    result = compare_reports(a, b)
    assert result["paired_tasks"] == 100 and result["em"]["significant"]
    assert result["em"]["difference"] == pytest.approx(0.4)
    with pytest.raises(CompareError, match="no agent"):
        compare_reports(a, b, ("nobody", None))
    other = tmp_path / "c.json"
    other.write_text(json.dumps({"agents": {"x": {"episodes": [{"task_key": "zz", "em": 1, "f1": 1}]}}}))
    with pytest.raises(CompareError, match="share no task"):
        compare_reports(a, other)


def test_compare_cli_is_one_line_on_bad_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    done = subprocess.run([sys.executable, "-m", "searchgym.cli", "compare", str(bad), str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "not a searchgym eval results file" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_text_only_classifier_cannot_tell_false_premises_but_finds_a_planted_tell():
    """False premises must be found by searching: on SearchQA-Open-v0 a linear n-gram model
    trained on train questions tells them from answerable obfuscated questions at chance, the
    audit target holds, and one planted word ("Allegedly") is found at once."""
    import dataclasses

    import gymnasium as gym

    from searchgym.audit.premise_tell import premise_tell

    overrides = {**SMALL, "tasks_per_type": 24, "eval_tasks_per_type": 24}
    train = gym.make("SearchQA-Open-v0", split="train", **overrides).unwrapped.tasks
    test = gym.make("SearchQA-Open-v0", split="test", **overrides).unwrapped.tasks
    honest = premise_tell(train, test)
    assert honest is not None and honest["false_premise_n"] >= 10
    assert abs(honest["balanced_accuracy"] - 0.5) <= 0.15
    row = next(r for r in check_targets({"split": "test", "priors": {"premise_tell": honest}})
               if r["target"] == "premise_tell")
    assert row["passed"] and row["bound"] == "<= 0.60"

    def plant(tasks):
        return [dataclasses.replace(t, question=t.question + " Allegedly.") if t.task_type == "unanswerable" else t
                for t in tasks]

    assert premise_tell(plant(train), plant(test))["balanced_accuracy"] >= 0.95
    planted = plant(test)
    assert premise_tell(planted, planted)["balanced_accuracy"] >= 0.85  # half-split of a small split
    assert not check_targets({"split": "test", "priors": {"premise_tell": premise_tell(plant(train), planted)}})[0][
        "passed"]
    assert premise_tell(train, [t for t in test if t.task_type != "unanswerable"]) is None  # no false premises
