"""REINFORCE with a group baseline (GRPO-like, no clipping/KL) over a curriculum SearchQA env.

A small local policy (SmolLM2-135M-Instruct via :mod:`searchgym.llm`, or any local HF folder)
plays multi-turn episodes in the text protocol. Each optimisation step draws ``--tasks`` tasks
from a :class:`~searchgym.wrappers.HopCurriculum`, plays ``--group-size`` episodes of each in
one batch (:func:`searchgym.training.play_groups`: one generation call per turn for all of
them) and maximises ``sum_t A * log pi(action_t | context_t)`` with group-normalised
advantages. Observations are context only (never trained on). A ZeroSearch noise schedule
(``--noise-*``) has its own horizon, independent of ``--steps``.

Like a trainer, it: saves its config (``config.json``); logs every step to ``metrics.jsonl``,
TensorBoard (``tensorboard/``) and W&B (``--wandb``, or when ``WANDB_API_KEY``/``WANDB_MODE``
is set); evaluates the greedy policy on held-out **validation** tasks (its own world: no train
fact is in it) after the warm start, every ``--eval-every`` steps and at the end, saving each
evaluation as a ``searchgym eval`` report (``eval/step-N.json``, readable by ``searchgym
report``); checkpoints every ``--checkpoint-every`` steps and resumes with ``--resume``; shows
progress bars on a terminal; and draws ``curves.png``. Runs on CPU in a few minutes with the
defaults::

    python baselines/train_curriculum.py --steps 3 --out runs/curriculum
    python baselines/train_curriculum.py --warmup-demos 16 --steps 4 --out runs/curriculum-warm
    python baselines/train_curriculum.py --warmup-demos 16 --steps 8 --out runs/curriculum-warm --resume
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

import searchgym
from searchgym.cache import atomic_write_text
from searchgym.training import RunLogger, latest_checkpoint, plot_training_curves, save_checkpoint
from searchgym.training.reinforce import behaviour_cloning_epoch, policy_gradient_step, train_top_layers
from searchgym.training.rollouts import play_groups
from searchgym.wrappers import HopCurriculum, NoiseSchedule, compose_rewards

STOPS = ("</search>", "</answer>", "</access>")
DEFAULT_STAGES = [{"task_types": ["chain"], "hops": [1]}, {"task_types": ["chain"], "hops": [1, 2]},
                  {"task_types": ["chain", "comparison", "intersection"], "hops": [2, 3]}]
# Settings that may change on --resume without changing what the run is.
RESUMABLE = {"steps", "resume", "progress", "eval_every", "checkpoint_every", "keep_checkpoints", "wandb",
             "num_threads", "device"}
THOUGHTS = {"search": "I should look up {argument}.", "access": "I should read that document.",
            "answer": "I have found the answer."}


def env_kwargs(args: argparse.Namespace, split: str) -> dict[str, Any]:
    return {"world_size": args.world_size, "tasks_per_type": args.tasks_per_type, "max_turns": args.max_turns,
            "top_k": args.top_k, "max_doc_chars": args.max_doc_chars, "split": split}


def rollout_env(args: argparse.Namespace) -> NoiseSchedule:
    """One rollout slot: shaped reward, then the noise schedule (driven by the optimiser step)."""
    env = gym.make("SearchQA-v0", **env_kwargs(args, "train"))
    env = compose_rewards(env, {"answer": 1.0, "format": 0.2, "evidence": 0.5},
                          answer={"metric": "f1"}, evidence={"per_fact": 0.1, "repeat_query_penalty": 0.05})
    return NoiseSchedule(env, p_start=args.noise_start, p_end=args.noise_end, total_steps=args.noise_horizon,
                         unit="manual", noise_seed=args.seed)


def curriculum(args: argparse.Namespace) -> HopCurriculum:
    """The task chooser: it draws each group's task and is fed each episode's outcome."""
    return HopCurriculum(gym.make("SearchQA-v0", **env_kwargs(args, "train")), stages=args.stages,
                         promote_at=args.promote_at, demote_at=args.demote_at, window=args.window)


def oracle_demonstrations(args: argparse.Namespace, count: int, seed: int) -> list[tuple[list[dict[str, str]], str]]:
    """(context, action) pairs from the oracle on train tasks (``--warmup-task-types``/``--warmup-hops``).

    A 135M instruct model almost never writes a valid tag unprompted, so with rewards all zero
    GRPO has no variance to learn from. A short behaviour-cloning warm start on oracle
    trajectories (with a brief <think>, as the Search-R1 format asks) is the usual cold start.
    """
    from searchgym.agents import OracleAgent

    # A separate, unwrapped env: demonstrations must not count as curriculum outcomes.
    env = gym.make("SearchQA-v0", **env_kwargs(args, "train"), task_types=args.warmup_task_types,
                   hops=args.warmup_hops)
    # Subject names first: the demos then search what the question or a result revealed, never the answer.
    oracle, pairs = OracleAgent(query_order=("subject", "subject_object", "object")), []
    for episode in tqdm(range(count), desc="oracle demos", disable=not args.progress, file=sys.stderr):
        observation, info = env.reset(seed=seed + episode)
        oracle.begin(observation, info, seed + episode, env=env)
        messages = list(info["messages"])
        while True:
            action = oracle.act(observation, info)
            kind = action[1 : action.index(">")]
            argument = action[action.index(">") + 1 : action.rindex("<")]
            action = f"<think>{THOUGHTS[kind].format(argument=argument)}</think>\n{action}"
            pairs.append((list(messages), action))
            observation, _, terminated, truncated, info = env.step(action)
            messages += [{"role": "assistant", "content": action}, {"role": "user", "content": observation}]
            if terminated or truncated:
                break
    env.close()
    return pairs


def warm_start(args: argparse.Namespace, policy: Any, log: RunLogger) -> None:
    import torch

    pairs = oracle_demonstrations(args, args.warmup_demos, seed=10_000_000 + args.seed)
    optimizer = torch.optim.AdamW([p for p in policy.model.parameters() if p.requires_grad], lr=args.warmup_lr)
    losses = []
    for epoch in range(args.warmup_epochs):
        with tqdm(total=len(pairs), desc=f"warm start {epoch + 1}/{args.warmup_epochs}", disable=not args.progress,
                  file=sys.stderr) as bar:
            losses.append(behaviour_cloning_epoch(policy, optimizer, pairs, max_tokens=args.max_new_tokens,
                                                  on_pair=lambda loss: (bar.update(), bar.set_postfix(loss=f"{loss:.3f}"))))
        tqdm.write(f"warm start epoch {epoch + 1}/{args.warmup_epochs}: loss {losses[-1]:.4f} ({len(pairs)} pairs)")
    log.log("warm_start", 0, {"pairs": len(pairs), "demos": args.warmup_demos, "loss_per_epoch": losses,
                              "loss": losses[-1] if losses else None})


def validate(args: argparse.Namespace, policy: Any, step: int, log: RunLogger) -> dict[str, Any]:
    """Greedy EM on the same held-out validation tasks every time (a ``searchgym eval`` report)."""
    from searchgym.agents import LLMAgent
    from searchgym.evaluation import evaluate, save_report

    agent = LLMAgent(policy, max_new_tokens=args.max_new_tokens, temperature=0.0, batch_size=args.eval_batch_size)
    agent.name = f"step-{step}"
    kwargs = env_kwargs(args, "validation")
    kwargs.pop("split")
    kwargs.update(task_types=args.eval_task_types, hops=args.eval_hops)
    started = time.time()
    report = evaluate("SearchQA-v0", [agent], args.eval_episodes, split="validation", seed=args.eval_seed,
                      env_kwargs=kwargs, show_progress=False)
    save_report(report, args.out / "eval" / f"step-{step:06d}.json")
    row = report["agents"][agent.name]["by_task_type"]["all"]
    values = {key: row[key] for key in ("episodes", "em", "em_ci", "f1", "searches", "invalid", "evidence_recall")}
    values["seconds"] = round(time.time() - started, 1)
    log.log("eval", step, values)
    tqdm.write(f"validation @ step {step}: EM {row['em']:.3f} [{row['em_ci'][0]:.2f}-{row['em_ci'][1]:.2f}] "
               f"F1 {row['f1']:.3f} on {row['episodes']} tasks ({values['seconds']} s)")
    return values


def train_step(args: argparse.Namespace, policy: Any, optimizer: Any, envs: list[NoiseSchedule],
               chooser: HopCurriculum, step: int) -> dict[str, Any]:
    from searchgym.llm import GenerationConfig

    started = time.time()
    stage = chooser.stage  # the stage these tasks are drawn from, logged before any promotion
    # Seeded once, at the first draw; a resumed run restores the chooser's RNG from its checkpoint.
    keys = [chooser.reset(seed=args.seed if step == 0 and t == 0 else None)[1]["task_key"] for t in range(args.tasks)]
    noise = [env.set_progress(step) for env in envs][0]
    config = GenerationConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                              stop=STOPS)
    episodes = play_groups(policy, envs, keys, args.group_size, config, seed=args.seed, step=step)
    events = [chooser.record(e.em >= 1.0) for e in episodes]
    update = policy_gradient_step(policy, optimizer, episodes, max_tokens=args.max_new_tokens)
    parts: dict[str, list[float]] = {}
    for episode in episodes:
        for name, value in episode.reward_parts.items():
            parts.setdefault(name, []).append(value)
    return {
        "reward": float(np.mean([e.reward for e in episodes])), "em": float(np.mean([e.em for e in episodes])),
        "f1": float(np.mean([e.info.get("f1", 0.0) for e in episodes])),
        "searches": float(np.mean([e.info.get("num_searches", 0) for e in episodes])),
        "invalid": float(np.mean([e.info.get("num_invalid", 0) for e in episodes])),
        "turns": float(np.mean([len(e.turns) for e in episodes])),
        **{f"reward_{name}": float(np.mean(values)) for name, values in parts.items()},
        "stage": stage, "stage_after": chooser.stage, "events": [e for e in events if e],
        "noise_prob": float(noise), **update, "episodes": len(episodes),
        "seconds": round(time.time() - started, 2),
    }


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    config = {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()}
    return config


def provenance() -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                                cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    import torch

    return {"command": " ".join([Path(sys.executable).name, *sys.argv]), "git_commit": commit,
            "searchgym_version": searchgym.__version__, "python": platform.python_version(),
            "torch": torch.__version__, "machine": platform.machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}


def check_resumable(saved: dict[str, Any], current: dict[str, Any]) -> None:
    changed = sorted(k for k in set(saved) | set(current) if k not in RESUMABLE and saved.get(k) != current.get(k))
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed)
        raise SystemExit(f"--resume: the run in {current['out']} was made with other settings ({details}); "
                         "resume with the same settings or use a new --out")


def parse_int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--model", default=None, help="local model folder or .gguf (default: bundled SmolLM2-135M)")
    add("--out", type=Path, default=Path("runs/curriculum"), help="run folder")
    add("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    add("--steps", type=int, default=3, help="RL optimisation steps (after the warm start)")
    add("--tasks", type=int, default=2, help="tasks per step")
    add("--group-size", type=int, default=4, help="rollouts per task (the GRPO group)")
    add("--max-turns", type=int, default=3)
    add("--max-new-tokens", type=int, default=48)
    add("--temperature", type=float, default=1.0)
    add("--top-p", type=float, default=0.95)
    add("--lr", type=float, default=1e-5)
    add("--stages", type=json.loads, default=DEFAULT_STAGES, help="curriculum stages as JSON, easiest first")
    add("--promote-at", type=float, default=0.5)
    add("--demote-at", type=float, default=0.0)
    add("--window", type=int, default=8, help="episodes in the curriculum's success window")
    add("--noise-start", type=float, default=0.0, help="search noise probability at step 0")
    add("--noise-end", type=float, default=0.3, help="noise probability reached at --noise-horizon")
    add("--noise-horizon", type=int, default=200, help="steps over which noise rises (independent of --steps)")
    add("--world-size", type=int, default=300)
    add("--tasks-per-type", type=int, default=30)
    add("--top-k", type=int, default=2)
    add("--max-doc-chars", type=int, default=300)
    add("--train-layers", type=int, default=0,
        help="train only the top N decoder layers (0: all); on a CPU 6-8 of SmolLM2's 30 halve an update's cost")
    add("--seed", type=int, default=0)
    add("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    add("--num-threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    add("--warmup-demos", type=int, default=0, help="oracle episodes for a behaviour-cloning warm start (0: none)")
    add("--warmup-epochs", type=int, default=2)
    add("--warmup-lr", type=float, default=1e-4)
    add("--warmup-task-types", type=lambda s: s.split(","), default=["chain"], help="task types of the demos")
    add("--warmup-hops", type=parse_int_list, default=[1, 2], help="hop counts of the demos")
    add("--eval-every", type=int, default=25, help="validation every N steps (also after the warm start and at the end)")
    add("--eval-episodes", type=int, default=16, help="held-out validation tasks (the same ones every time)")
    add("--eval-task-types", type=lambda s: s.split(","), default=["chain"], help="validation task types")
    add("--eval-hops", type=parse_int_list, default=[1, 2], help="validation hop counts")
    add("--eval-seed", type=int, default=0, help="picks the validation tasks")
    add("--eval-batch-size", type=int, default=16)
    add("--checkpoint-every", type=int, default=25, help="checkpoint every N steps (and at the end)")
    add("--keep-checkpoints", type=int, default=2)
    add("--wandb", action=argparse.BooleanOptionalAction, default=None,
        help="log to Weights & Biases (default: when installed and WANDB_API_KEY or WANDB_MODE is set)")
    add("--progress", action=argparse.BooleanOptionalAction, default=None,
        help="progress bars on stderr (default: when stderr is a terminal)")
    return parser


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = build_parser().parse_args(argv)
    if args.progress is None:
        args.progress = sys.stderr.isatty()
    import torch

    from searchgym.llm import TransformersGenerator

    args.out.mkdir(parents=True, exist_ok=True)
    config = run_config(args)
    checkpoint = latest_checkpoint(args.out) if args.resume else None
    if args.resume and checkpoint is None:
        tqdm.write(f"--resume: no checkpoint in {args.out}; starting a new run")
    history: list[dict[str, Any]] = []
    if checkpoint is not None:
        saved = json.loads((args.out / "config.json").read_text())
        check_resumable(saved["args"], config)
        # the settings that may change on resume (--steps) did: the file says what the run is now
        history = [*saved.get("history", []), {key: value for key, value in saved.items() if key != "history"}]
    atomic_write_text(args.out / "config.json",
                      json.dumps({"args": config, **provenance(), "history": history}, indent=1))
    torch.manual_seed(args.seed)
    policy = TransformersGenerator(checkpoint.model_dir if checkpoint else args.model, device=args.device,
                                   dtype="float32", batch_size=args.tasks * args.group_size,
                                   num_threads=args.num_threads)
    trainable = train_top_layers(policy.model, args.train_layers)
    optimizer = torch.optim.AdamW(trainable, lr=args.lr)
    chooser = curriculum(args)
    envs = [rollout_env(args) for _ in range(args.tasks * args.group_size)]
    start = 0
    if checkpoint is not None:
        checkpoint.load_optimizer(optimizer)
        checkpoint.restore_rng()
        chooser.load_state_dict(checkpoint.state["curriculum"])
        start = checkpoint.step
        tqdm.write(f"resumed from {checkpoint.path} at step {start}")
    log = RunLogger(args.out, config=config, wandb=args.wandb, resume_step=start if checkpoint else None)

    def save(step: int) -> None:
        save_checkpoint(args.out, step, model=policy.model, tokenizer=policy.tokenizer, optimizer=optimizer,
                        state={"curriculum": chooser.state_dict()}, keep=args.keep_checkpoints)

    try:
        if checkpoint is None:
            if args.warmup_demos > 0:
                warm_start(args, policy, log)
            save(0)
        with tqdm(total=args.steps, initial=start, desc="RL steps", disable=not args.progress, file=sys.stderr) as bar:
            for step in range(start, args.steps):
                due = step == 0 or (args.eval_every and step % args.eval_every == 0)
                if due and not log.logged("eval", step):  # a resumed run keeps its checkpoint's evaluation
                    validate(args, policy, step, log)
                    plot_training_curves(log_rows(args.out), args.out / "curves.png")
                row = log.log("train", step, train_step(args, policy, optimizer, envs, chooser, step))
                bar.update()
                bar.set_postfix(stage=row["stage"], reward=f"{row['reward']:.2f}", em=f"{row['em']:.2f}")
                tqdm.write(f"step {step + 1}/{args.steps} | stage {row['stage']} | reward {row['reward']:.3f} | "
                           f"EM {row['em']:.3f} | searches {row['searches']:.2f} | loss {row['loss']:.3f} | "
                           f"signal groups {row['signal_groups']}/{row['groups']} | {row['seconds']} s")
                if args.checkpoint_every and (step + 1) % args.checkpoint_every == 0:
                    save(step + 1)
        if not log.logged("eval", args.steps):
            validate(args, policy, args.steps, log)
            save(args.steps)
    finally:
        log.close()
        for env in envs:
            env.close()
    rows = log_rows(args.out)
    plot_training_curves(rows, args.out / "curves.png", title=f"{policy.model_name}: {args.out.name}")
    return rows


def log_rows(out: Path) -> list[dict[str, Any]]:
    from searchgym.training import read_metrics

    return read_metrics(out / "metrics.jsonl")


if __name__ == "__main__":
    main()
