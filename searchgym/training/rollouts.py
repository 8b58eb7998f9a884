"""Group rollouts for GRPO-style training: many episodes, one generation call per turn.

Why batched: on a CPU (and far more on a GPU) one forward pass over 8 prompts costs a fraction
of 8 passes, and a trainer plays ``tasks x group_size`` episodes per optimisation step. Each
episode runs in its own env (all sharing one world bundle and engine in this process); every
turn, the running episodes' transcripts go to the policy in one ``generate`` call, each row
sampled with its own seed from (run seed, step, slot, turn), so a rollout is reproducible
whatever else shares its batch. Observations are context only: a :class:`Turn` keeps the
messages *before* the action, which is all a policy-gradient update needs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from searchgym.llm.base import GenerationConfig

__all__ = ["EpisodeRollout", "Turn", "play_groups", "row_seed"]


@dataclass
class Turn:
    messages: list[dict[str, str]]  # the context the action was generated from
    action: str


@dataclass
class EpisodeRollout:
    group: int
    task_key: str
    turns: list[Turn] = field(default_factory=list)
    reward: float = 0.0
    reward_parts: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    info: dict[str, Any] = field(default_factory=dict)  # the last step's info

    @property
    def em(self) -> float:
        return float(self.info.get("em", 0.0))


def row_seed(*parts: int) -> int:
    """A 32-bit sampling seed from integers (run seed, step, slot, turn)."""
    return int(np.random.SeedSequence([int(p) % (1 << 32) for p in parts]).generate_state(1)[0])


def play_groups(
    policy: Any,
    envs: Sequence[gym.Env],
    task_keys: Sequence[str],
    group_size: int,
    config: GenerationConfig,
    *,
    seed: int,
    step: int,
) -> list[EpisodeRollout]:
    """Play ``group_size`` episodes of each task key, all at once; env ``i`` plays slot ``i``.

    Slot ``i`` plays task ``i // group_size`` with ``group_seed = step * len(task_keys) + group``,
    so stochastic engines show every member of a group the same documents (GRPO compares
    rollouts of one task under one search world).
    """
    needed = len(task_keys) * group_size
    if len(envs) < needed:
        raise ValueError(f"{len(task_keys)} tasks x {group_size} rollouts need {needed} envs, got {len(envs)}")
    episodes: list[EpisodeRollout] = []
    transcripts: list[list[dict[str, str]]] = []
    for slot in range(needed):
        group = slot // group_size
        _, info = envs[slot].reset(options={"task_key": task_keys[group], "group_seed": step * len(task_keys) + group})
        episodes.append(EpisodeRollout(group=group, task_key=task_keys[group]))
        transcripts.append(list(info["messages"]))
    live = list(range(needed))
    turn = 0
    while live:
        seeds = tuple(row_seed(seed, step, slot, turn) for slot in live)
        actions = policy.generate(
            [transcripts[slot] for slot in live],
            GenerationConfig(
                max_new_tokens=config.max_new_tokens,
                temperature=config.temperature,
                top_p=config.top_p,
                stop=config.stop,
                include_stop=True,
                seeds=seeds,
            ),
        )
        still = []
        for slot, action in zip(live, actions):
            episode = episodes[slot]
            episode.turns.append(Turn(list(transcripts[slot]), action))
            observation, reward, terminated, truncated, info = envs[slot].step(action)
            episode.reward += float(reward)
            for name, value in (info.get("reward_parts") or {}).items():
                episode.reward_parts[name] += float(value)
            episode.info = info
            transcripts[slot].append({"role": "assistant", "content": action})
            if not (terminated or truncated):
                transcripts[slot].append({"role": "user", "content": observation})
                still.append(slot)
        live, turn = still, turn + 1
    return episodes
