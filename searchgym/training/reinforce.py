"""REINFORCE with a group baseline (GRPO's advantages, no clipping or KL), and behaviour cloning.

``A = (R - mean_group) / (std_group + eps)`` per episode; every action of an episode is pushed
along ``A * grad log pi(action | context)``. A group whose rollouts all earned the same reward
gives no signal (the GRPO caveat) and is skipped; :func:`policy_gradient_step` reports how many
groups carried signal, the first thing to look at when a run does not learn. The same
:func:`action_log_prob` serves the behaviour-cloning warm start (:func:`behaviour_cloning_epoch`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from searchgym.training.rollouts import EpisodeRollout

__all__ = ["action_log_prob", "behaviour_cloning_epoch", "group_advantages", "policy_gradient_step",
           "train_top_layers"]


def action_log_prob(policy: Any, messages: list[dict[str, str]], action: str, max_tokens: int):
    """``log pi(action | messages)`` under a :class:`~searchgym.llm.TransformersGenerator`'s
    model (differentiable), or ``None`` for an empty action. The context is cut from the left
    when context plus action exceed the model's positions."""
    import torch

    tokenizer, model = policy.tokenizer, policy.model
    context = tokenizer(policy.render(messages), add_special_tokens=False)["input_ids"]
    target = tokenizer(action, add_special_tokens=False)["input_ids"][:max_tokens]
    if not target:
        return None
    context = context[-(policy.max_positions or 2048) + len(target):]
    ids = torch.tensor([context + target], device=model.device)
    logits = model(ids).logits[0, len(context) - 1 : -1].float()
    picked = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(target, device=model.device)[:, None])
    return picked.sum()


def train_top_layers(model: Any, layers: int) -> list[Any]:
    """Freeze all but the top ``layers`` decoder layers (and the final norm); return the
    trainable parameters. ``layers <= 0`` trains everything.

    Why: on a CPU the backward pass is most of an update's cost; autograd records nothing below
    the first trainable layer, so training the top 6 of SmolLM2's 30 layers cuts an update's
    compute by more than half (embeddings, tied to the output head, stay frozen too).
    """
    if layers <= 0:
        return [p for p in model.parameters() if p.requires_grad]
    decoder = model.get_decoder()
    stack = decoder.layers
    if layers > len(stack):
        raise ValueError(f"the model has {len(stack)} decoder layers; cannot train the top {layers}")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for module in [*stack[-layers:], getattr(decoder, "norm", None)]:
        if module is not None:
            for parameter in module.parameters():
                parameter.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def group_advantages(rewards: Sequence[float], eps: float = 1e-6) -> np.ndarray:
    rewards = np.asarray(rewards, dtype=float)
    return (rewards - rewards.mean()) / (rewards.std() + eps)


def policy_gradient_step(policy: Any, optimizer: Any, episodes: Sequence[EpisodeRollout], *, max_tokens: int,
                         max_grad_norm: float = 1.0) -> dict[str, float]:
    """One optimiser step over a batch of groups; returns loss, grad norm and signal counts."""
    import torch

    policy.model.train()
    optimizer.zero_grad()
    loss_total, updated, signal_groups = 0.0, 0, 0
    groups = sorted({e.group for e in episodes})
    for group in groups:
        members = [e for e in episodes if e.group == group]
        advantages = group_advantages([e.reward for e in members])
        if np.all(np.abs(advantages) < 1e-8):
            continue
        signal_groups += 1
        for episode, advantage in zip(members, advantages):
            for turn in episode.turns:
                log_prob = action_log_prob(policy, turn.messages, turn.action, max_tokens)
                if log_prob is None:
                    continue
                loss = -float(advantage) * log_prob / len(episodes)
                loss.backward()
                loss_total += loss.item()
                updated += 1
    grad_norm = 0.0
    if updated:
        trainable = [p for p in policy.model.parameters() if p.requires_grad]
        grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, max_grad_norm))
        optimizer.step()
    policy.model.eval()
    return {"loss": loss_total, "grad_norm": grad_norm, "updated_turns": updated, "signal_groups": signal_groups,
            "groups": len(groups)}


def behaviour_cloning_epoch(policy: Any, optimizer: Any, pairs: Sequence[tuple[list[dict[str, str]], str]], *,
                            max_tokens: int, max_grad_norm: float = 1.0,
                            on_pair: Callable[[float], None] | None = None) -> float:
    """One epoch of ``-log pi(action | context) / len(action)`` over (context, action) pairs;
    returns the mean loss. ``on_pair`` gets each pair's loss (a progress bar's hook)."""
    import torch

    policy.model.train()
    total, count = 0.0, 0
    for messages, action in pairs:
        optimizer.zero_grad()
        log_prob = action_log_prob(policy, messages, action, max_tokens)
        if log_prob is None:
            continue
        loss = -log_prob / max(1, len(action))
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in policy.model.parameters() if p.requires_grad], max_grad_norm)
        optimizer.step()
        total += loss.item()
        count += 1
        if on_pair is not None:
            on_pair(loss.item())
    policy.model.eval()
    return total / max(1, count)
