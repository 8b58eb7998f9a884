"""Gymnasium wrappers for SearchQA envs: composable rewards and curricula.

Rewards (:mod:`searchgym.wrappers.rewards`): :class:`AnswerReward`, :class:`SearchR1FormatReward`,
:class:`SSRLReward`, :class:`EvidenceReward`, :class:`InformationGainReward`,
:class:`CitationReward`, :class:`RetrievalCostReward`, the long-form rubric terms
:class:`CitationSupportReward`, :class:`NuggetRecallReward`, :class:`ContradictionReward`, combined by stacking or with
:func:`compose_rewards` / :class:`WeightedReward`. Every one reports its component in
``info["reward_parts"]``.

Curricula (:mod:`searchgym.wrappers.curriculum`): :class:`HopCurriculum`, :class:`NoiseSchedule`,
:class:`AdaptiveTaskSampling` (with :class:`AdaptiveTaskSampler` from
:mod:`searchgym.wrappers.sampler`).

Every wrapper records its constructor arguments, so ``gym.make(env.spec)`` rebuilds a stack.
"""

from searchgym.wrappers.curriculum import (
    TIER_STAGES,
    AdaptiveTaskSampling,
    HopCurriculum,
    NoiseSchedule,
    noise_probability,
)
from searchgym.wrappers.reward_scorers import TransformersAnswerScorer
from searchgym.wrappers.rewards import (
    REWARD_WRAPPERS,
    AnswerReward,
    CitationReward,
    CitationSupportReward,
    ContradictionReward,
    EvidenceReward,
    InformationGainReward,
    NuggetRecallReward,
    RetrievalCostReward,
    RewardTerm,
    RewardTermWrapper,
    SearchR1FormatReward,
    SSRLReward,
    WeightedReward,
    compose_rewards,
    parse_citations,
    register_reward,
    score_answer,
)
from searchgym.wrappers.sampler import AdaptiveTaskSampler

__all__ = [
    "REWARD_WRAPPERS",
    "AdaptiveTaskSampler",
    "AdaptiveTaskSampling",
    "AnswerReward",
    "CitationReward",
    "CitationSupportReward",
    "ContradictionReward",
    "EvidenceReward",
    "HopCurriculum",
    "InformationGainReward",
    "NoiseSchedule",
    "NuggetRecallReward",
    "RetrievalCostReward",
    "RewardTerm",
    "RewardTermWrapper",
    "SSRLReward",
    "SearchR1FormatReward",
    "TIER_STAGES",
    "TransformersAnswerScorer",
    "WeightedReward",
    "compose_rewards",
    "noise_probability",
    "parse_citations",
    "register_reward",
    "score_answer",
]
