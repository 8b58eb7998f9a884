"""Trainer adapters. Each module imports its framework lazily or optionally, so all of them
import (and their plain-Python surface works) without the framework installed.

* :mod:`searchgym.integrations.tool_session` - ``ToolSession``, the framework-free episode driver;
* :mod:`searchgym.integrations.verl` - ``compute_score`` / ``compute_score_with_metrics``,
  ``search_tool_config``, stateful verl ``BaseTool``s (one episode per trajectory);
* :mod:`searchgym.integrations.verl_agent_loop` - ``SearchGymAgentLoop`` (``searchgym_agent``), the
  Search-R1 tag protocol as a verl agent loop, and ``write_agent_loop_config``;
* :mod:`searchgym.integrations.skyrl` - ``SearchGymSkyRLEnv`` (``BaseTextEnv``), ``register_skyrl``;
* :mod:`searchgym.integrations.trl` - ``SearchGymTRLEnv`` for ``GRPOTrainer(environment_factory=...)``;
* :mod:`searchgym.integrations.verifiers` - ``load_environment`` (v0 ``ToolEnv``, or a v1 ``Taskset``
  whose tasks bring a per-rollout ``SearchGymToolset``).

Datasets for all of them come from :func:`searchgym.export.export_tasks`.
"""

from searchgym.integrations.tool_session import EpisodeOver, ToolSession, extract_final_answer

__all__ = ["EpisodeOver", "ToolSession", "extract_final_answer"]
