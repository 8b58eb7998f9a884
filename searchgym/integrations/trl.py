"""TRL ``GRPOTrainer(environment_factory=...)`` adapter.

TRL builds one environment instance per rollout slot (pooled and reused), calls
``reset(**row)`` with every dataset column, exposes every public method except ``reset`` and
``get_reward`` as a native tool (schema from type hints and the Google-style docstring, via
``transformers.utils.get_json_schema``), returns a tool's exception text to the model, and
calls ``get_reward()`` once per finished rollout.

What TRL needs besides the factory (``baselines/trl_grpo.py`` runs it on CPU)::

    from trl import GRPOConfig, GRPOTrainer
    from searchgym.export import export_tasks, read_rows
    from searchgym.integrations.trl import tool_capable_tokenizer, trl_environment_factory

    model, tokenizer = tool_capable_tokenizer()          # bundled SmolLM2 folder + a tool template
    rows = read_rows(export_tasks("SearchQA-v0", "trl", "train.parquet"))  # prompt_style "tools"
    trainer = GRPOTrainer(model=str(model), processing_class=tokenizer, train_dataset=Dataset.from_list(rows),
                          environment_factory=trl_environment_factory("SearchQA-v0"), args=GRPOConfig(...))

* TRL renders the tools into the chat template and refuses a template that drops them ("The
  provided chat template does not support tool calling"): SmolLM2's does.
  :func:`tool_capable_tokenizer` gives a ChatML tokenizer
  :data:`~searchgym.llm.chat_template.TOOL_CHAT_TEMPLATE` and the response template TRL's
  ``parse_response`` reads tool calls back with.
* The agent acts through tool calls, so both the export (``fmt="trl"`` defaults to it) and the
  factory (default) use ``prompt_style="tools"``. :meth:`SearchGymTRLEnv.reset` compares each
  row's prompt with the env's own prompt for that task and refuses a mismatch (a tag-prompt
  export, or one made with other settings), instead of training on instructions that describe
  ``<search>`` tags while the model is given tools.

Rows exported with ``fmt="trl"`` carry a ``prompt`` column (the full instruction), so ``reset``
returns ``""`` (nothing to append). Without a ``prompt`` column (env-owned data), ``reset``
returns the env's prompt, which TRL appends to the (empty) user message. Rewards come from the
env: ``get_reward()`` equals what ``SearchQAEnv`` gives for the same actions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from searchgym.integrations.tool_session import DEFAULT_ENV_ID, ToolSession

__all__ = ["SearchGymTRLEnv", "row_instruction", "tool_capable_tokenizer", "trl_environment_factory"]

TRL_PROMPT_STYLE = "tools"


class SearchGymTRLEnv:
    """A searchgym episode with ``search`` / ``access`` / ``answer`` tool methods for TRL.

    Args:
        env_id: env id; the ``data_source`` column of a row overrides it only when equal
            (a row for another env raises, rather than silently answering the wrong task).
        prompt_style: the instruction style (default ``"tools"``: TRL acts through tool calls).
        **overrides: :class:`~searchgym.envs.config.EnvConfig` fields (``world_size=...``).
    """

    curriculum: Any = None  # class defaults: subclasses with their own session (OpenEnv) skip __init__
    _observed = True

    def __init__(
        self,
        env_id: str = DEFAULT_ENV_ID,
        *,
        prompt_style: str = TRL_PROMPT_STYLE,
        curriculum: Any = None,
        **overrides: Any,
    ) -> None:
        self.session = ToolSession(env_id, prompt_style=prompt_style, **overrides)
        self.curriculum = curriculum
        self._observed = True

    def reset(self, **kwargs: Any) -> str:
        """Start the episode of a dataset row (``task_key`` column). A row without one gets the
        curriculum's next task (env-owned data, TRL#5903), or a random task without a curriculum."""
        source = kwargs.get("data_source")
        config = self.session.config
        if source is not None and str(source).removeprefix("searchgym/") != config.id:
            raise ValueError(f"row data_source {source!r} does not match this environment ({config.id!r})")
        task_key = kwargs.get("task_key")
        if task_key is None and self.curriculum is not None:
            task_key = self.curriculum.sample()
        prompt = self.session.start(task_key)
        self._observed = False
        row_prompt = row_instruction(kwargs.get("prompt"))
        if row_prompt is not None and row_prompt != prompt:
            exported = kwargs.get("prompt_style")
            raise ValueError(
                f"the row's prompt is not this environment's prompt for task {self.session.task_key!r}: "
                f"the row was exported with prompt_style={exported!r} (or other settings) while the "
                f"environment uses prompt_style={config.prompt_style!r}. Export with the same settings: "
                f"export_tasks({config.id!r}, 'trl', path, prompt_style={config.prompt_style!r}, ...)"
            )
        return "" if row_prompt is not None else prompt

    def search(self, query: str) -> str:
        """Search the knowledge base for documents relevant to a query.

        Args:
            query: The search query, e.g. the name of an entity and the relation you need.

        Returns:
            The top-ranked documents, each with its title, document id and text.
        """
        return self.session.search(query)

    def access(self, doc_id: str) -> str:
        """Open one document by its id (as shown in search results) and read its full text.

        Args:
            doc_id: The document id, exactly as shown in a search result.

        Returns:
            The full text of the document.
        """
        return self.session.access(doc_id)

    def answer(self, answer: str) -> str:
        """Give the final answer to the question. This ends the episode.

        Args:
            answer: The final answer, as short as possible, without explanation.

        Returns:
            A confirmation that the answer was recorded.
        """
        return self.session.answer(answer)

    def get_reward(self) -> float:
        """The episode's reward (exact match by default; 0.0 without an answer). TRL calls it once
        per finished rollout, which is when the curriculum is fed the episode's result."""
        if self.curriculum is not None and not self._observed and self.session.last_info:
            self.curriculum.observe(self.session.last_info)
            self._observed = True
        return self.session.reward


