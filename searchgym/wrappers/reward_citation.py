"""Citation rubric reward (CaRR-style: citation-aware rubric rewards for deep-search agents).

Citation syntax (what the agent writes inside its answer; parsed by :mod:`searchgym.citations`)
---------------------------------------------------------------------------------------------
Citations are bracket groups anywhere in the answer text:

* explicit: ``[doc: id1, id2]`` — the prefix may be ``doc``, ``docs``, ``id``, ``ids``,
  ``cite``, ``citation(s)`` or ``source(s)`` (case-insensitive); ids are separated by commas,
  semicolons or whitespace;
* bare: ``[id1]`` or ``[id1, id2]`` — accepted when every item is one whitespace-free token
  that is not just a number (so ``[1990]`` stays part of the answer).

Example: ``<answer> Trerus Trading Company [doc: organization_000019-p0] </answer>``, or with
tool calls ``{"name": "answer", "arguments": {"answer": "Trerus Trading Company [organization_000019-p0]"}}``.
Doc ids are those shown in results as ``[id: …]`` (the env's ``show_doc_ids`` must be on).

Citations and answer scoring (the decision)
-------------------------------------------
:class:`CitationReward` **strips the citations from the answer before the env sees it**: it
rewrites the action (text or tool call) so the env's EM/F1, ``state.prediction`` and every other
wrapper score the bare answer ``"Trerus Trading Company"``. Without it, the env would score the
raw string and the bracket text would break EM. Only the answer is touched: searches and
accesses pass through unchanged. Because the rewriting happens on the way *in*, the wrapper can
sit anywhere in a stack; wrappers *outside* it receive the raw action (only the format terms
read actions, and a citation does not change an answer's format). A long-form answer (a
profile task, :mod:`searchgym.nuggets`) is never stripped: the env grades it with its citations.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
from gymnasium.utils import RecordConstructorArgs

from searchgym.answer_forms import keeps_citations
from searchgym.citations import parse_citations, strip_citations
from searchgym.envs.actions import parse_action
from searchgym.wrappers.reward_base import RewardTerm, RewardTermWrapper, StepContext
from searchgym.wrappers.reward_outcome import exact_outcome

__all__ = ["CitationReward", "CitationTerm", "parse_citations", "strip_citations"]

_ANSWER_SPAN = re.compile(r"(<answer>)(.*?)(</answer>)", re.IGNORECASE | re.DOTALL)


def _strip_arguments(arguments: Any) -> tuple[Any, list[str]]:
    if isinstance(arguments, str):
        try:
            loaded = json.loads(arguments)
        except ValueError:
            return arguments, []
        if isinstance(loaded, dict):
            new, cited = _strip_arguments(loaded)
            return (json.dumps(new, ensure_ascii=False) if cited else arguments), cited
        return arguments, []
    if isinstance(arguments, Mapping) and isinstance(arguments.get("answer"), str):
        clean, cited = parse_citations(arguments["answer"])
        if cited:
            arguments = dict(arguments)
            arguments["answer"] = clean
        return arguments, cited
    return arguments, []


def _strip_call(call: Any) -> tuple[Any, list[str]]:
    if not isinstance(call, Mapping):
        return call, []
    call = dict(call)
    target = call.get("function") if isinstance(call.get("function"), Mapping) else call
    name = target.get("name")
    if not isinstance(name, str) or name.strip().lower() != "answer":
        return call, []
    target = dict(target)
    target["arguments"], cited = _strip_arguments(target.get("arguments"))
    if "function" in call and isinstance(call["function"], Mapping):
        call["function"] = target
        return call, cited
    return target, cited


def _strip_text(text: str) -> tuple[str, list[str]]:
    cited: list[str] = []

    def replace(match: re.Match[str]) -> str:
        clean, ids = parse_citations(match.group(2))
        cited.extend(i for i in ids if i not in cited)
        return f"{match.group(1)} {clean} {match.group(3)}" if ids else match.group(0)

    return _ANSWER_SPAN.sub(replace, text), cited


def strip_action_citations(action: Any) -> tuple[Any, list[str]]:
    """Rewrite an answer action (text, tool call or assistant message) without its citations;
    return ``(action, cited ids)``. Non-answer actions are returned unchanged."""
    if isinstance(action, str):
        return _strip_text(action)
    if not isinstance(action, Mapping):
        return action, []
    action = copy.deepcopy(dict(action))
    if isinstance(action.get("tool_calls"), (list, tuple)) and action["tool_calls"]:
        calls = list(action["tool_calls"])
        calls[0], cited = _strip_call(calls[0])
        action["tool_calls"] = calls
        return action, cited
    if isinstance(action.get("function_call"), Mapping):
        action["function_call"], cited = _strip_call(action["function_call"])
        return action, cited
    if isinstance(action.get("content"), str):
        action["content"], cited = _strip_text(action["content"])
        return action, cited
    return _strip_call(action)


class CitationTerm(RewardTerm):
    name = "citation"

    def __init__(
        self,
        evidence_weight: float = 0.5,
        chain_bonus: float = 0.5,
        fake_penalty: float = 0.5,
        irrelevant_penalty: float = 0.1,
        missing_penalty: float = 0.0,
        require_correct: bool = True,
        strip: bool = True,
        min_precision: float = 1.0,
    ):
        if not 0.0 <= min_precision <= 1.0:
            raise ValueError(f"min_precision must be in [0, 1], got {min_precision}")
        self.min_precision = float(min_precision)
        self.evidence_weight = float(evidence_weight)
        self.chain_bonus = float(chain_bonus)
        self.fake_penalty = float(fake_penalty)
        self.irrelevant_penalty = float(irrelevant_penalty)
        self.missing_penalty = float(missing_penalty)
        self.require_correct = require_correct
        self.strip = strip
        self.pending: list[str] = []
        self._details: dict[str, Any] | None = None

    def reset(self, env: Any, observation: str, info: dict[str, Any]) -> None:
        self.pending = []
        self._details = None

    def preprocess_action(self, env: Any, action: Any) -> Any:
        stripped, cited = strip_action_citations(action)
        if not cited:  # may still be a non-answer action or an answer without citations
            self.pending = []
            return action
        parsed = parse_action(stripped, max_chars=env.config.max_action_chars, allowed_actions=env.allowed_actions)
        self.pending = cited if parsed.kind == "answer" else []
        graded_with_citations = keeps_citations(env.task.meta)  # a long-form answer's citations are its evidence
        return stripped if (self.strip and parsed.kind == "answer" and not graded_with_citations) else action

    def score(self, ctx: StepContext) -> float:
        self._details = None
        if not ctx.answered:
            return 0.0
        cited = list(self.pending)
        if not self.strip and ctx.state.prediction:  # citations left in the answer: read them there
            cited = parse_citations(ctx.state.prediction)[1] or cited
        task, state = ctx.task, ctx.state
        searched, seen = state.shown, state.retrieved
        real = [doc_id for doc_id in cited if doc_id in searched]
        unsearched = [doc_id for doc_id in cited if doc_id in seen and doc_id not in searched]
        fake = [doc_id for doc_id in cited if doc_id not in seen]
        gold_docs = {doc_id for passages in task.evidence for doc_id in passages}
        covered = {i for i, passages in enumerate(task.evidence) if set(passages).intersection(real)}
        irrelevant = [doc_id for doc_id in real if doc_id not in gold_docs]
        precision = (len(real) - len(irrelevant)) / len(cited) if cited else 0.0
        recall = len(covered) / max(1, len(task.evidence))
        complete = bool(task.evidence) and len(covered) == len(task.evidence)
        correct = state.prediction is not None and exact_outcome(ctx).em >= 1.0  # the env's answer table
        positive = self.evidence_weight * recall + (self.chain_bonus if complete else 0.0)
        if (self.require_correct and not correct) or precision < self.min_precision:
            positive = 0.0
        value = positive - self.fake_penalty * len(fake) - self.irrelevant_penalty * (len(irrelevant) + len(unsearched))
        if not cited:
            value -= self.missing_penalty
        self._details = {
            "cited": cited,
            "fake": fake,
            "irrelevant": irrelevant,
            "unsearched": unsearched,
            "precision": precision,
            "evidence_recall": recall,
            "complete_chain": complete,
        }
        return value

    def details(self) -> dict[str, Any] | None:
        return self._details


class CitationReward(RewardTermWrapper):
    """CaRR-style citation rubric (citation-aware rubric rewards for deep-search agents, 2025):
    on the answer step,

    ``evidence_weight * (fraction of gold facts stated by a cited passage a search returned)
    + chain_bonus * [every gold fact of the hop chain is cited]
    - fake_penalty * (cited ids the agent was never shown: fabricated citations)
    - irrelevant_penalty * (cited passages that state no gold fact, or that no search returned)
    - missing_penalty * [no citation at all]``.

    The positive part is paid only when it is earned:

    * ``require_correct`` (default True): only for a correct answer (EM on the env's answer
      table: a list's exact set), so a wrong answer with gold citations never scores like a
      right one;
    * ``min_precision`` (default 1.0): only when at least that share of the citations are
      searched passages stating a gold fact. Citing every retrieved passage therefore nets
      nothing (at most 0, minus the irrelevant penalties) unless every one of them is evidence.

    A passage reached only by ``<access>`` of an id no search showed (a guessed id) earns no
    credit and counts as irrelevant. See the module doc for the citation syntax and why
    citations are stripped before the env scores the answer (``strip=False`` leaves the action
    untouched, and the env then scores the raw text).
    """

    def __init__(
        self,
        env: gym.Env,
        evidence_weight: float = 0.5,
        chain_bonus: float = 0.5,
        fake_penalty: float = 0.5,
        irrelevant_penalty: float = 0.1,
        missing_penalty: float = 0.0,
        require_correct: bool = True,
        strip: bool = True,
        min_precision: float = 1.0,
        *,
        weight: float = 1.0,
        mode: str = "add",
        name: str = "citation",
    ) -> None:
        RecordConstructorArgs.__init__(
            self,
            evidence_weight=evidence_weight,
            chain_bonus=chain_bonus,
            fake_penalty=fake_penalty,
            irrelevant_penalty=irrelevant_penalty,
            missing_penalty=missing_penalty,
            require_correct=require_correct,
            strip=strip,
            min_precision=min_precision,
            weight=weight,
            mode=mode,
            name=name,
        )
        super().__init__(
            env,
            CitationTerm(
                evidence_weight,
                chain_bonus,
                fake_penalty,
                irrelevant_penalty,
                missing_penalty,
                require_correct,
                strip,
                min_precision,
            ),
            weight=weight,
            mode=mode,
            name=name,
        )
