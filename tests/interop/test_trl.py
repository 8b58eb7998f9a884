"""TRL 1.16's ``GRPOTrainer(environment_factory=...)`` driven as its users drive it.

The recipe ``baselines/trl_grpo.py`` runs TRL's own GRPO loop for 2 optimisation steps on the
bundled SmolLM2 (CPU); the other tests pin the glue it needs: a chat template TRL accepts for
tool calling, and a clear error when a row's prompt style is not the factory's.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from episodes import SMALL, one_torch_thread

trl = pytest.importorskip("trl")
from trl.chat_template_utils import (  # noqa: E402
    get_training_chat_template,
    is_chat_template_prefix_preserving,
    supports_tool_calling,
)

from searchgym.export import export_tasks, read_rows, task_records  # noqa: E402
from searchgym.integrations.trl import tool_capable_tokenizer, trl_environment_factory  # noqa: E402

RECIPE = Path(__file__).resolve().parents[2] / "baselines" / "trl_grpo.py"


@pytest.fixture(scope="module")
def smollm2():
    return tool_capable_tokenizer()


def test_the_tool_capable_tokenizer_passes_trls_checks(smollm2):
    from transformers import AutoTokenizer

    folder, tokenizer = smollm2
    assert not supports_tool_calling(AutoTokenizer.from_pretrained(folder, local_files_only=True))  # SmolLM2's own
    assert supports_tool_calling(tokenizer) and is_chat_template_prefix_preserving(tokenizer)
    assert get_training_chat_template(tokenizer) is None  # already has generation markers: no patching
    assert tokenizer.response_template is not None  # TRL parses tool calls with it


def test_grpo_trainer_accepts_it_and_refuses_the_stock_template(smollm2, tmp_path):
    from datasets import Dataset
    from transformers import AutoTokenizer

    folder, tokenizer = smollm2
    rows = read_rows(export_tasks("SearchQA-v0", "trl", tmp_path / "t.jsonl", limit=2, **SMALL))
    config = trl.GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=2, num_generations=2,
                            max_steps=1, use_cpu=True, report_to="none", bf16=False)
    factory = trl_environment_factory("SearchQA-v0", **SMALL)
    stock = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    with pytest.raises(ValueError, match="does not support tool calling"):
        trl.GRPOTrainer(model=str(folder), processing_class=stock, args=config, train_dataset=Dataset.from_list(rows),
                        environment_factory=factory)
    trainer = trl.GRPOTrainer(model=str(folder), processing_class=tokenizer, args=config,
                              train_dataset=Dataset.from_list(rows), environment_factory=factory)
    assert sorted(tool.__name__ for tool in trainer.tools) == ["access", "answer", "search"]


def test_a_row_exported_with_another_prompt_style_is_refused(tmp_path):
    factory = trl_environment_factory("SearchQA-v0", **SMALL)
    tags = read_rows(export_tasks("SearchQA-v0", "trl", tmp_path / "tags.jsonl", prompt_style="search_r1",
                                  limit=1, **SMALL))[0]
    with pytest.raises(ValueError, match=r"prompt_style='search_r1'.*prompt_style='tools'"):
        factory().reset(**tags)
    tools = read_rows(export_tasks("SearchQA-v0", "trl", tmp_path / "tools.jsonl", limit=1, **SMALL))[0]
    assert tools["prompt_style"] == "tools" and factory().reset(**tools) == ""
    # a factory asked for tag prompts accepts tag rows (TRL still gives it tools, the user's choice)
    assert trl_environment_factory("SearchQA-v0", prompt_style="search_r1", **SMALL)().reset(**tags) == ""


@pytest.mark.slow
def test_the_grpo_recipe_completes_two_optimisation_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    spec = importlib.util.spec_from_file_location("trl_grpo_recipe", RECIPE)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    with one_torch_thread():
        history = recipe.main(["--steps", "2", "--max-completion-length", "16", "--tasks", "4", "--out", str(tmp_path)])
    steps = [entry for entry in history if "loss" in entry]
    assert [entry["step"] for entry in steps] == [1, 2]
    assert all("rewards/SearchGymTRLEnv/mean" in entry for entry in steps)  # the env's reward column
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1]["step"] == 2 and "train_runtime" in logged[-1]


class _RecordingCurriculum:
    """A real StageCurriculum that also records what it served and what it was fed."""

    def __init__(self, curriculum):
        self.curriculum, self.served, self.fed = curriculum, [], []

    def sample(self):
        self.served.append(self.curriculum.sample())
        return self.served[-1]

    def observe(self, info):
        self.fed.append(dict(info))
        return self.curriculum.observe(info)


@pytest.mark.slow
def test_grpo_trainer_trains_on_curriculum_tasks_and_feeds_it(smollm2, tmp_path, monkeypatch):
    """Env-owned data (rows without a task_key): TRL's own GRPO loop gets every task from the
    curriculum, and every finished rollout's result reaches it through get_reward."""
    from datasets import Dataset

    from searchgym.curricula import StageCurriculum
    from searchgym.integrations.tool_session import make_env

    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    folder, tokenizer = smollm2
    stage = StageCurriculum.for_env(make_env("SearchQA-v0", **SMALL), [{"hops": [1]}, {"hops": [2]}],
                                    success_metric="answered", promote_at=0.5, window=2, seed=0)
    curriculum = _RecordingCurriculum(stage)
    rows = [{"prompt": [{"role": "user", "content": ""}]} for _ in range(4)]
    config = trl.GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=2, num_generations=2,
                            max_steps=2, max_completion_length=16, max_tool_calling_iterations=1, use_cpu=True,
                            report_to="none", bf16=False, save_strategy="no", logging_steps=1,
                            dataloader_num_workers=0, disable_tqdm=True, seed=0)
    trainer = trl.GRPOTrainer(model=str(folder), processing_class=tokenizer, args=config,
                              train_dataset=Dataset.from_list(rows),
                              environment_factory=trl_environment_factory("SearchQA-v0", curriculum=curriculum,
                                                                          **SMALL))
    with one_torch_thread():
        trainer.train()
    assert trainer.state.global_step == 2
    assert len(curriculum.served) >= 4  # two rollouts per step at least
    assert [info["task_key"] for info in curriculum.fed] == curriculum.served  # each rollout fed once
    assert stage.episodes == len(curriculum.fed)
    hops = {r["task_key"]: r["hops"] for r in task_records("SearchQA-v0", **SMALL)}
    assert {hops[key] for key in curriculum.served[:2]} == {1}  # the first stage's tasks
