"""TRL GRPO on a SearchQA env through ``environment_factory``: the bundled SmolLM2 on CPU.

Everything TRL needs is the documented glue of :mod:`searchgym.integrations.trl`:

1. the model folder and a tool-capable tokenizer (``tool_capable_tokenizer()``: SmolLM2's own
   ChatML template drops tools, which TRL refuses);
2. rows exported in TRL's schema with the tools prompt (``export_tasks(..., "trl", ...)``, whose
   default for ``fmt="trl"`` is ``prompt_style="tools"``);
3. ``environment_factory=trl_environment_factory(env_id)``: each rollout slot gets its own
   episode with ``search`` / ``access`` / ``answer`` tools and the env's reward (``get_reward``).

It then runs ``--steps`` optimisation steps of TRL's own GRPO loop (generation with tool calls,
the env's reward, advantages, one gradient step each) and writes ``metrics.jsonl`` (TRL's log
history: reward, loss, tool-call counts, seconds) to ``--out``. A 135M model does not learn to
search in 2 steps: this recipe proves the plumbing runs unchanged, not a result::

    python baselines/trl_grpo.py --steps 2 --out runs/trl-grpo
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="SearchQA-v0")
    parser.add_argument("--model", default=None, help="local HF folder (default: the bundled SmolLM2)")
    parser.add_argument("--steps", type=int, default=2, help="optimisation steps")
    parser.add_argument("--tasks", type=int, default=8, help="training tasks exported")
    parser.add_argument("--num-generations", type=int, default=2, help="GRPO group size")
    parser.add_argument("--prompts-per-step", type=int, default=1)
    parser.add_argument("--max-completion-length", type=int, default=48, help="tokens over all turns")
    parser.add_argument("--max-tool-calls", type=int, default=2)
    parser.add_argument("--world-size", type=int, default=300)
    parser.add_argument("--tasks-per-type", type=int, default=30)
    parser.add_argument("--learning-rate", type=float, default=1e-6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/trl-grpo")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from searchgym.export import export_tasks, read_rows
    from searchgym.integrations.trl import tool_capable_tokenizer, trl_environment_factory

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    world = {"world_size": args.world_size, "tasks_per_type": args.tasks_per_type}
    model_dir, tokenizer = tool_capable_tokenizer(args.model)                       # 1
    rows = read_rows(export_tasks(args.env, "trl", out / "train.jsonl", limit=args.tasks, **world))  # 2
    config = GRPOConfig(
        output_dir=str(out / "trainer"), max_steps=args.steps, learning_rate=args.learning_rate,
        per_device_train_batch_size=args.num_generations * args.prompts_per_step,
        num_generations=args.num_generations, max_completion_length=args.max_completion_length,
        max_tool_calling_iterations=args.max_tool_calls, temperature=1.0, seed=args.seed,
        logging_steps=1, report_to="none", save_strategy="no", use_cpu=True, bf16=False,
        gradient_checkpointing=False, dataloader_num_workers=0, disable_tqdm=True)
    trainer = GRPOTrainer(model=str(model_dir), processing_class=tokenizer, args=config,
                          train_dataset=Dataset.from_list(rows),
                          environment_factory=trl_environment_factory(args.env, **world))  # 3
    start = time.perf_counter()
    trainer.train()
    history = [dict(entry, wall_seconds=round(time.perf_counter() - start, 1)) if "train_runtime" in entry
               else dict(entry) for entry in trainer.state.log_history]
    with open(out / "metrics.jsonl", "w", encoding="utf-8") as handle:
        for entry in history:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
    print(f"{trainer.state.global_step} optimisation steps; log history in {out / 'metrics.jsonl'}")
    return history


if __name__ == "__main__":
    main()
