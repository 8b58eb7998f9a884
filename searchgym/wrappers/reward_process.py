"""Process (per-step) rewards: gold-evidence discovery, information gain, retrieval cost.

These are shaping terms (default ``mode="add"``): they add ``weight * value`` to whatever
reward they receive, so they stack on top of an outcome reward.

What counts as retrieved (the decision behind every term here): only what a *search* returned.
The env keeps that ledger apart from everything else the agent saw (see
:mod:`searchgym.envs.episode`): a passage reached by ``<access>`` of an id that no search showed
(a guessed id) is shown to the agent but earns no evidence, no information gain and no
citation credit; and text the agent wrote itself (its queries, echoed in "No results found for
query: ...", an id echoed in an access error, self-search documents) is never read as evidence.
Accessing a passage costs like a search in :class:`RetrievalCostReward`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
from gymnasium.utils import RecordConstructorArgs

from searchgym.metrics import normalize_answer, substring_match
from searchgym.wrappers.reward_base import RewardTerm, RewardTermWrapper, StepContext
from searchgym.wrappers.reward_outcome import exact_outcome

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
"""``(question, retrieved_text, answers) -> probability-like score in [0, 1]``."""


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

    def __init__(
        self,
        per_fact: float = 0.1,
        per_hop: float = 0.0,
        repeat_query_penalty: float = 0.1,
        ignore_word_order: bool = True,
    ):
        self.per_fact = float(per_fact)
        self.per_hop = float(per_hop)
        self.repeat_query_penalty = float(repeat_query_penalty)
        self.ignore_word_order = ignore_word_order
        self.seen_queries: set[str] = set()
        self.paid: set[int] = set()
        self.frontier = 0
        self._details: dict[str, Any] | None = None

    def reset(self, env: Any, observation: str, info: dict[str, Any]) -> None:
        self.seen_queries = set()
        self.paid = set()
        self.frontier = 0
        self._details = None

    def score(self, ctx: StepContext) -> float:
        searched = ctx.state.searched_facts
        new_facts = len(searched - self.paid)
        self.paid |= searched
        frontier = chain_frontier(ctx.task, searched)
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

    ``per_fact * (gold facts newly covered by passages a search returned)
    + per_hop * (how far the gap-free prefix of the gold hop chain advanced)
    - repeat_query_penalty * (queries equal, after normalisation, to an earlier query)``.

    The fact bonus is bounded per episode (each gold fact pays once), so searching more cannot
    farm it; repeating a query pays the penalty every time. Evidence reached only by
    ``<access>`` of an id no search showed pays nothing (see the module doc).
    """

    def __init__(
        self,
        env: gym.Env,
        per_fact: float = 0.1,
        per_hop: float = 0.0,
        repeat_query_penalty: float = 0.1,
        ignore_word_order: bool = True,
        *,
        weight: float = 1.0,
        mode: str = "add",
        name: str = "evidence",
    ) -> None:
        RecordConstructorArgs.__init__(
            self,
            per_fact=per_fact,
            per_hop=per_hop,
            repeat_query_penalty=repeat_query_penalty,
            ignore_word_order=ignore_word_order,
            weight=weight,
            mode=mode,
            name=name,
        )
        super().__init__(
            env,
            EvidenceTerm(per_fact, per_hop, repeat_query_penalty, ignore_word_order),
            weight=weight,
            mode=mode,
            name=name,
        )


# --------------------------------------------------------------------------- information gain


def observations_text(state: Any) -> str:
    """The text searches returned this episode, as the agent was shown it, in order: titles
    and passages only, never error messages, echoed queries or ids, nor passages reached by
    guessing an id (``state.evidence_text``, see :mod:`searchgym.envs.episode`)."""
    return "\n".join(state.evidence_text)


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
        f"(question, retrieved_text, answers) -> float; got {scorer!r}"
    )


class InformationGainTerm(RewardTerm):
    name = "info_gain"

    def __init__(
        self, scorer: Any = None, scale: float = 1.0, context: str = "observations", answer_weight: float = 0.5
    ):
        if context != "observations":
            raise ValueError(
                f"context must be 'observations', got {context!r}: a scorer that reads the agent's own "
                "words ('transcript') pays for writing a guessed answer into a query or a thought"
            )
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
        ``(1 - answer_weight) * searched evidence recall + answer_weight * [answer seen in results]``."""
        state = env.state
        observed = observations_text(state)
        if self.scorer is None:
            seen = answer_in_text_scorer(state.task.question, observed, state.task.answers)
            return (1.0 - self.answer_weight) * state.searched_recall() + self.answer_weight * seen
        return float(self.scorer(state.task.question, observed, state.task.answers))

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

    ``scorer``: a callable ``(question, retrieved_text, answers) -> float``; ``"transformers"``
    or ``"transformers:/model/path"`` for :class:`~searchgym.wrappers.reward_scorers.TransformersAnswerScorer`;
    ``"answer_in_text"``; or ``None``/``"proxy"`` for a cheap model-free proxy computed from the
    env's gold evidence (see :meth:`InformationGainTerm.probability`). Strings keep
    ``env.spec`` JSON-friendly.

    The scorer sees only what searches returned (:func:`observations_text`), never the agent's
    own words: with them, an agent could raise the score by writing a guessed answer into a
    query or a thought (``context`` accepts only ``"observations"`` for that reason).
    """

    def __init__(
        self,
        env: gym.Env,
        scorer: Any = None,
        scale: float = 1.0,
        context: str = "observations",
        answer_weight: float = 0.5,
        *,
        weight: float = 1.0,
        mode: str = "add",
        name: str = "info_gain",
    ) -> None:
        RecordConstructorArgs.__init__(
            self,
            scorer=scorer,
            scale=scale,
            context=context,
            answer_weight=answer_weight,
            weight=weight,
            mode=mode,
            name=name,
            _disable_deepcopy=True,
        )
        super().__init__(
            env, InformationGainTerm(scorer, scale, context, answer_weight), weight=weight, mode=mode, name=name
        )


