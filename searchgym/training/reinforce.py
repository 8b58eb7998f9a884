"""REINFORCE with a group baseline (GRPO's advantages, no clipping or KL), and behaviour cloning.

``A = (R - mean_group) / (std_group + eps)`` per episode; every action of an episode is pushed
along ``A * grad log pi(action | context)``. A group whose rollouts all earned the same reward
gives no signal (the GRPO caveat) and is skipped; :func:`policy_gradient_step` reports how many
groups carried signal, the first thing to look at when a run does not learn. The same
:func:`action_log_prob` serves the behaviour-cloning warm start (:func:`behaviour_cloning_epoch`).

Cost, measured with py-spy on a CPU run (``train_curriculum.py``, 2 turns, 4 rollouts): generation
is two thirds of a step and the update a third, nearly all of it model forward and backward. The
update therefore scores each episode in one forward pass (:func:`episode_action_log_probs`), not
one per turn, and runs the output head only on the positions a loss reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from searchgym.training.rollouts import EpisodeRollout

__all__ = [
    "action_log_prob",
    "behaviour_cloning_epoch",
    "episode_action_log_probs",
    "group_advantages",
    "policy_gradient_step",
    "train_top_layers",
]


def action_log_prob(policy: Any, messages: list[dict[str, str]], action: str, max_tokens: int):
    """``log pi(action | messages)`` under a :class:`~searchgym.llm.TransformersGenerator`'s
    model (differentiable), or ``None`` for an empty action. The context is cut from the left
    when context plus action exceed the model's positions."""
    tokenizer, model = policy.tokenizer, policy.model
    context = tokenizer(policy.render(messages), add_special_tokens=False)["input_ids"]
    target = tokenizer(action, add_special_tokens=False)["input_ids"][:max_tokens]
    if not target:
        return None
    context = context[-(policy.max_positions or 2048) + len(target) :]
    return _span_log_probs(model, context + target, [(len(context), len(context) + len(target))])[0].sum()


def _span_log_probs(model: Any, ids: list[int], spans: Sequence[tuple[int, int]]) -> list[Any]:
    """``log p(ids[i] | ids[:i])`` for the ``i`` of each ``[start, end)`` span (one tensor per
    span), from one forward pass.

    The output head runs only on the positions that predict a span's tokens: over SmolLM2's
    49k-token vocabulary it is about a fifth of the model's per-token compute, and a context
    is mostly positions no loss reads.
    """
    import torch

    tensor = torch.tensor([ids], device=model.device)
    hidden = model.get_decoder()(input_ids=tensor).last_hidden_state[0]
    rows = torch.cat([torch.arange(start - 1, end - 1) for start, end in spans]).to(model.device)
    logits = model.get_output_embeddings()(hidden[rows]).float()
    picked = torch.log_softmax(logits, dim=-1).gather(1, tensor[0, rows + 1, None])[:, 0]
    return list(torch.split(picked, [end - start for start, end in spans]))


def _transcript_segments(policy: Any, turns: Sequence[Any]) -> list[tuple[str, bool]] | None:
    """The episode's last context plus action as ``(text, is_action)`` pieces, or ``None`` when
    the rendered contexts do not extend one another (a template that rewrites earlier turns)."""
    segments: list[tuple[str, bool]] = []
    covered = ""
    for turn in turns:
        context = policy.render(turn.messages)
        if not context.startswith(covered):
            return None
        segments += [(context[len(covered) :], False), (turn.action, True)]
        covered = context + turn.action
    return segments


def episode_action_log_probs(policy: Any, turns: Sequence[Any], max_tokens: int) -> list[Any]:
    """``log pi(action_t | context_t)`` of every turn of one episode from a single forward pass.

    Why: turn ``t``'s context is turn ``t-1``'s context plus its action and observation, so
    scoring each turn on its own (:func:`action_log_prob`) re-runs the whole transcript once per
    turn, quadratic in the turns. Under a causal mask the logits over action ``t``'s tokens in
    the full transcript depend only on what precedes them, so one pass over the last context and
    action yields every turn's log-probability. Each piece (new context text, action) is
    tokenized on its own, as :func:`action_log_prob` tokenizes context and action, so the first
    turn's value is identical and the rest differ only where a later template rendering would
    merge tokens across a piece boundary. Falls back to one pass per turn when the transcript
    exceeds the model's positions or the template rewrites earlier turns. Returns one value
    (``None`` for an empty action) per turn.
    """
    segments = _transcript_segments(policy, turns)
    tokenizer, model = policy.tokenizer, policy.model
    ids: list[int] = []
    spans: list[tuple[int, int] | None] = []
    for text, is_action in segments or ():
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        if is_action:
            target = piece[:max_tokens]
            spans.append((len(ids), len(ids) + len(target)) if target and ids else None)
        ids += piece
    if segments is None or len(ids) > (policy.max_positions or 2048):
        return [action_log_prob(policy, turn.messages, turn.action, max_tokens) for turn in turns]
    present = [span for span in spans if span is not None]
    sums = iter([values.sum() for values in _span_log_probs(model, ids, present)] if present else [])
    return [None if span is None else next(sums) for span in spans]


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
    values = np.asarray(rewards, dtype=float)
    return (values - values.mean()) / (values.std() + eps)


def policy_gradient_step(
    policy: Any, optimizer: Any, episodes: Sequence[EpisodeRollout], *, max_tokens: int, max_grad_norm: float = 1.0
) -> dict[str, float]:
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
            # One forward and one backward per episode (not per turn): see episode_action_log_probs.
            log_probs = [lp for lp in episode_action_log_probs(policy, episode.turns, max_tokens) if lp is not None]
            if not log_probs:
                continue
            loss = -float(advantage) * torch.stack(log_probs).sum() / len(episodes)
            loss.backward()
            loss_total += loss.item()
            updated += len(log_probs)
    grad_norm = 0.0
    if updated:
        trainable = [p for p in policy.model.parameters() if p.requires_grad]
        grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, max_grad_norm))
        optimizer.step()
    policy.model.eval()
    return {
        "loss": loss_total,
        "grad_norm": grad_norm,
        "updated_turns": updated,
        "signal_groups": signal_groups,
        "groups": len(groups),
    }


def behaviour_cloning_epoch(
    policy: Any,
    optimizer: Any,
    pairs: Sequence[tuple[list[dict[str, str]], str]],
    *,
    max_tokens: int,
    max_grad_norm: float = 1.0,
    on_pair: Callable[[float], None] | None = None,
) -> float:
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
