"""Trainer adapters. Each module imports its framework lazily or optionally, so all of them
import (and their plain-Python surface works) without the framework installed.

* :mod:`searchgym.integrations.tool_session` - ``ToolSession``, the framework-free episode driver;
* :mod:`searchgym.integrations.verl` - ``compute_score``, ``search_tool_config``, verl ``BaseTool``s;
* :mod:`searchgym.integrations.skyrl` - ``SearchGymSkyRLEnv`` (``BaseTextEnv``), ``register_skyrl``;
* :mod:`searchgym.integrations.trl` - ``SearchGymTRLEnv`` for ``GRPOTrainer(environment_factory=...)``;
* :mod:`searchgym.integrations.verifiers` - ``load_environment`` (v0 ``ToolEnv`` or v1 ``Taskset``).

Datasets for all of them come from :func:`searchgym.export.export_tasks`.
"""

from searchgym.integrations.tool_session import EpisodeOver, ToolSession, extract_final_answer

__all__ = ["EpisodeOver", "ToolSession", "extract_final_answer"]
