"""Reward wrappers for SearchQA envs, and their weighted composition.

Every wrapper reports its component in ``info["reward_parts"]`` and keeps
``reward == sum(info["reward_weights"][k] * info["reward_parts"][k])`` (see
:mod:`searchgym.wrappers.reward_base`). Gold data comes from ``env.unwrapped.task`` and
``env.unwrapped.state``; nothing gold is added to ``info``.

===========================  ============  ==================================================
wrapper (registry name)      default mode  follows
===========================  ============  ==================================================
AnswerReward ("answer")      replace       Search-R1 EM / subem, ZeroSearch & ASearcher F1
SearchR1FormatReward         replace       Search-R1 ``qa_em_format`` table
("search_r1", "format")
SSRLReward ("ssrl")          replace       SSRL: 0.9·EM + 0.1·format
EvidenceReward ("evidence")  add           gold-evidence process reward, repeat-query penalty
InformationGainReward        add           IGPO turn-level information gain
("info_gain")
CitationReward ("citation")  add           CaRR citation rubric
RetrievalCostReward          add           IKEA / AI-SearchPlanner retrieval cost
("retrieval_cost")
CitationSupportReward        add           long-form nuggets cited from searched passages
("citation_support")                       (Search-Gen-V nugget rubric, CaRR)
NuggetRecallReward           add           long-form nuggets stated (diagnostic)
("nugget_recall")
ContradictionReward          add           long-form claims the graph refutes (penalty)
("contradiction")
===========================  ============  ==================================================

Two ways to combine them:

* stack wrappers: ``EvidenceReward(AnswerReward(env, metric="f1"), per_fact=0.1)``;
* one wrapper: ``compose_rewards(env, {"answer": 1.0, "format": 0.2, "evidence": 0.5})`` or
  ``WeightedReward(env, components=[("answer", {"metric": "f1"}, 1.0), (EvidenceReward, {}, 0.5)])``:
  the reward is exactly ``sum(weight * component)`` (the env's own reward counts only with
  ``env_weight``), and every component is in ``info["reward_parts"]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
from gymnasium.utils import RecordConstructorArgs

from searchgym.wrappers.reward_base import (
    RewardTerm,
    RewardTermWrapper,
    StepContext,
    merge_reward_parts,
)
from searchgym.wrappers.reward_citation import (
    CitationReward,
    CitationTerm,
    parse_citations,
    strip_citations,
)
from searchgym.wrappers.reward_compose import (
    REWARD_TERMS,
    RewardComposition,
    normalize_reward_table,
    register_reward,
    term_class,
)
from searchgym.wrappers.reward_outcome import (
    AnswerReward,
    AnswerTerm,
    SearchR1FormatReward,
    SearchR1FormatTerm,
    SSRLReward,
    SSRLTerm,
    candidate_count,
    score_answer,
)
from searchgym.wrappers.reward_process import (
    EvidenceReward,
    EvidenceTerm,
    InformationGainReward,
    InformationGainTerm,
    RetrievalCostReward,
    RetrievalCostTerm,
    answer_in_text_scorer,
)
from searchgym.wrappers.reward_rubric import (
    CitationSupportReward,
    CitationSupportTerm,
    ContradictionReward,
    ContradictionTerm,
    NuggetRecallReward,
    NuggetRecallTerm,
)

__all__ = [
    "REWARD_TERMS",
    "REWARD_WRAPPERS",
    "RewardComposition",
    "TermReward",
    "AnswerReward",
    "CitationReward",
    "CitationSupportReward",
    "ContradictionReward",
    "EvidenceReward",
    "InformationGainReward",
    "NuggetRecallReward",
    "RetrievalCostReward",
    "RewardTerm",
    "RewardTermWrapper",
    "SSRLReward",
    "SearchR1FormatReward",
    "StepContext",
    "WeightedReward",
    "answer_in_text_scorer",
    "candidate_count",
    "compose_rewards",
    "merge_reward_parts",
    "parse_citations",
    "register_reward",
    "reward_table",
    "score_answer",
    "strip_citations",
]

# name -> (wrapper class, term class), for the named wrappers above. The wrapper's constructor
# arguments (minus env/weight/mode/name) are exactly the term's.
REWARD_WRAPPERS: dict[str, tuple[type[RewardTermWrapper], type[RewardTerm]]] = {
    "answer": (AnswerReward, AnswerTerm),
    "search_r1": (SearchR1FormatReward, SearchR1FormatTerm),
    "format": (SearchR1FormatReward, SearchR1FormatTerm),
    "ssrl": (SSRLReward, SSRLTerm),
    "evidence": (EvidenceReward, EvidenceTerm),
    "info_gain": (InformationGainReward, InformationGainTerm),
    "citation": (CitationReward, CitationTerm),
    "retrieval_cost": (RetrievalCostReward, RetrievalCostTerm),
    "citation_support": (CitationSupportReward, CitationSupportTerm),
    "nugget_recall": (NuggetRecallReward, NuggetRecallTerm),
    "contradiction": (ContradictionReward, ContradictionTerm),
}
# The term registry (what specs, compose_rewards and TermReward read): one line per term.
for _name, (_wrapper, _term) in REWARD_WRAPPERS.items():
    REWARD_TERMS[_name] = _term


def _resolve(component: Any) -> tuple[str, type[RewardTerm]]:
    """``(registry name, term class)`` for a registry name or a wrapper/term class."""
    if isinstance(component, str):
        return component, term_class(component)
    for name, (wrapper_cls, term_cls) in REWARD_WRAPPERS.items():
        if component in (wrapper_cls, term_cls):
            return name, term_cls
    for name, term_cls in REWARD_TERMS.items():
        if component is term_cls:
            return name, term_cls
    if isinstance(component, type) and issubclass(component, RewardTerm):
        return component.name, component
    raise ValueError(
        f"reward component must be a registered name, a registered wrapper class or a "
        f"RewardTerm subclass; got {component!r}"
    )


class TermReward(RewardTermWrapper):
    """Any registered term as a wrapper: ``TermReward(env, "evidence", per_fact=0.2)``.

    A new term therefore needs no wrapper class of its own: one :class:`RewardTerm` subclass and
    one :func:`register_reward` line make it usable here, in :func:`compose_rewards` and in a
    spec's ``[reward]`` table.
    """

    def __init__(
        self,
        env: gym.Env,
        term: str,
        *,
        weight: float = 1.0,
        mode: str = "add",
        name: str | None = None,
        **options: Any,
    ) -> None:
        RecordConstructorArgs.__init__(self, term=term, weight=weight, mode=mode, name=name, **options)
        super().__init__(env, term_class(term)(**options), weight=weight, mode=mode, name=name or term)


class WeightedReward(gym.Wrapper, RecordConstructorArgs):
    """Several reward components in one wrapper: ``reward = env_weight * env reward +
    sum(weight_i * component_i)``, every component in ``info["reward_parts"]`` (the verifiers
    ``Rubric`` idea, field-apis §11.6, over the searchgym reward terms).

    Args:
        components: a list of ``(component, kwargs, weight)`` where ``component`` is a registry
            name (see :data:`REWARD_TERMS`), a registered wrapper class (e.g.
            ``EvidenceReward``) or a :class:`RewardTerm` subclass, and ``kwargs`` are that
            term's options (``name`` renames the part).
        env_weight: weight of the reward this wrapper receives: the env's built-in reward (EM
            by default, part ``"env"``) or, above other reward wrappers, their total (part
            ``"inner"``); 0 (default) drops it.

    Components are scored in list order; a citation component also strips citations from the
    answer before the env sees it (see :mod:`searchgym.wrappers.reward_citation`). The scoring
    is :meth:`RewardComposition.apply`, the same code that scores a spec's ``[reward]`` table
    inside the env, so both give identical rewards and parts.
    """

    def __init__(self, env: gym.Env, components: Sequence[Sequence[Any]], env_weight: float = 0.0) -> None:
        RecordConstructorArgs.__init__(self, components=[list(c) for c in components], env_weight=env_weight)
        gym.Wrapper.__init__(self, env)
        if not components:
            raise ValueError("WeightedReward needs at least one component")
        terms: list[tuple[str, RewardTerm, float]] = []
        for item in components:
            if len(item) != 3:
                raise ValueError(f"each component must be (component, kwargs, weight), got {item!r}")
            component, kwargs, weight = item
            kwargs = dict(kwargs or {})
            default_name, term_cls = _resolve(component)
            name = kwargs.pop("name", None) or default_name
            for reserved in ("weight", "mode", "env"):
                if reserved in kwargs:
                    raise ValueError(f"component {name!r}: pass '{reserved}' as the tuple's weight, not in kwargs")
            terms.append((name, term_cls(**kwargs), float(weight)))
        self.composition = RewardComposition(terms, env_weight)
        self.env_weight = self.composition.env_weight
        self.terms = self.composition.terms

    @property
    def weights(self) -> dict[str, float]:
        return self.composition.weights

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        self.composition.reset(self.env.unwrapped, observation, info)
        return observation, info

    def step(self, action: Any):
        unwrapped = self.env.unwrapped
        forwarded = self.composition.preprocess_action(unwrapped, action)
        observation, reward, terminated, truncated, info = self.env.step(forwarded)
        total = self.composition.apply(unwrapped, action, observation, float(reward), terminated, truncated, info)
        return observation, total, terminated, truncated, info


def reward_table(
    weights: Mapping[str, Any], env_weight: float = 0.0, **component_kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``[reward]`` table (``reward_terms=`` override) equal to ``compose_rewards(env,
    weights, env_weight, **component_kwargs)``: give it to a vector env, a ToolSession or an
    adapter to score exactly what the wrapper scores."""
    unknown = set(component_kwargs) - set(weights)
    if unknown:
        raise ValueError(f"kwargs given for component(s) not in weights: {sorted(unknown)}")
    table: dict[str, Any] = {"env_weight": float(env_weight)}
    for name, spec in weights.items():
        options = dict(component_kwargs.get(name, {}))
        if isinstance(spec, (tuple, list)):
            weight, extra = spec
            options.update(extra or {})
        else:
            weight = spec
        part = options.pop("name", None) or name
        table[part] = {"term": name, "weight": float(weight), **options}
    return normalize_reward_table(table)


def compose_rewards(
    env: gym.Env, weights: Mapping[str, Any], env_weight: float = 0.0, **component_kwargs: Mapping[str, Any]
) -> WeightedReward:
    """One call for a weighted reward: ``compose_rewards(env, {"answer": 1.0, "format": 0.2})``.

    A weight may also be ``(weight, kwargs)``; ``component_kwargs`` gives kwargs by name, e.g.
    ``compose_rewards(env, {"answer": 1.0, "evidence": 0.5}, answer={"metric": "f1"})``.
    """
    components = []
    for name, spec in weights.items():
        kwargs = dict(component_kwargs.get(name, {}))
        if isinstance(spec, (tuple, list)):
            weight, extra = spec
            kwargs.update(extra or {})
        else:
            weight = spec
        components.append((name, kwargs, float(weight)))
    unknown = set(component_kwargs) - set(weights)
    if unknown:
        raise ValueError(f"kwargs given for component(s) not in weights: {sorted(unknown)}")
    return WeightedReward(env, components=components, env_weight=env_weight)
