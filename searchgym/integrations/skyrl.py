"""SkyRL-gym adapter: a ``BaseTextEnv`` built per trajectory from the dataset row.

SkyRL's generator makes one env per trajectory with
``skyrl_gym.make(env_class, env_config=cfg.environment.skyrl_gym.<env_class>, extras=row)``,
where ``extras`` is every dataset column except ``prompt`` and ``env_class`` (plus
``max_turns`` from the generator config). Rows exported with
``export_tasks(..., "skyrl", ...)`` carry ``task_key`` and ``env_id``; this env resets
:class:`~searchgym.envs.search_qa.SearchQAEnv` on that task, so the episode (and its reward)
is the one the row names.

* ``init(prompt)`` returns the dataset prompt unchanged (it already is the env's reset prompt).
* ``step(text)`` accepts Search-R1 tags or Hermes ``<tool_call>{...}</tool_call>`` blocks and
  returns only the new message: ``{"role": "user", "content": "\\n<information>…</information>\\n"}``
  (SkyRL's SearchEnv layout), nothing after the final answer. ``reward`` is the env's step
  reward (the outcome reward arrives on the answering step; 0.0 before), ``done`` is
  terminated or truncated. Reward is computed by the env from the parsed answer of the
  agent's own turn, never from retrieved text.

Register it inside the Ray entrypoint (SkyRL#116: the registry does not cross processes)::

    from searchgym.integrations.skyrl import register_skyrl
    register_skyrl()          # env_class "searchgym"

``env_config`` (a dict or omegaconf ``DictConfig``) may hold ``env_id`` and ``overrides``
(a mapping of :class:`~searchgym.envs.config.EnvConfig` fields); a row's ``env_id`` wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from searchgym.integrations.tool_session import DEFAULT_ENV_ID, ToolSession

try:  # the real base class when skyrl-gym is installed
    from skyrl_gym.envs.base_text_env import BaseTextEnv as _Base

    HAVE_SKYRL = True
except ImportError:  # pragma: no cover - exercised when skyrl-gym is absent
    HAVE_SKYRL = False

    class _Base:  # type: ignore[no-redef]
        """Stand-in with BaseTextEnv's surface, so the adapter works without skyrl-gym."""

        def __init__(self) -> None:
            self.turns = 0
            self.max_turns = 1

        def init(self, prompt):  # noqa: D401
            return prompt, {}

        def close(self) -> None:
            pass

        def get_metrics(self) -> dict[str, Any]:
            return {}

        @staticmethod
        def aggregate_metrics(metrics):
            keys = {k for m in metrics for k, v in m.items() if isinstance(v, (int, float))}
            return {k: sum(m.get(k, 0.0) for m in metrics) / max(1, len(metrics)) for k in keys}


__all__ = ["SKYRL_ENV_ID", "SearchGymSkyRLEnv", "register_skyrl", "HAVE_SKYRL"]

SKYRL_ENV_ID = "searchgym"
_ENTRY_POINT = "searchgym.integrations.skyrl:SearchGymSkyRLEnv"


def _get(config: Any, key: str, default: Any = None) -> Any:
    if config is None:
        return default
    if isinstance(config, Mapping):
        return config.get(key, default)
    return getattr(config, key, default)


def _plain(value: Any) -> Any:
    """omegaconf containers to plain Python (without importing omegaconf)."""
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class SearchGymSkyRLEnv(_Base):
    """One searchgym episode as a SkyRL ``BaseTextEnv``."""

    def __init__(self, env_config: Any = None, extras: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        extras = dict(extras or {})
        extra_info = extras.get("extra_info") or {}
        self.task_key = extras.get("task_key") or _get(extra_info, "task_key")
        if not self.task_key:
            raise ValueError("extras must carry 'task_key' (export the dataset with searchgym.export, fmt='skyrl')")
        env_id = (
            extras.get("env_id")
            or _get(extra_info, "env_id")
            or extras.get("data_source")
            or _get(env_config, "env_id")
            or DEFAULT_ENV_ID
        )
        overrides = dict(_plain(_get(env_config, "overrides", None) or {}))
        if extras.get("max_turns") is not None:
            overrides["max_turns"] = int(extras["max_turns"])
        self.session = ToolSession(str(env_id), **overrides)
        self.max_turns = self.session.config.max_turns
        self.session.start(self.task_key)
        self.turns = 0

    def init(self, prompt: list[dict[str, str]]) -> tuple[list[dict[str, str]], dict[str, Any]]:
        """Keep the dataset prompt (the env's reset prompt) as the first turn."""
        if not prompt:
            prompt = [{"role": "user", "content": self.session.prompt or ""}]
        return prompt, {"task_key": self.task_key}

    def step(self, action: str) -> dict[str, Any]:
        self.turns += 1
        observation, reward, terminated, truncated, info = self.session.step(action)
        done = terminated or truncated
        observations = []
        if observation and not terminated:
            observations = [{"role": "user", "content": "\n" + observation.strip() + "\n"}]
        metadata = {
            "task_key": info["task_key"],
            "action_kind": info.get("action_kind"),
            "format_ok": info.get("format_ok"),
            "error": info.get("error"),
            "doc_ids": list(info.get("doc_ids", [])),
            "new_evidence": info.get("new_evidence", 0),
            "truncated": truncated,
        }
        return {
            "observations": observations,
            "reward": float(reward),
            "done": bool(done),
            "metadata": metadata,
            "postprocessed_action": None,
        }

    def get_metrics(self) -> dict[str, Any]:
        return self.session.metrics()

    def close(self) -> None:
        pass


def register_skyrl(env_id: str = SKYRL_ENV_ID, **kwargs: Any) -> bool:
    """Register :class:`SearchGymSkyRLEnv` with skyrl-gym under ``env_id`` (idempotent).

    Returns True when newly registered, False when it already was. Call it inside the Ray
    entrypoint so every worker process has it.
    """
    import skyrl_gym
    from skyrl_gym.envs.registration import registry

    if env_id in registry:
        return False
    skyrl_gym.register(id=env_id, entry_point=_ENTRY_POINT, kwargs=kwargs or None)
    return True
