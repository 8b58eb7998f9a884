"""The training loop's trainer parts: logging, checkpoints and resume, group rollouts, curves."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import searchgym  # noqa: F401
from searchgym.llm.base import GenerationConfig
from searchgym.training import (
    RunLogger,
    latest_checkpoint,
    plot_training_curves,
    read_metrics,
    save_checkpoint,
)
from searchgym.training.reinforce import (
    action_log_prob,
    episode_action_log_probs,
    group_advantages,
    policy_gradient_step,
    train_top_layers,
)
from searchgym.training.rollouts import play_groups
from searchgym.wrappers import compose_rewards
from episodes import SMALL

ROOT = Path(__file__).resolve().parents[1]


def tiny_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=3,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config)


def test_run_logger_writes_jsonl_and_tensorboard_and_resumes_cleanly(tmp_path):
    with RunLogger(tmp_path, config={"lr": 1e-5}) as log:
        log.log("warm_start", 0, {"loss": 0.5, "loss_per_epoch": [0.7, 0.5]})
        for step in range(4):
            log.log("train", step, {"reward": step / 10, "events": ["promote"] if step == 2 else []})
        log.log("eval", 4, {"em": 0.25, "em_ci": [0.1, 0.5]})
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [(r["kind"], r["step"]) for r in rows] == [("warm_start", 0)] + [("train", s) for s in range(4)] + [("eval", 4)]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert {"train/reward", "eval/em", "warm_start/loss"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("train/reward")] == [0, 1, 2, 3]
    # A crash after step 3 with the last checkpoint at step 2: the resumed run drops steps >= 2.
    with (tmp_path / "metrics.jsonl").open("a") as handle:
        handle.write('{"kind": "train", "st')  # a torn line from a kill mid-write
    with RunLogger(tmp_path, resume_step=2) as log:
        log.log("train", 2, {"reward": 9.0})
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [(r["kind"], r["step"]) for r in rows] == [("warm_start", 0), ("train", 0), ("train", 1), ("train", 2)]
    assert rows[-1]["reward"] == 9.0
    # Resuming at step 4, where the run evaluated its checkpoint: that evaluation stays, also in TensorBoard.
    with RunLogger(tmp_path, resume_step=3) as log:
        log.log("train", 3, {"reward": 0.3})
        log.log("eval", 4, {"em": 0.5})
    with RunLogger(tmp_path, resume_step=4) as log:
        assert log.logged("eval", 4) and not log.logged("train", 4)
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [(r["kind"], r["step"]) for r in rows][-2:] == [("train", 3), ("eval", 4)]
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("eval/em")] == [(4, 0.5)]


def test_checkpoints_are_atomic_pruned_and_restore_model_and_optimizer(tmp_path):
    model = tiny_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in (3, 5, 7):
        model(torch.tensor([[1, 2, 3]]), labels=torch.tensor([[1, 2, 3]])).loss.backward()
        optimizer.step()
        save_checkpoint(tmp_path, step, model=model, optimizer=optimizer, state={"curriculum": {"stage": step}}, keep=2)
    (tmp_path / "checkpoints" / ".step-000009.tmp-1").mkdir()  # a save killed half-way
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if not p.name.startswith("."))
    assert names == ["step-000005", "step-000007"]
    checkpoint = latest_checkpoint(tmp_path)
    assert checkpoint.step == 7 and checkpoint.state["curriculum"] == {"stage": 7}
    from transformers import AutoModelForCausalLM

    restored = AutoModelForCausalLM.from_pretrained(checkpoint.model_dir)
    for (name, a), b in zip(model.state_dict().items(), restored.state_dict().values()):
        assert torch.equal(a, b), name
    fresh = torch.optim.AdamW(restored.parameters(), lr=1e-3)
    checkpoint.load_optimizer(fresh)
    assert fresh.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
    assert latest_checkpoint(tmp_path / "elsewhere") is None


def test_train_top_layers_freezes_the_rest():
    model = tiny_model()
    trainable = train_top_layers(model, 1)
    top = set(map(id, model.model.layers[-1].parameters())) | set(map(id, model.model.norm.parameters()))
    assert set(map(id, trainable)) == top
    model(torch.tensor([[1, 2, 3]]), labels=torch.tensor([[1, 2, 3]])).loss.backward()
    assert model.model.layers[0].self_attn.q_proj.weight.grad is None
    assert model.model.layers[-1].self_attn.q_proj.weight.grad is not None
    with pytest.raises(ValueError, match="3 decoder layers"):
        train_top_layers(model, 4)
    assert list(group_advantages([1.0, 0.0, 1.0, 0.0])) == pytest.approx([1, -1, 1, -1], abs=1e-5)


class QuestionSearcher:
    """A policy as text generator: search the question, then answer the first result's title."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, GenerationConfig]] = []

    def generate(self, prompts, config):
        self.calls.append((len(prompts), config))
        actions = []
        for messages in prompts:
            if len(messages) == 1:
                actions.append("<search>" + messages[0]["content"].rsplit("Question:", 1)[1].strip() + "</search>")
            else:
                title = messages[-1]["content"].split("(Title: ", 1)[1].split(")", 1)[0]
                actions.append(f"<answer>{title}</answer>")
        return actions


