"""TRL ``GRPOTrainer(environment_factory=...)`` adapter.

TRL builds one environment instance per rollout slot (pooled and reused), calls
``reset(**row)`` with every dataset column, exposes every public method except ``reset`` and
``get_reward`` as a native tool (schema from type hints and the Google-style docstring, via
``transformers.utils.get_json_schema``), returns a tool's exception text to the model, and
calls ``get_reward()`` once per finished rollout.

Usage::

    from trl import GRPOTrainer
    from searchgym.export import export_tasks
    from searchgym.integrations.trl import trl_environment_factory

    export_tasks("SearchQA-v0", "trl", "train.parquet", prompt_style="tools")
    trainer = GRPOTrainer(model=..., train_dataset=load_dataset("parquet", data_files="train.parquet")["train"],
                          environment_factory=trl_environment_factory("SearchQA-v0", prompt_style="tools"))

Rows exported with ``fmt="trl"`` carry a ``prompt`` column (the full instruction), so
``reset`` returns ``""`` (nothing to append). Without a ``prompt`` column (env-owned data),
``reset`` returns the env's prompt, which TRL appends to the (empty) user message. Rewards come
from the env: ``get_reward()`` equals what ``SearchQAEnv`` gives for the same actions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from searchgym.integrations.tool_session import DEFAULT_ENV_ID, ToolSession

__all__ = ["SearchGymTRLEnv", "trl_environment_factory"]


class SearchGymTRLEnv:
    """A searchgym episode with ``search`` / ``access`` / ``answer`` tool methods for TRL.

    Args:
        env_id: env id; the ``data_source`` column of a row overrides it only when equal
            (a row for another env raises, rather than silently answering the wrong task).
        **overrides: :class:`~searchgym.envs.config.EnvConfig` fields (``world_size=...``).
    """

    def __init__(self, env_id: str = DEFAULT_ENV_ID, **overrides: Any) -> None:
        self.session = ToolSession(env_id, **overrides)

    def reset(self, **kwargs: Any) -> str:
        """Start the episode of a dataset row (``task_key`` column; a random task without one)."""
        source = kwargs.get("data_source")
        if source is not None and str(source).removeprefix("searchgym/") != self.session.env.config.id:
            raise ValueError(f"row data_source {source!r} does not match this environment "
                             f"({self.session.env.config.id!r})")
        task_key = kwargs.get("task_key")
        prompt = self.session.start(task_key)
        return "" if kwargs.get("prompt") else prompt

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
        """The episode's reward (exact match by default; 0.0 without an answer)."""
        return self.session.reward


def trl_environment_factory(env_id: str = DEFAULT_ENV_ID, **overrides: Any) -> Callable[[], SearchGymTRLEnv]:
    """A zero-argument factory for ``GRPOTrainer(environment_factory=...)``."""
    return functools.partial(SearchGymTRLEnv, env_id, **overrides)