def row_instruction(prompt: Any) -> str | None:
    """The instruction of a TRL ``prompt`` column: a string, or the last user message."""
    if prompt is None:
        return None
    if isinstance(prompt, str):
        return prompt or None
    users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
    return str(users[-1].get("content") or "") or None if users else None


def trl_environment_factory(
    env_id: str = DEFAULT_ENV_ID, *, prompt_style: str = TRL_PROMPT_STYLE, curriculum: Any = None, **overrides: Any
) -> Callable[[], SearchGymTRLEnv]:
    """A zero-argument factory for ``GRPOTrainer(environment_factory=...)``.

    ``curriculum``: a :class:`~searchgym.curricula.TaskSampler` shared by every instance the
    factory makes: rows without a ``task_key`` (a dataset of empty rows) get its tasks, and
    every finished rollout feeds it. ``reward_terms=`` (a ``[reward]`` table) sets the reward.
    """
    return functools.partial(SearchGymTRLEnv, env_id, prompt_style=prompt_style, curriculum=curriculum, **overrides)


def tool_capable_tokenizer(model: str | Path | None = None) -> tuple[Path, Any]:
    """A local model folder and its tokenizer, made able to render and parse tool calls.

    ``model``: None for the bundled SmolLM2 (converted once into the searchgym cache), or a local
    Hugging Face folder. A template that already renders tools is kept; a ChatML one that drops
    them gets :data:`~searchgym.llm.chat_template.TOOL_CHAT_TEMPLATE`. Nothing is downloaded.
    """
    from transformers import AutoTokenizer

    from searchgym.llm.chat_template import ensure_tool_template
    from searchgym.llm.transformers_backend import resolve_model_dir

    folder, _ = resolve_model_dir(model)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    ensure_tool_template(tokenizer)
    return folder, tokenizer