def test_play_groups_runs_every_episode_of_a_step_in_one_call_per_turn():
    envs = [compose_rewards(gym.make("SearchQA-v0", **SMALL), {"answer": 1.0, "format": 0.2}) for _ in range(4)]
    keys = [task.task_key for task in envs[0].unwrapped.tasks[:2]]
    policy = QuestionSearcher()
    config = GenerationConfig(max_new_tokens=8, temperature=1.0, stop=("</search>",))
    episodes = play_groups(policy, envs, keys, 2, config, seed=1, step=3)
    assert [count for count, _ in policy.calls] == [4, 4]  # two turns, all episodes batched
    seeds = policy.calls[0][1].seeds
    assert len(set(seeds)) == 4 and policy.calls[1][1].seeds != seeds
    assert [e.group for e in episodes] == [0, 0, 1, 1] and [e.task_key for e in episodes] == [keys[0]] * 2 + [keys[1]] * 2
    assert all(len(e.turns) == 2 and e.turns[1].messages[-1]["role"] == "user" for e in episodes)
    assert [envs[i].unwrapped.group_seed for i in range(4)] == [6, 6, 7, 7]
    for episode in episodes:
        weights = episode.info["reward_weights"]  # the reward is the weighted sum of its parts
        assert episode.reward == pytest.approx(sum(weights[k] * v for k, v in episode.reward_parts.items()))
        assert set(episode.reward_parts) >= {"answer", "format"}
    again = play_groups(QuestionSearcher(), envs, keys, 2, config, seed=1, step=3)
    assert [e.reward for e in again] == [e.reward for e in episodes]
    with pytest.raises(ValueError, match="need 6 envs"):
        play_groups(policy, envs, keys + keys[:1], 2, config, seed=1, step=3)


