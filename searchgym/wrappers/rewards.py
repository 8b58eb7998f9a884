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

__all__ = [
    "REWARD_WRAPPERS",
    "AnswerReward",
    "CitationReward",
    "EvidenceReward",
    "InformationGainReward",
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
    "score_answer",
    "strip_citations",
]

# name -> (wrapper class, term class). The wrapper's constructor arguments (minus env/weight/
# mode/name) are exactly the term's, which is what lets WeightedReward build terms from them.
REWARD_WRAPPERS: dict[str, tuple[type[RewardTermWrapper], type[RewardTerm]]] = {
    "answer": (AnswerReward, AnswerTerm),
    "search_r1": (SearchR1FormatReward, SearchR1FormatTerm),
    "format": (SearchR1FormatReward, SearchR1FormatTerm),
    "ssrl": (SSRLReward, SSRLTerm),
    "evidence": (EvidenceReward, EvidenceTerm),
    "info_gain": (InformationGainReward, InformationGainTerm),
    "citation": (CitationReward, CitationTerm),
    "retrieval_cost": (RetrievalCostReward, RetrievalCostTerm),
}


def register_reward(name: str, wrapper_cls: type[RewardTermWrapper], term_cls: type[RewardTerm]) -> None:
    """Make a custom component usable by name in :func:`compose_rewards` / :class:`WeightedReward`."""
    REWARD_WRAPPERS[name] = (wrapper_cls, term_cls)


def _resolve(component: Any) -> tuple[str, type[RewardTerm]]:
    """``(default part name, term class)`` for a registry name or a wrapper/term class."""
    if isinstance(component, str):
        if component not in REWARD_WRAPPERS:
            raise ValueError(f"unknown reward component {component!r}; known: {sorted(REWARD_WRAPPERS)}")
        return component, REWARD_WRAPPERS[component][1]
    for wrapper_cls, term_cls in REWARD_WRAPPERS.values():
        if component in (wrapper_cls, term_cls):
            return term_cls.name, term_cls
    if isinstance(component, type) and issubclass(component, RewardTerm):
        return component.name, component
    raise ValueError(f"reward component must be a registered name, a registered wrapper class or a "
                     f"RewardTerm subclass; got {component!r}")


class WeightedReward(gym.Wrapper, RecordConstructorArgs):
    """Several reward components in one wrapper: ``reward = env_weight * env reward +
    sum(weight_i * component_i)``, every component in ``info["reward_parts"]`` (the verifiers
    ``Rubric`` idea, field-apis §11.6, over the searchgym reward terms).

    Args:
        components: a list of ``(component, kwargs, weight)`` where ``component`` is a registry
            name (see :data:`REWARD_WRAPPERS`), a registered wrapper class (e.g.
            ``EvidenceReward``) or a :class:`RewardTerm` subclass, and ``kwargs`` are that
            wrapper's arguments (without ``env``/``weight``/``mode``; ``name`` renames the part).
        env_weight: weight of the reward this wrapper receives: the env's built-in reward (EM
            by default, part ``"env"``) or, above other reward wrappers, their total (part
            ``"inner"``); 0 (default) drops it.

    Components are scored in list order; a citation component also strips citations from the
    answer before the env sees it (see :mod:`searchgym.wrappers.reward_citation`).
    """

    def __init__(self, env: gym.Env, components: Sequence[Sequence[Any]], env_weight: float = 0.0) -> None:
        RecordConstructorArgs.__init__(self, components=[list(c) for c in components], env_weight=env_weight)
        gym.Wrapper.__init__(self, env)
        if not components:
            raise ValueError("WeightedReward needs at least one component")
        self.env_weight = float(env_weight)
        self.terms: list[tuple[str, RewardTerm, float]] = []
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
            self.terms.append((name, term_cls(**kwargs), float(weight)))

    @property
    def weights(self) -> dict[str, float]:
        return {name: weight for name, _, weight in self.terms}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        for _, term, _ in self.terms:
            term.reset(self.env.unwrapped, observation, info)
        return observation, info

    def step(self, action: Any):
        unwrapped = self.env.unwrapped
        forwarded = action
        for _, term, _ in self.terms:
            forwarded = term.preprocess_action(unwrapped, forwarded)
        observation, reward, terminated, truncated, info = self.env.step(forwarded)
        ctx = StepContext(unwrapped, action, observation, float(reward), terminated, truncated, info)
        scored = []
        for name, term, weight in self.terms:
            value = float(term.score(ctx))
            scored.append((name, value, weight, term.details()))
        had_parts = bool(info.get("reward_parts"))
        total = merge_reward_parts(info, float(reward), scored, "replace")
        if self.env_weight:
            # The reward received (the env's, or the stack of wrappers below) keeps env_weight.
            key = "env"
            if had_parts:
                key = "inner"
                while key in info["reward_parts"]:
                    key += "'"
                info["reward_parts"][key] = float(reward)
            info["reward_weights"][key] = self.env_weight
            total += self.env_weight * float(reward)
        return observation, total, terminated, truncated, info


def compose_rewards(env: gym.Env, weights: Mapping[str, Any], env_weight: float = 0.0,
                    **component_kwargs: Mapping[str, Any]) -> WeightedReward:
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
