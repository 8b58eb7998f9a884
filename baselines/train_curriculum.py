"""REINFORCE with a group baseline (GRPO-like, no clipping/KL) over a curriculum SearchQA env.

A small local policy (SmolLM2-135M-Instruct via :mod:`searchgym.llm`, or any local HF folder)
plays multi-turn episodes in the text protocol. Each optimisation step draws ``--tasks`` tasks
from a :class:`~searchgym.wrappers.HopCurriculum`, plays ``--group-size`` episodes of each
(same task; the curriculum picks the first, the rest are reset with the same ``task_key``),
and maximises ``sum_t A * log pi(action_t | context_t)`` with ``A = (R - mean_group) / (std_group + eps)``.
Observations are context only (never trained on). The ZeroSearch noise schedule is driven by
the optimisation step (``NoiseSchedule(unit="manual")``).

Outputs in ``--out``: ``metrics.jsonl`` (one line per step: reward, EM, searches, stage, noise,
loss, seconds) and ``curves.png``. Runs on CPU in a few minutes with the defaults::

    python baselines/train_curriculum.py --steps 3 --out runs/curriculum
    python baselines/train_curriculum.py --warmup-demos 16 --steps 4 --out runs/curriculum-warm
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import searchgym  # noqa: F401  (registers the envs)
from searchgym.wrappers import HopCurriculum, NoiseSchedule, compose_rewards

STOPS = ("</search>", "</answer>", "</access>")


def build_env(args: argparse.Namespace) -> gym.Env:
    env = gym.make("SearchQA-v0", world_size=args.world_size, tasks_per_type=args.tasks_per_type,
                   max_turns=args.max_turns, top_k=2, max_doc_chars=300)
    env = compose_rewards(env, {"answer": 1.0, "format": 0.2, "evidence": 0.5},
                          answer={"metric": "f1"}, evidence={"per_fact": 0.1, "repeat_query_penalty": 0.05})
    env = NoiseSchedule(env, p_start=0.0, p_end=0.3, total_steps=max(1, args.steps), unit="manual")
    stages = [{"task_types": ["chain"], "hops": [1]}, {"task_types": ["chain"], "hops": [1, 2]},
              {"task_types": ["chain", "comparison", "intersection"], "hops": [2, 3]}]
    return HopCurriculum(env, stages=stages, promote_at=0.5, demote_at=0.0, window=args.window)


def rollout(env: gym.Env, policy: Any, config: Any, options: dict[str, Any] | None, seed: int | None):
    """Play one episode; returns (turns [(messages so far, action)], total reward, last info)."""
    _, info = env.reset(seed=seed, options=options)
    messages = list(info["messages"])
    turns, total = [], 0.0
    while True:
        action = policy.generate([messages], config)[0]
        turns.append((list(messages), action))
        observation, reward, terminated, truncated, info = env.step(action)
        total += reward
        messages.append({"role": "assistant", "content": action})
        if terminated or truncated:
            return turns, total, info
        messages.append({"role": "user", "content": observation})


def action_log_prob(policy: Any, messages: list[dict[str, str]], action: str, max_tokens: int):
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


def oracle_demonstrations(args: argparse.Namespace, count: int, seed: int) -> list[tuple[list[dict[str, str]], str]]:
    """(context, action) pairs from the oracle on early-curriculum tasks (1–2 hop chains).

    A 135M instruct model almost never writes a valid tag unprompted, so with rewards all zero
    GRPO has no variance to learn from. A short behaviour-cloning warm start on oracle
    trajectories (with a brief <think>, as the Search-R1 format asks) is the usual cold start.
    """
    from searchgym.agents import OracleAgent

    # A separate, unwrapped env: demonstrations must not count as curriculum outcomes.
    env = gym.make("SearchQA-v0", world_size=args.world_size, tasks_per_type=args.tasks_per_type,
                   max_turns=args.max_turns, top_k=2, max_doc_chars=300, task_types=["chain"], hops=[1, 2])
    oracle, pairs = OracleAgent(), []
    for episode in range(count):
        observation, info = env.reset(seed=seed + episode)
        oracle.begin(observation, info, env, seed + episode)
        messages = list(info["messages"])
        while True:
            action = oracle.act(observation, info)
            kind = action[1 : action.index(">")]
            argument = action[action.index(">") + 1 : action.rindex("<")]
            thought = {"search": f"I should look up {argument}.", "access": "I should read that document.",
                       "answer": "I have found the answer."}[kind]
            action = f"<think>{thought}</think>\n{action}"
            pairs.append((list(messages), action))
            observation, _, terminated, truncated, info = env.step(action)
            messages += [{"role": "assistant", "content": action}, {"role": "user", "content": observation}]
            if terminated or truncated:
                break
    return pairs


def warm_start(policy: Any, optimizer: Any, pairs: list, epochs: int, max_tokens: int) -> list[float]:
    """Behaviour cloning: minimise -log pi(action | context) over the demonstrations."""
    import torch

    losses = []
    policy.model.train()
    for _ in range(epochs):
        total = 0.0
        for messages, action in pairs:
            optimizer.zero_grad()
            log_prob = action_log_prob(policy, messages, action, max_tokens)
            if log_prob is None:
                continue
            loss = -log_prob / max(1, len(action))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.model.parameters(), 1.0)
            optimizer.step()
            total += loss.item()
        losses.append(total / max(1, len(pairs)))
    policy.model.eval()
    return losses


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.5))
    for ax, key in zip(axes, ("reward", "em", "searches", "stage")):
        ax.plot(steps, [r[key] for r in rows], marker="o")
        ax.set_title(key)
        ax.set_xlabel("step")
    axes[3].plot(steps, [r["noise_prob"] for r in rows], marker="x", label="noise p")
    axes[3].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="local model (default: bundled SmolLM2-135M)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=2, help="tasks per step")
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--max-turns", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--world-size", type=int, default=300)
    parser.add_argument("--tasks-per-type", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/curriculum"))
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--warmup-demos", type=int, default=0,
                        help="oracle episodes for a behaviour-cloning warm start before RL (0: none)")
    parser.add_argument("--warmup-epochs", type=int, default=2)
    parser.add_argument("--warmup-lr", type=float, default=1e-4)
    args = parser.parse_args(argv)

    import torch

    from searchgym.llm import GenerationConfig, TransformersGenerator

    torch.manual_seed(args.seed)
    policy = TransformersGenerator(args.model, device=args.device, dtype="float32", batch_size=1)
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=args.lr)
    env = build_env(args)
    noise = env.env  # the NoiseSchedule under the curriculum
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "metrics.jsonl"
    log_path.write_text("")
    if args.warmup_demos > 0:
        pairs = oracle_demonstrations(args, args.warmup_demos, seed=10_000_000 + args.seed)
        bc_optimizer = torch.optim.AdamW(policy.model.parameters(), lr=args.warmup_lr)
        losses = warm_start(policy, bc_optimizer, pairs, args.warmup_epochs, args.max_new_tokens)
        with log_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"warm_start": {"pairs": len(pairs), "loss_per_epoch": losses}}) + "\n")
        print(json.dumps({"warm_start_pairs": len(pairs), "loss_per_epoch": losses}), flush=True)
    rows: list[dict[str, Any]] = []
    for step in range(args.steps):
        started = time.time()
        noise.set_progress(step)
        episodes = []
        for t in range(args.tasks):
            key = None
            for g in range(args.group_size):
                seed = args.seed * 100_000 + step * 1000 + t * 100 + g
                config = GenerationConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                          top_p=0.95, stop=STOPS, seed=seed)
                options = None if key is None else {"task_key": key}
                turns, total, info = rollout(env, policy, config, options, seed if step == 0 and key is None else None)
                key = info["task_key"]
                episodes.append({"group": t, "turns": turns, "reward": total, "em": info["em"],
                                 "searches": info["num_searches"], "stage": info["curriculum"]["stage"]})
        rewards = np.array([e["reward"] for e in episodes])
        policy.model.train()
        optimizer.zero_grad()
        loss_value, count = 0.0, 0
        for t in range(args.tasks):
            group = [e for e in episodes if e["group"] == t]
            returns = np.array([e["reward"] for e in group])
            advantages = (returns - returns.mean()) / (returns.std() + 1e-6)
            for episode, advantage in zip(group, advantages):
                if abs(advantage) < 1e-8:
                    continue  # no variance in this group: no signal (the GRPO caveat)
                for messages, action in episode["turns"]:
                    log_prob = action_log_prob(policy, messages, action, args.max_new_tokens)
                    if log_prob is None:
                        continue
                    loss = -float(advantage) * log_prob / len(episodes)
                    loss.backward()
                    loss_value += loss.item()
                    count += 1
        if count:
            torch.nn.utils.clip_grad_norm_(policy.model.parameters(), 1.0)
            optimizer.step()
        policy.model.eval()
        row = {"step": step, "reward": float(rewards.mean()), "em": float(np.mean([e["em"] for e in episodes])),
               "searches": float(np.mean([e["searches"] for e in episodes])),
               "stage": int(env.stage), "noise_prob": float(noise.current_p), "loss": loss_value,
               "updated_turns": count, "episodes": len(episodes), "seconds": round(time.time() - started, 2),
               "curriculum": env.state_dict()["outcomes"]}
        rows.append(row)
        with log_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps({k: v for k, v in row.items() if k != "curriculum"}), flush=True)
    plot(rows, args.out / "curves.png")
    return rows


if __name__ == "__main__":
    main()