@pytest.fixture(scope="module")
def tiny_smollm2_policy(tmp_path_factory):
    """A 3-layer random Llama behind SmolLM2's real tokenizer and chat template, loaded as a
    :class:`TransformersGenerator` folder: the scoring code sees exactly what it sees in a run."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from searchgym.llm import TransformersGenerator, smollm2

    folder = tmp_path_factory.mktemp("tiny-smollm2")
    tokenizer = AutoTokenizer.from_pretrained(smollm2.smollm2_model_dir(), local_files_only=True)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return TransformersGenerator(folder, device="cpu", dtype="float32", num_threads=1)


def test_one_pass_per_episode_scores_every_turn_as_one_pass_per_turn_does(tiny_smollm2_policy):
    """The policy-gradient update scores a whole episode in one forward pass; each turn's
    log-probability must equal scoring that turn alone from its own context (and the reference
    formula over the full logits), so the cheaper update is the same update."""
    policy = tiny_smollm2_policy
    envs = [compose_rewards(gym.make("SearchQA-v0", **SMALL), {"answer": 1.0, "format": 0.2}) for _ in range(2)]
    keys = [task.task_key for task in envs[0].unwrapped.tasks[:2]]
    episodes = play_groups(QuestionSearcher(), envs, keys, 1, GenerationConfig(max_new_tokens=8), seed=0, step=0)
    for episode in episodes:
        assert len(episode.turns) == 2
        batched = episode_action_log_probs(policy, episode.turns, max_tokens=48)
        single = [action_log_prob(policy, turn.messages, turn.action, 48) for turn in episode.turns]
        assert torch.stack(batched).detach().numpy() == pytest.approx(torch.stack(single).detach().numpy(), abs=1e-3)
        turn = episode.turns[-1]  # the reference: log-softmax over the full logits of context + action
        context = policy.tokenizer(policy.render(turn.messages), add_special_tokens=False)["input_ids"]
        target = policy.tokenizer(turn.action, add_special_tokens=False)["input_ids"]
        logits = policy.model(torch.tensor([context + target])).logits[0, len(context) - 1 : -1]
        reference = torch.log_softmax(logits, -1).gather(1, torch.tensor(target)[:, None]).sum()
        assert single[-1].item() == pytest.approx(reference.item(), abs=1e-3)
    # A token budget shorter than an action scores only its first tokens, in both paths.
    short = episode_action_log_probs(policy, episodes[0].turns, max_tokens=3)
    alone = action_log_prob(policy, episodes[0].turns[0].messages, episodes[0].turns[0].action, 3)
    assert short[0].item() == pytest.approx(alone.item(), abs=1e-4)
    # The update counts every scored turn and moves the trainable weights.
    trainable = train_top_layers(policy.model, 1)
    before = [p.detach().clone() for p in trainable]
    episodes[0].reward, episodes[1].reward = 1.0, 0.0
    for episode in episodes:
        episode.group = 0
    update = policy_gradient_step(policy, torch.optim.SGD(trainable, lr=1e-2), episodes, max_tokens=48)
    assert update["updated_turns"] == 4 and update["signal_groups"] == 1 and update["grad_norm"] > 0
    assert any(not torch.equal(b, p) for b, p in zip(before, trainable))


def test_curves_have_their_own_axes(tmp_path):
    rows = [{"kind": "warm_start", "step": 0, "loss_per_epoch": [0.5, 0.2]}]
    rows += [{"kind": "train", "step": s, "reward": s / 10, "em": s / 20, "searches": 1, "invalid": 0.5, "loss": -s,
              "grad_norm": 1.0, "stage": s // 3, "noise_prob": s / 100} for s in range(7)]
    rows += [{"kind": "eval", "step": s, "em": 0.1 * s, "em_ci": [0.0, 0.2 * s + 0.1], "episodes": 8} for s in (0, 7)]
    path = plot_training_curves(rows, tmp_path / "curves.png", title="t")
    assert path.stat().st_size > 10_000 and path.read_bytes()[:4] == b"\x89PNG"


def load_baseline(name: str = "train_curriculum"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "baselines" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_trainer():
    return load_baseline("train_curriculum")


@pytest.mark.slow
def test_the_curriculum_loop_logs_validates_checkpoints_and_resumes(tmp_path):
    """SmolLM2 end to end at the smallest size: warm start, 1 RL step, validation, resume to 2."""
    trainer = load_trainer()
    out = tmp_path / "run"
    common = ["--out", str(out), "--tasks", "1", "--group-size", "2", "--max-turns", "2", "--max-new-tokens", "12",
              "--eval-episodes", "2", "--eval-batch-size", "2", "--warmup-demos", "1", "--warmup-epochs", "1",
              "--train-layers", "2", "--checkpoint-every", "1", "--num-threads", "1", "--no-progress"]
    trainer.main([*common, "--steps", "1"])
    config = json.loads((out / "config.json").read_text())
    assert config["args"]["steps"] == 1 and config["command"] and config["searchgym_version"]
    rows = read_metrics(out / "metrics.jsonl")
    assert [(r["kind"], r["step"]) for r in rows] == [("warm_start", 0), ("eval", 0), ("train", 0), ("eval", 1)]
    train = rows[2]
    assert train["stage"] == 0 and train["episodes"] == 2 and {"loss", "grad_norm", "noise_prob"} <= set(train)
    assert sorted(p.name for p in (out / "eval").iterdir()) == ["step-000000.json", "step-000001.json"]
    assert json.loads((out / "eval" / "step-000001.json").read_text())["split"] == "validation"
    assert (out / "curves.png").is_file() and latest_checkpoint(out).step == 1
    with pytest.raises(SystemExit, match="lr: 1e-05 -> 0.001"):
        trainer.main([*common, "--steps", "2", "--resume", "--lr", "1e-3"])
    trainer.main([*common, "--steps", "2", "--resume"])
    rows = read_metrics(out / "metrics.jsonl")
    # the evaluation at the resumed step measured the checkpoint's model: kept, not made again
    assert [(r["kind"], r["step"]) for r in rows] == [("warm_start", 0), ("eval", 0), ("train", 0), ("eval", 1),
                                                      ("train", 1), ("eval", 2)]
    assert latest_checkpoint(out).step == 2
    config = json.loads((out / "config.json").read_text())
    assert config["args"]["steps"] == 2 and [h["args"]["steps"] for h in config["history"]] == [1]
    # The run's summary pairs the warm-start and final evaluations on the same tasks and counts
    # the GRPO groups that carried no signal, from what the run logged.
    summary = load_baseline("run_summary").main([str(out), "--output", str(tmp_path / "summary.json")])
    assert summary["warm_start"]["file"] == "step-000000.json" and summary["final"]["file"] == "step-000002.json"
    assert summary["paired"]["tasks"] == 2 == summary["warm_start"]["tasks"]
    flips = summary["paired"]
    assert flips["gained"] + flips["lost"] + flips["unchanged"] == 2
    train_rows = [r for r in rows if r["kind"] == "train"]
    training = summary["training"]
    assert training["steps"] == 2 and training["groups"] == sum(r["groups"] for r in train_rows) == 2
    assert training["zero_variance_groups"] == sum(r["groups"] - r["signal_groups"] for r in train_rows)
    assert json.loads((tmp_path / "summary.json").read_text())["paired"]["em"]["n"] == 2
    final = summary["final"]
    assert final["wrong"] == round(2 * (1 - final["em"])) >= final["wrong_with_all_evidence"]