# --------------------------------------------------------------------------- retrieval cost


class RetrievalCostTerm(RewardTerm):
    name = "retrieval_cost"

    def __init__(
        self,
        cost_per_search: float = 0.05,
        knowledge_boundary_bonus: float = 0.2,
        cost_per_access: float | None = None,
        per_query: bool = False,
        free_searches: int = 0,
        unsearched_wrong_penalty: float = 0.2,
        max_episode_cost: float | None = None,
    ):
        self.cost_per_search = float(cost_per_search)
        self.cost_per_access = self.cost_per_search if cost_per_access is None else float(cost_per_access)
        self.knowledge_boundary_bonus = float(knowledge_boundary_bonus)
        self.per_query = per_query
        self.free_searches = int(free_searches)
        self.unsearched_wrong_penalty = float(unsearched_wrong_penalty)
        cap = self.unsearched_wrong_penalty if max_episode_cost is None else float(max_episode_cost)
        if min(self.cost_per_search, self.cost_per_access, self.unsearched_wrong_penalty, cap) < 0:
            raise ValueError("retrieval costs, max_episode_cost and unsearched_wrong_penalty must be >= 0")
        if cap > self.unsearched_wrong_penalty:
            raise ValueError(
                f"max_episode_cost ({cap}) must not exceed unsearched_wrong_penalty "
                f"({self.unsearched_wrong_penalty}): otherwise answering wrong without searching "
                "would cost less than searching honestly and answering wrong"
            )
        self.max_episode_cost = cap
        self.searches = 0
        self.paid = 0.0

    def reset(self, env: Any, observation: str, info: dict[str, Any]) -> None:
        self.searches = 0
        self.paid = 0.0

    def _charge(self, cost: float) -> float:
        cost = min(cost, self.max_episode_cost - self.paid)
        self.paid += cost
        return -cost

    def score(self, ctx: StepContext) -> float:
        kind = ctx.info.get("action_kind")
        value = 0.0
        if kind == "search":
            count = len(ctx.info.get("queries") or ()) if self.per_query else 1
            cost = 0.0
            for _ in range(count):
                self.searches += 1
                if self.searches > self.free_searches:
                    cost += self.cost_per_search
            value = self._charge(cost)
        elif kind == "access":
            value = self._charge(self.cost_per_access)
        if ctx.done:
            state = ctx.state
            retrieved = state.num_searches + state.num_accesses
            correct = state.prediction is not None and exact_outcome(ctx).em >= 1.0  # the env's answer table
            if retrieved == 0:
                value += self.knowledge_boundary_bonus if correct else -self.unsearched_wrong_penalty
        return value


class RetrievalCostReward(RewardTermWrapper):
    """Retrieval-cost shaping after IKEA ("Reinforced Internal-External Knowledge
    Synergistic Reasoning for Efficient Adaptive Search Agent", 2025: knowledge-boundary aware
    reward) and AI-SearchPlanner (2025: efficiency reward on the number of search calls).

    Per step: ``-cost_per_search`` for each search call (each query when ``per_query``) beyond
    the first ``free_searches``, and ``-cost_per_access`` for each ``<access>`` (default: the
    same as a search: opening a page is a retrieval call, and guessing ids must not be free).
    On the step that ends the episode without any search or access: ``+knowledge_boundary_bonus``
    for a correct (EM) answer, ``-unsearched_wrong_penalty`` for a wrong one or for no answer
    (IKEA pushes the model to search when it does not know).

    The costs of one episode stop at ``max_episode_cost`` (default and upper bound:
    ``unsearched_wrong_penalty``). That cap is what makes the term trick-free: an agent that
    skips searching (or never answers) can never do better than one that searches honestly and
    is still wrong.
    """

    def __init__(
        self,
        env: gym.Env,
        cost_per_search: float = 0.05,
        knowledge_boundary_bonus: float = 0.2,
        cost_per_access: float | None = None,
        per_query: bool = False,
        free_searches: int = 0,
        unsearched_wrong_penalty: float = 0.2,
        max_episode_cost: float | None = None,
        *,
        weight: float = 1.0,
        mode: str = "add",
        name: str = "retrieval_cost",
    ) -> None:
        RecordConstructorArgs.__init__(
            self,
            cost_per_search=cost_per_search,
            knowledge_boundary_bonus=knowledge_boundary_bonus,
            cost_per_access=cost_per_access,
            per_query=per_query,
            free_searches=free_searches,
            unsearched_wrong_penalty=unsearched_wrong_penalty,
            max_episode_cost=max_episode_cost,
            weight=weight,
            mode=mode,
            name=name,
        )
        super().__init__(
            env,
            RetrievalCostTerm(
                cost_per_search,
                knowledge_boundary_bonus,
                cost_per_access,
                per_query,
                free_searches,
                unsearched_wrong_penalty,
                max_episode_cost,
            ),
            weight=weight,
            mode=mode,
            name=name,
        )
