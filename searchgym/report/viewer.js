// searchgym report: the trajectory viewer. Reads the inline JSON, filters the episode list and
// shows one episode. DOM is built with textContent only: data is never parsed as HTML.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const episodes = data.episodes;
  const byId = new Map(episodes.map((e) => [String(e.id), e]));
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" || typeof child === "number"
        ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  function fillSelect(select, values) {
    for (const value of values) select.appendChild(el("option", { value: value }, value));
  }

  const labels = [...new Set(episodes.map((e) => e.label))];
  fillSelect($("filter-agent"), labels);
  fillSelect($("filter-type"), [...new Set(episodes.map((e) => e.result.task_type))].sort());

  function matches(episode) {
    const agent = $("filter-agent").value;
    const type = $("filter-type").value;
    const outcome = $("filter-outcome").value;
    const text = $("filter-text").value.trim().toLowerCase();
    if (agent && episode.label !== agent) return false;
    if (type && episode.result.task_type !== type) return false;
    if (outcome === "failures" && episode.result.em >= 1) return false;
    if (outcome === "successes" && episode.result.em < 1) return false;
    if (text) {
      const question = episode.task ? episode.task.question : "";
      if (!(episode.task_key.toLowerCase().includes(text) || question.toLowerCase().includes(text))) return false;
    }
    return true;
  }

  // Task keys are "<world>/<type>/<hash>": the world is the same for a whole run, so the list
  // shows the rest (the full key is the cell's tooltip and the detail's title).
  function shortKey(key) {
    const slash = key.indexOf("/");
    return slash >= 0 ? key.slice(slash + 1) : key;
  }

  function renderList() {
    const body = $("episode-list").querySelector("tbody");
    body.replaceChildren();
    let shown = 0;
    for (const episode of episodes) {
      if (!matches(episode)) continue;
      shown += 1;
      const r = episode.result;
      const row = el("tr", { "data-id": String(episode.id), "data-em": String(r.em) },
        el("td", {}, episode.label), el("td", { title: episode.task_key }, shortKey(episode.task_key)),
        el("td", {}, r.task_type),
        el("td", {}, r.hops), el("td", {}, r.min_searches),
        el("td", { class: r.em >= 1 ? "ok" : "fail" }, r.em >= 1 ? "1" : "0"),
        el("td", {}, Number(r.f1).toFixed(2)), el("td", {}, r.prediction === null ? "(no answer)" : r.prediction));
      row.addEventListener("click", () => { location.hash = "episode-" + episode.id; });
      body.appendChild(row);
    }
    $("episode-count").textContent = shown + " of " + episodes.length + " episodes";
    markSelected();
  }

  function markSelected() {
    const id = location.hash.startsWith("#episode-") ? location.hash.slice(9) : null;
    for (const row of $("episode-list").querySelectorAll("tbody tr")) {
      row.classList.toggle("selected", row.getAttribute("data-id") === id);
    }
  }

  function goldUnits(episode) {
    const list = el("ul", {});
    for (const unit of episode.task.evidence) {
      const status = unit.found_at ? "found at turn " + unit.found_at : "never retrieved";
      for (const passage of unit.passages) {
        list.appendChild(el("li", { class: "unit " + (unit.found_at ? "found" : "missing") },
          "unit " + (unit.unit + 1) + " (" + status + "): ", el("b", {}, passage.title),
          " [" + passage.doc_id + "] " + passage.text));
      }
    }
    return list;
  }

  function renderStep(step) {
    const box = el("div", { class: "step" },
      el("div", { class: "step-head" }, "turn " + step.turn + ": " + step.kind +
        (step.queries.length ? " — " + step.queries.join(" | ") : "") +
        " (agent " + Number(step.agent_seconds).toFixed(3) + " s, env " + Number(step.env_seconds).toFixed(3) + " s)"),
      el("div", { class: "action" }, step.action));
    if (step.error) box.appendChild(el("div", { class: "error" }, "error: " + step.error));
    for (const doc of step.results) {
      box.appendChild(el("div", { class: "doc" + (doc.gold ? " gold" : "") },
        doc.gold ? el("span", { class: "badge" }, "GOLD EVIDENCE") : null,
        el("b", {}, doc.rank + ". " + doc.title), " [" + doc.doc_id + "] ", doc.text));
    }
    if (!step.results.length && step.observation && step.kind !== "answer") {
      box.appendChild(el("div", { class: "doc" }, step.observation));
    }
    if (step.new_evidence_units.length) {
      box.appendChild(el("div", { class: "unit found" },
        "found gold evidence unit(s) " + step.new_evidence_units.map((u) => u + 1).join(", ")));
    }
    const parts = Object.entries(step.reward_parts).map(([k, v]) => k + " " + Number(v).toFixed(3)).join(", ");
    box.appendChild(el("div", { class: "reward" }, "reward " + Number(step.reward).toFixed(3) + (parts ? " (" + parts + ")" : "")));
    return box;
  }

  function renderDetail(episode) {
    const detail = $("episode-detail");
    detail.replaceChildren();
    const r = episode.result;
    const ok = r.em >= 1;
    detail.appendChild(el("h3", {}, episode.label + " on " + episode.task_key + ": ",
      el("span", { class: ok ? "verdict-ok" : "verdict-fail" }, ok ? "correct" : "wrong")));
    const facts = el("dl", {});
    const add = (name, value) => { facts.appendChild(el("dt", {}, name)); facts.appendChild(el("dd", {}, value)); };
    add("prediction", r.prediction === null ? "(no answer)" : r.prediction);
    add("scores", "EM " + r.em + ", F1 " + Number(r.f1).toFixed(3) + ", evidence recall " +
      Number(r.evidence_recall).toFixed(3) + ", " + r.searches + " search(es), " + r.turns + " turn(s), " +
      r.invalid + " invalid");
    if (!episode.task) {
      add("trajectory", "not saved: rerun searchgym eval with --save-trajectories to see searches and passages");
      detail.appendChild(facts);
      return;
    }
    const task = episode.task;
    add("question", task.question);
    add("gold answer", task.answer + (task.aliases.length ? " (also: " + task.aliases.join(", ") + ")" : ""));
    add("task", task.task_type + ", " + task.hops + " hop(s), measured depth " + task.min_searches);
    const chain = el("ol", {});
    for (const fact of task.chain) chain.appendChild(el("li", {}, fact.subject + " —" + fact.relation + "→ " + fact.object));
    add("gold chain", chain);
    add("gold evidence", goldUnits(episode));
    detail.appendChild(facts);
    for (const step of episode.steps) detail.appendChild(renderStep(step));
  }

  function route() {
    markSelected();
    if (!location.hash.startsWith("#episode-")) return;
    const episode = byId.get(location.hash.slice(9));
    if (episode) renderDetail(episode);
  }

  for (const id of ["filter-agent", "filter-type", "filter-outcome"]) $(id).addEventListener("change", renderList);
  $("filter-text").addEventListener("input", renderList);
  window.addEventListener("hashchange", route);
  renderList();
  route();
})();
