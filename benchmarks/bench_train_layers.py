"""What training only the top decoder layers saves per policy-gradient pass on a CPU.

``baselines/train_curriculum.py --train-layers N`` freezes all but the top N of SmolLM2's 30
decoder layers: autograd then records nothing below them and the backward pass shrinks. This
times one ``action_log_prob(...).backward()`` (the unit of every RL and behaviour-cloning update)
on a real SearchQA prompt, for each N, interleaved over rounds; CPU seconds (process time) are
reported beside wall seconds because the machine is shared. Appends a section to RESULTS.md::

    python benchmarks/bench_train_layers.py --layers 0,8,6 --rounds 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import append_results, markdown_table, median  # noqa: E402

ACTION = "<think>I should look up the company.</think>\n<search>Yolyjuk Trading Company</search>"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--layers", default="0,8,6", help="comma-separated N (0: all layers trained)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--passes", type=int, default=3, help="passes per round and N")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)

    import gymnasium as gym
    import torch

    import searchgym  # noqa: F401
    from searchgym.llm import TransformersGenerator
    from searchgym.training.reinforce import action_log_prob, train_top_layers

    torch.set_num_threads(args.threads)
    policy = TransformersGenerator(None, device="cpu", dtype="float32")
    env = gym.make("SearchQA-v0", world_size=300, tasks_per_type=30, max_turns=3, top_k=2, max_doc_chars=300)
    _, info = env.reset(seed=0)
    messages = list(info["messages"])
    tokens = len(policy.tokenizer(policy.render(messages))["input_ids"])
    layers = [int(n) for n in args.layers.split(",")]
    cpu: dict[int, list[float]] = {n: [] for n in layers}
    wall: dict[int, list[float]] = {n: [] for n in layers}
    for _ in range(args.rounds):
        for n in layers:
            for parameter in policy.model.parameters():
                parameter.requires_grad_(True)
            train_top_layers(policy.model, n)
            policy.model.zero_grad(set_to_none=True)
            started_cpu, started = time.process_time(), time.perf_counter()
            for _ in range(args.passes):
                action_log_prob(policy, messages, ACTION, 48).backward()
            cpu[n].append((time.process_time() - started_cpu) / args.passes)
            wall[n].append((time.perf_counter() - started) / args.passes)
    base = median(cpu[layers[0]])
    rows = [[("all 30" if n == 0 else f"top {n}"), f"{median(cpu[n]):.2f}", f"{median(wall[n]):.2f}",
             f"{base / median(cpu[n]):.2f}x"] for n in layers]
    table = markdown_table(["layers trained", "CPU s / pass (median)", "wall s / pass (median)",
                            f"speed-up vs {rows[0][0]}"], rows)
    body = (f"{table}\n\n- SmolLM2-135M-Instruct, float32, {args.threads} thread(s); one pass = forward + backward of "
            f"log pi(action | prompt) on a {tokens}-token SearchQA prompt; {args.rounds} rounds x {args.passes} passes, "
            "layer settings interleaved within each round.")
    print(body)
    if not args.no_save:
        append_results("Partial fine-tuning cost (bench_train_layers.py)",
                       "python benchmarks/bench_train_layers.py " + " ".join(argv or sys.argv[1:]), body)


if __name__ == "__main__":
    main()
