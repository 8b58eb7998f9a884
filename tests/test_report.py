"""``searchgym report``: the HTML page (checked in a real headless Chromium) and the Markdown table."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import searchgym  # noqa: F401
from searchgym.agents import HeuristicAgent, OracleAgent, RandomAgent
from searchgym.cli import main
from searchgym.evaluation import evaluate, save_report
from searchgym.report import collect_runs, leaderboard_markdown
from searchgym.trajectories import trajectories_path

SMALL = {"world_size": 300, "tasks_per_type": 30, "eval_tasks_per_type": 30}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags Chromium needs in this sandbox (root, no GPU, closed network): see .ci/install.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Injector(HeuristicAgent):
    """Answers with markup: the page must show it as text, never run it."""

    name = "injector"

    def act(self, observation, info):
        action = super().act(observation, info)
        if action.startswith("<answer>"):
            return "<answer></script><b id=pwned>x</b><img src=x onerror=window.__pwned=1></answer>"
        return action


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    first, second = folder / "baselines.json", folder / "again.json"
    report = evaluate("SearchQA-v0", [OracleAgent(), HeuristicAgent(), Injector()], 10, env_kwargs=SMALL,
                      show_progress=False, trajectories_to=trajectories_path(first))
    save_report(report, first)
    save_report(evaluate("SearchQA-v0", [RandomAgent(), HeuristicAgent()], 10, env_kwargs=SMALL,
                         show_progress=False), second)  # no trajectories; "heuristic" twice
    return folder, [first, second]


def test_model_ranks_within_env_and_split_and_labels_duplicates(runs):
    _, paths = runs
    model = collect_runs(paths)
    assert model["groups"] == ["SearchQA-v0 · test"]
    labels = [row["label"] for row in model["rows"]]
    assert labels[0] == "oracle" and "heuristic · baselines" in labels and "heuristic · again" in labels
    assert [row["rank"] for row in model["rows"]] == list(range(1, 6))
    ems = [row["em"] for row in model["rows"]]
    assert ems == sorted(ems, reverse=True)
    assert len(model["episodes"]) == 50
    assert sum(e["steps"] is not None for e in model["episodes"]) == 30


def test_markdown_leaderboard(runs, capsys):
    _, paths = runs
    text = leaderboard_markdown(collect_runs(paths))
    lines = text.splitlines()
    assert lines[0] == "### SearchQA-v0 · test"
    assert lines[2].startswith("| rank | agent | episodes | EM [95% CI] |")
    assert lines[4].startswith("| 1 | oracle | 10 | 1.000 [")
    assert main(["report", *map(str, paths), "--markdown", "-"]) == 0
    assert capsys.readouterr().out == text


def test_html_is_self_contained(runs, tmp_path):
    _, paths = runs
    assert main(["report", *map(str, paths), "--html", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "index.html").read_text()
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<link" not in page and "src=\"" not in page.split("<script type")[0]
    assert page.count("<svg") == 2 and page.count("<table class=\"leaderboard\"") == 1
    data = page.split('<script type="application/json" id="report-data">', 1)[1].split("</script>", 1)[0]
    assert "</" not in data  # nothing inside the data can close the script element
    assert len(json.loads(data)["episodes"]) == 50


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("SEARCHGYM_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required (SEARCHGYM_REQUIRE_BROWSER is set) but not installed")
        pytest.skip("Chromium not installed (.ci/install installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, path: Path, fragment: str = ""):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.resolve().as_uri() + fragment)
    page.wait_for_selector("#episode-list tbody tr")
    return page, errors


def test_the_page_in_a_real_browser(runs, browser, tmp_path):
    _, paths = runs
    out = tmp_path / "html"
    assert main(["report", *map(str, paths), "--html", str(out)]) == 0
    page, errors = open_page(browser, out / "index.html")
    rows = page.locator("#episode-list tbody tr")
    assert rows.count() == 50
    assert page.locator(".leaderboard tbody tr").count() == 5
    assert page.locator("svg.chart g.bar").count() > 0

    page.select_option("#filter-outcome", "failures")
    ems = [float(v) for v in rows.evaluate_all("rows => rows.map(r => r.dataset.em)")]
    assert ems and all(em < 1 for em in ems)
    page.select_option("#filter-agent", "heuristic · baselines")
    assert 0 < rows.count() <= len(ems)
    first_key = rows.first.locator("td").nth(1).get_attribute("title")

    rows.first.click()
    page.wait_for_selector("#episode-detail .step")
    detail = page.locator("#episode-detail")
    assert first_key in detail.locator("h3").inner_text() and "wrong" in detail.locator("h3").inner_text()
    assert detail.locator(".step").count() >= 1
    report = json.loads(paths[0].read_text())
    episode = next(e for e in report["agents"]["heuristic"]["episodes"] if e["task_key"] == first_key)
    assert detail.locator(".step").count() == episode["turns"]
    trajectory = next(t for t in map(json.loads, trajectories_path(paths[0]).read_text().splitlines())
                      if t["agent"] == "heuristic" and t["task_key"] == first_key)
    gold_shown = sum(r["gold"] for s in trajectory["steps"] for r in s["results"])
    assert detail.locator(".doc.gold").count() == gold_shown
    missing = sum(len(u["passages"]) for u in trajectory["task"]["evidence"] if u["found_at"] is None)
    assert detail.locator(".unit.missing").count() == missing
    assert trajectory["task"]["question"] in detail.inner_text()

    page.fill("#filter-text", "no task has this text")
    assert rows.count() == 0
    assert errors == []

    # A link to an episode opens it; markup written by an agent is shown as text, never run.
    injected = next(e["id"] for e in collect_runs(paths)["episodes"] if e["agent"] == "injector")
    page, errors = open_page(browser, out / "index.html", f"#episode-{injected}")
    page.wait_for_selector("#episode-detail .step")
    assert "<b id=pwned>" in page.locator("#episode-detail").inner_text()
    assert page.locator("#pwned").count() == 0 and page.evaluate("window.__pwned") is None
    assert errors == []
