"""What scoring a whole episode in one pass saves in a policy-gradient update on a CPU.

``policy_gradient_step`` needs ``log pi(action_t | context_t)`` for every turn of an episode.
Scoring each turn on its own (:func:`~searchgym.training.reinforce.action_log_prob`) re-runs the
growing transcript once per turn; :func:`~searchgym.training.reinforce.episode_action_log_probs`
runs the last context plus action once and reads every turn's tokens from it. This times forward
plus backward of both, on real SearchQA transcripts of 2 and 4 turns (search, then answer; or
three searches, then answer) with SmolLM2-135M, interleaved over rounds; CPU seconds (process
time) beside wall seconds because the machine is shared. Appends a section to RESULTS.md::

    python benchmarks/bench_episode_scoring.py --rounds 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import append_results, markdown_table, median  # noqa: E402


def transcript(env, turns: int):
    """A real episode's turns: ``turns - 1`` searches of the question's subject, then an answer."""
    from searchgym.training.rollouts import Turn

    _, info = env.reset(seed=0)
    messages, played = list(info["messages"]), []
    question = messages[-1]["content"].rsplit("Question:", 1)[1].strip()
    for index in range(turns):
        action = (f"<think>I should look up {question}</think>\n<search>{question}</search>" if index < turns - 1
                  else "<think>I have found the answer.</think>\n<answer>unknown</answer>")
        played.append(Turn(list(messages), action))
        observation, *_ = env.step(action)
        messages += [{"role": "assistant", "content": action}, {"role": "user", "content": observation}]
    return played


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--turns", default="2,4", help="comma-separated episode lengths")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train-layers", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)

    import gymnasium as gym
    import torch

    import searchgym  # noqa: F401
    from searchgym.llm import TransformersGenerator
    from searchgym.training.reinforce import action_log_prob, episode_action_log_probs, train_top_layers

    torch.set_num_threads(args.threads)
    policy = TransformersGenerator(None, device="cpu", dtype="float32")
    train_top_layers(policy.model, args.train_layers)
    env = gym.make("SearchQA-v0", world_size=300, tasks_per_type=30, max_turns=8, top_k=2, max_doc_chars=300)
    lengths = [int(n) for n in args.turns.split(",")]
    episodes = {n: transcript(env, n) for n in lengths}
    ways = {
        "one pass per turn": lambda turns: [action_log_prob(policy, t.messages, t.action, 48) for t in turns],
        "one pass per episode": lambda turns: episode_action_log_probs(policy, turns, 48),
    }
    cpu = {(n, way): [] for n in lengths for way in ways}
    wall = {(n, way): [] for n in lengths for way in ways}
    for _ in range(args.rounds):
        for n in lengths:
            for way, score in ways.items():
                policy.model.zero_grad(set_to_none=True)
                started_cpu, started = time.process_time(), time.perf_counter()
                torch.stack(score(episodes[n])).sum().backward()
                cpu[n, way].append(time.process_time() - started_cpu)
                wall[n, way].append(time.perf_counter() - started)
    rows = []
    for n in lengths:
        tokens = len(policy.tokenizer(policy.render(episodes[n][-1].messages))["input_ids"])
        base = median(cpu[n, "one pass per turn"])
        for way in ways:
            rows.append([n, tokens, way, f"{median(cpu[n, way]):.2f}", f"{median(wall[n, way]):.2f}",
                         f"{base / median(cpu[n, way]):.2f}x"])
    table = markdown_table(["turns", "last context tokens", "scoring", "CPU s / update (median)",
                            "wall s / update (median)", "speed-up (CPU)"], rows)
    body = (f"{table}\n\n- SmolLM2-135M-Instruct, float32, {args.threads} thread(s), top {args.train_layers} layers "
            f"trained; one update = forward + backward of every turn's log pi(action | context) of one episode; "
            f"{args.rounds} rounds, both ways interleaved within each round.")
    print(body)
    if not args.no_save:
        append_results("Episode scoring in the policy-gradient update (bench_episode_scoring.py)",
                       "python benchmarks/bench_episode_scoring.py " + " ".join(argv or sys.argv[1:]), body)


if __name__ == "__main__":
    main()
