"""Process (per-step) rewards: gold-evidence discovery, information gain, retrieval cost.

These are shaping terms (default ``mode="add"``): they add ``weight * value`` to whatever
reward they receive, so they stack on top of an outcome reward.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
from gymnasium.utils import RecordConstructorArgs

from searchgym.metrics import exact_match, normalize_answer, substring_match
from searchgym.wrappers.reward_base import RewardTerm, RewardTermWrapper, StepContext

__all__ = [
    "AnswerScorer",
    "EvidenceReward",
    "EvidenceTerm",
    "InformationGainReward",
    "InformationGainTerm",
    "RetrievalCostReward",
    "RetrievalCostTerm",
    "answer_in_text_scorer",
    "chain_frontier",
    "normalize_query",
    "observations_text",
]

AnswerScorer = Callable[[str, str, Sequence[str]], float]
"""``(question, transcript_text, answers) -> probability-like score in [0, 1]``."""

_INFORMATION = re.compile(r"<information>(.*?)</information>", re.DOTALL | re.IGNORECASE)


def normalize_query(query: str, ignore_word_order: bool = True) -> str:
    """The key under which two queries count as the same: SQuAD-normalised (case, punctuation,
    articles, whitespace) and, with ``ignore_word_order``, with its tokens sorted."""
    tokens = normalize_answer(query).split()
    return " ".join(sorted(tokens) if ignore_word_order else tokens)


def chain_frontier(task: Any, found_facts: set[int]) -> int:
    """How many gold facts, in chain order, are covered without a gap (hop 1, then hop 2 ...)."""
    frontier = 0
    while frontier < len(task.evidence) and frontier in found_facts:
        frontier += 1
    return frontier


class EvidenceTerm(RewardTerm):
    name = "evidence"

    def __init__(self, per_fact: float = 0.1, per_hop: float = 0.0, repeat_query_penalty: float = 0.1,
                 ignore_word_order: bool = True):
        self.per_fact = float(per_fact)
        self.per_hop = float(per_hop)
        self.repeat_query_penalty = float(repeat_query_penalty)
        self.ignore_word_order = ignore_word_order
        self.seen_queries: set[str] = set()
        self.frontier = 0
        self._details: dict[str, Any] | None = None

    def reset(self, env: Any, observation: str, info: dict[str, Any]) -> None:
        self.seen_queries = set()
        self.frontier = 0
        self._details = None

    def score(self, ctx: StepContext) -> float:
        new_facts = int(ctx.info.get("new_evidence") or 0)
        frontier = chain_frontier(ctx.task, ctx.state.found_facts)
        advanced = max(0, frontier - self.frontier)
        self.frontier = max(self.frontier, frontier)
        repeats = 0
        for query in ctx.info.get("queries") or ():
            key = normalize_query(query, self.ignore_word_order)
            if key in self.seen_queries:
                repeats += 1
            self.seen_queries.add(key)
        self._details = {"new_facts": new_facts, "hops_advanced": advanced, "repeated_queries": repeats}
        return self.per_fact * new_facts + self.per_hop * advanced - self.repeat_query_penalty * repeats

    def details(self) -> dict[str, Any] | None:
        return self._details


class EvidenceReward(RewardTermWrapper):
    """Dense evidence reward grounded in the gold evidence the synthetic world knows (the
    process rewards asked for in field-apis §11.3; cf. SearchGym's "purified feedback" and
    Search-R1's intermediate retrieval reward, arXiv 2505.15117). Per step:

    ``per_fact * (gold facts newly covered by retrieved passages, info["new_evidence"])
    + per_hop * (how far the gap-free prefix of the gold hop chain advanced)
    - repeat_query_penalty * (queries equal, after normalisation, to an earlier query)``.

    The fact bonus is bounded per episode (each gold fact pays once), so searching more cannot
    farm it; repeating a query pays the penalty every time.
    """

    def __init__(self, env: gym.Env, per_fact: float = 0.1, per_hop: float = 0.0,
                 repeat_query_penalty: float = 0.1, ignore_word_order: bool = True, *,
                 weight: float = 1.0, mode: str = "add", name: str = "evidence") -> None:
        RecordConstructorArgs.__init__(self, per_fact=per_fact, per_hop=per_hop,
                                       repeat_query_penalty=repeat_query_penalty,
                                       ignore_word_order=ignore_word_order, weight=weight, mode=mode, name=name)
        super().__init__(env, EvidenceTerm(per_fact, per_hop, repeat_query_penalty, ignore_word_order),
                         weight=weight, mode=mode, name=name)


# --------------------------------------------------------------------------- information gain


def observations_text(state: Any) -> str:
    """The text of every ``<information>`` block shown this episode, in order."""
    blocks = []
    for message in state.transcript[1:]:
        if message.get("role") == "user":
            blocks.extend(block.strip() for block in _INFORMATION.findall(message.get("content", "")))
    return "\n".join(blocks)


def transcript_text(state: Any) -> str:
    """Every turn after the prompt (actions and observations), one per line."""
    return "\n".join(message.get("content", "") for message in state.transcript[1:])


def answer_in_text_scorer(question: str, text: str, answers: Sequence[str]) -> float:
    """1.0 if a gold answer occurs (normalised, whole tokens) in ``text``, else 0.0."""
    return substring_match(text, answers)


def _resolve_scorer(scorer: Any) -> AnswerScorer | None:
    if scorer is None or scorer == "proxy":
        return None
    if scorer == "answer_in_text":
        return answer_in_text_scorer
    if isinstance(scorer, str) and scorer.split(":", 1)[0] == "transformers":
        from searchgym.wrappers.reward_scorers import TransformersAnswerScorer

        path = scorer.split(":", 1)[1] if ":" in scorer else None
        return TransformersAnswerScorer(path or None)
    if callable(scorer):
        return scorer
    raise ValueError(
        f"scorer must be None/'proxy', 'answer_in_text', 'transformers[:path]' or a callable "
        f"(question, transcript_text, answers) -> float; got {scorer!r}"
    )


class InformationGainTerm(RewardTerm):
    name = "info_gain"

    def __init__(self, scorer: Any = None, scale: float = 1.0, context: str = "observations",
                 answer_weight: float = 0.5):
        if context not in ("observations", "transcript"):
            raise ValueError(f"context must be 'observations' or 'transcript', got {context!r}")
        if not 0.0 <= answer_weight <= 1.0:
            raise ValueError(f"answer_weight must be in [0, 1], got {answer_weight}")
        self.scorer_spec = scorer
        self.scorer = _resolve_scorer(scorer)
        self.scale = float(scale)
        self.context = context
        self.answer_weight = float(answer_weight)
        self.previous = 0.0
        self._details: dict[str, Any] | None = None

    def probability(self, env: Any) -> float:
        """The scorer's current belief that the agent can answer: the model's probability of
        the gold answer given the context, or the default evidence proxy
        ``(1 - answer_weight) * evidence_recall + answer_weight * [answer seen in results]``."""
        state = env.state
        observed = observations_text(state)
        if self.scorer is None:
            seen = answer_in_text_scorer(state.task.question, observed, state.task.answers)
            return (1.0 - self.answer_weight) * state.evidence_recall() + self.answer_weight * seen
        text = observed if self.context == "observations" else transcript_text(state)
        return float(self.scorer(state.task.question, text, state.task.answers))

    def reset(self, env: Any, observation: str, info: dict[str, Any]) -> None:
        self.previous = self.probability(env)
        self._details = None

    def score(self, ctx: StepContext) -> float:
        self._details = None
        if ctx.answered:
            return 0.0  # the answer turn is scored by the outcome reward (IGPO does the same)
        current = self.probability(ctx.env)
        gain = current - self.previous
        self._details = {"p_before": self.previous, "p_after": current}
        self.previous = current
        return self.scale * gain

    def details(self) -> dict[str, Any] | None:
        return self._details


class InformationGainReward(RewardTermWrapper):
    """IGPO-style turn-level information gain ("Information Gain-based Policy Optimization",
    2025): each non-answer turn earns
    ``scale * (p_t - p_{t-1})``, where ``p_t`` is the probability a scorer assigns to the gold
    answer given what the agent has seen after turn t (``p_0`` is taken at reset). The sum
    over an episode telescopes to ``scale * (p_last - p_0)``.

    ``scorer``: a callable ``(question, transcript_text, answers) -> float``; ``"transformers"``
    or ``"transformers:/model/path"`` for :class:`~searchgym.wrappers.reward_scorers.TransformersAnswerScorer`;
    ``"answer_in_text"``; or ``None``/``"proxy"`` for a cheap model-free proxy computed from the
    env's gold evidence (see :meth:`InformationGainTerm.probability`). Strings keep
    ``env.spec`` JSON-friendly.

    ``context="observations"`` (default) gives the scorer only the retrieved ``<information>``
    text, not the agent's own words: with ``"transcript"`` an agent could raise the score by
    writing a guessed answer into its queries or thoughts.
    """

    def __init__(self, env: gym.Env, scorer: Any = None, scale: float = 1.0, context: str = "observations",
                 answer_weight: float = 0.5, *, weight: float = 1.0, mode: str = "add",
                 name: str = "info_gain") -> None:
        RecordConstructorArgs.__init__(self, scorer=scorer, scale=scale, context=context,
                                       answer_weight=answer_weight, weight=weight, mode=mode, name=name,
                                       _disable_deepcopy=True)
        super().__init__(env, InformationGainTerm(scorer, scale, context, answer_weight),
                         weight=weight, mode=mode, name=name)


# --------------------------------------------------------------------------- retrieval cost


class RetrievalCostTerm(RewardTerm):
    name = "retrieval_cost"

    def __init__(self, cost_per_search: float = 0.05, knowledge_boundary_bonus: float = 0.2,
                 cost_per_access: float = 0.0, per_query: bool = False, free_searches: int = 0,
                 unsearched_wrong_penalty: float = 0.0):
        self.cost_per_search = float(cost_per_search)
        self.cost_per_access = float(cost_per_access)
        self.knowledge_boundary_bonus = float(knowledge_boundary_bonus)
        self.per_query = per_query
        self.free_searches = int(free_searches)
        self.unsearched_wrong_penalty = float(unsearched_wrong_penalty)
        self.searches = 0

    def reset(self, env: Any, observation: str, info: dict[str, Any]) -> None:
        self.searches = 0

    def score(self, ctx: StepContext) -> float:
        kind = ctx.info.get("action_kind")
        value = 0.0
        if kind == "search":
            count = len(ctx.info.get("queries") or ()) if self.per_query else 1
            for _ in range(count):
                self.searches += 1
                if self.searches > self.free_searches:
                    value -= self.cost_per_search
        elif kind == "access":
            value -= self.cost_per_access
        elif kind == "answer":
            state = ctx.state
            retrieved = state.num_searches + state.num_accesses
            correct = exact_match(state.prediction, ctx.task.answers)
            if retrieved == 0:
                value += self.knowledge_boundary_bonus if correct else -self.unsearched_wrong_penalty
        return value


class RetrievalCostReward(RewardTermWrapper):
    """Retrieval-cost shaping after IKEA ("Reinforced Internal-External Knowledge
    Synergistic Reasoning for Efficient Adaptive Search Agent", 2025: knowledge-boundary aware
    reward) and AI-SearchPlanner (2025: efficiency reward on the number of search calls). Per step: ``-cost_per_search`` for each search call (each query when
    ``per_query``) beyond the first ``free_searches``, ``-cost_per_access`` for each document
    opened; on the answer step, ``+knowledge_boundary_bonus`` for a correct (EM) answer given
    with no search or access at all, and ``-unsearched_wrong_penalty`` for a wrong one (IKEA
    pushes the model to search when it does not know).
    """

    def __init__(self, env: gym.Env, cost_per_search: float = 0.05, knowledge_boundary_bonus: float = 0.2,
                 cost_per_access: float = 0.0, per_query: bool = False, free_searches: int = 0,
                 unsearched_wrong_penalty: float = 0.0, *, weight: float = 1.0, mode: str = "add",
                 name: str = "retrieval_cost") -> None:
        RecordConstructorArgs.__init__(
            self, cost_per_search=cost_per_search, knowledge_boundary_bonus=knowledge_boundary_bonus,
            cost_per_access=cost_per_access, per_query=per_query, free_searches=free_searches,
            unsearched_wrong_penalty=unsearched_wrong_penalty, weight=weight, mode=mode, name=name)
        super().__init__(env, RetrievalCostTerm(cost_per_search, knowledge_boundary_bonus, cost_per_access,
                                                per_query, free_searches, unsearched_wrong_penalty),
                         weight=weight, mode=mode, name=name)
