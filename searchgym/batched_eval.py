"""Batched evaluation: many episodes of one agent at once through the vector env.

Batched agents (LLMs) implement ``begin_batch`` / ``act_batch`` (see
:class:`searchgym.agents.llm.LLMAgent`). :func:`run_episodes_batched` runs their episodes
``num_envs`` at a time through :class:`~searchgym.envs.vector.BatchedSearchQAVectorEnv`, so each
step costs one generation call and one engine call for all running episodes; a finished
episode's slot is refilled with the next task at once (continuous batching). Each episode keeps
the task key and reset seed it gets on the sequential path, so for agents whose actions depend
only on their own episode (greedy LLMs, the classical baselines) the results are identical to
:func:`searchgym.evaluation.run_episode` in a loop — tested with :class:`LockstepAgents`, which
turns any agent into a batched one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from searchgym.agents.base import begin_episode, begin_episodes, is_privileged
from searchgym.episode_result import EpisodeResult
from searchgym.trajectories import EpisodeRecorder

__all__ = ["LockstepAgents", "batchable_env", "is_batched", "run_episodes_batched", "unbatch_info"]


def is_batched(agent: Any) -> bool:
    """Whether ``agent`` runs several episodes at once (``begin_batch`` + ``act_batch``)."""
    return callable(getattr(agent, "act_batch", None)) and callable(getattr(agent, "begin_batch", None))


def batchable_env(env_id: str) -> bool:
    """Only SearchQA envs have the batched vector env; anything else runs sequentially."""
    from searchgym.envs.registration import ENTRY_POINT

    try:
        return gym.spec(env_id).entry_point == ENTRY_POINT
    except gym.error.Error:
        return False


def unbatch_info(infos: dict[str, Any], index: int) -> dict[str, Any]:
    """Sub-env ``index``'s info out of Gymnasium's vector info dict, with Python scalars."""
    info: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_") or not infos.get(f"_{key}", np.zeros(index + 1, bool))[index]:
            continue
        item = unbatch_info(value, index) if isinstance(value, dict) else value[index]
        info[key] = item.item() if isinstance(item, np.generic) else item
    return info


def run_episodes_batched(
    env_id: str,
    agent: Any,
    task_keys: Sequence[str],
    seed: int,
    *,
    env_kwargs: dict[str, Any] | None = None,
    num_envs: int = 8,
    on_episode: Callable[[], None] | None = None,
    trajectories: list[dict[str, Any]] | None = None,
) -> list[Any]:
    """Run one episode per task key, ``num_envs`` at a time, for a batched agent.

    Episode ``i`` gets task ``task_keys[i]`` and reset seed ``seed + i``, as in
    :func:`~searchgym.evaluation.evaluate`'s sequential loop. The vector env runs with autoreset
    disabled; a finished sub-env is reset at once with the next task and the agent's slot
    restarted with ``begin_batch(..., slots=[i])``. When no task is left, idle sub-envs replay
    the first task with ``""`` actions (no search) whose results are discarded, because a vector
    env steps all its sub-envs together. Results (and, when ``trajectories`` is a list, the
    episodes' trajectories, appended to it) come back in ``task_keys`` order.
    """
    from gymnasium.vector import AutoresetMode

    from searchgym.envs.vector import BatchedSearchQAVectorEnv

    if not task_keys:
        return []
    spec = gym.spec(env_id)
    kwargs = {**spec.kwargs, **(env_kwargs or {})}
    size = max(1, min(int(num_envs), len(task_keys)))
    envs = BatchedSearchQAVectorEnv(
        size, spec=kwargs.pop("spec", env_id), autoreset_mode=AutoresetMode.DISABLED, **kwargs
    )
    results: list[Any] = [None] * len(task_keys)
    recorded: list[dict[str, Any] | None] = [None] * len(task_keys)
    episode_of: list[int | None] = [None] * size  # which task index each sub-env is running
    recorders: list[EpisodeRecorder | None] = [None] * size
    upcoming = iter(range(len(task_keys)))

    def start(slots: list[int]) -> tuple[tuple[str, ...], dict[str, Any]]:
        """Reset ``slots`` with their next tasks (idle ones replay task 0 with no seed)."""
        seeds: list[int | None] = [None] * size
        keys: list[str | None] = [None] * size
        mask = np.zeros(size, dtype=np.bool_)
        for slot in slots:
            index = next(upcoming, None)
            episode_of[slot] = index
            seeds[slot] = None if index is None else seed + index
            keys[slot] = task_keys[0 if index is None else index]
            mask[slot] = True
        observations, infos = envs.reset(seed=seeds, options={"task_keys": keys, "reset_mask": mask})
        real = [slot for slot in slots if episode_of[slot] is not None]
        real_seeds = [seed + index for index in (episode_of[slot] for slot in real) if index is not None]
        for slot in slots:
            recorders[slot] = None
            index = episode_of[slot]
            if trajectories is not None and index is not None:
                recorders[slot] = EpisodeRecorder(
                    agent.name, task_keys[index], seed + index, envs.envs[slot], observations[slot]
                )
        if real:
            begin_episodes(
                agent,
                [observations[s] for s in real],
                [unbatch_info(infos, s) for s in real],
                real_seeds,
                real,
                [envs.envs[s] for s in real],
            )
        return observations, infos

    try:
        observations, infos = start(list(range(size)))
        step_infos = [unbatch_info(infos, i) for i in range(size)]
        while any(index is not None for index in episode_of):
            active = [i for i in range(size) if episode_of[i] is not None]
            began = time.perf_counter()
            actions = agent.act_batch([observations[i] for i in active], [step_infos[i] for i in active], slots=active)
            agent_seconds = (time.perf_counter() - began) / len(active)
            if len(actions) != len(active):
                raise RuntimeError(f"{agent.name}.act_batch returned {len(actions)} actions for {len(active)} episodes")
            batch: list[Any] = [""] * size
            for slot, action in zip(active, actions):
                batch[slot] = action
            began = time.perf_counter()
            observations, rewards, terminated, truncated, infos = envs.step(batch)
            env_seconds = (time.perf_counter() - began) / size
            step_infos = [unbatch_info(infos, i) for i in range(size)]
            for slot in active:
                recorder = recorders[slot]
                if recorder is not None:
                    recorder.record(
                        batch[slot],
                        observations[slot],
                        float(rewards[slot]),
                        step_infos[slot],
                        agent_seconds=agent_seconds,
                        env_seconds=env_seconds,
                    )
            done = [i for i in range(size) if terminated[i] or truncated[i]]
            for slot in done:
                index = episode_of[slot]
                if index is not None:
                    results[index] = EpisodeResult.from_info(agent.name, task_keys[index], step_infos[slot])
                    recorder = recorders[slot]
                    if recorder is not None:
                        recorded[index] = recorder.to_dict(results[index].to_dict())
                    if on_episode is not None:
                        on_episode()
            if done:
                observations, infos = start(done)
                for slot in done:
                    step_infos[slot] = unbatch_info(infos, slot)
    finally:
        envs.close()
    assert all(result is not None for result in results)
    if trajectories is not None:
        trajectories.extend(r for r in recorded if r is not None)
    return results


class LockstepAgents:
    """Any agent made batched: one instance per slot, built by ``factory``, stepped in lockstep.

    Why: it lets the batched evaluation path be checked against the sequential one with the
    classical baselines (identical results are expected), and runs privileged agents such as the
    oracle through the vector env (it is privileged exactly when the agents it builds are).
    ``batch_size`` is the number of episodes run at once.
    """

    def __init__(self, factory: Callable[[], Any], batch_size: int = 4) -> None:
        self.factory = factory
        self.batch_size = batch_size
        self._agents: dict[int, Any] = {}
        probe = factory()
        self.name = probe.name
        self.privileged = is_privileged(probe)

    def begin(self, observation: str, info: dict[str, Any], seed: int, *, env: gym.Env | None = None) -> None:
        self.begin_batch([observation], [info], [seed], envs=None if env is None else [env])

    def act(self, observation: str, info: dict[str, Any]) -> str | dict[str, Any]:
        return self.act_batch([observation], [info])[0]

    def begin_batch(
        self,
        observations: Sequence[str],
        infos: Sequence[dict[str, Any]],
        seeds: Sequence[int],
        slots: Sequence[int] | None = None,
        *,
        envs: Sequence[gym.Env] | None = None,
    ) -> None:
        slots = list(range(len(observations))) if slots is None else list(slots)
        if self.privileged and envs is None:
            raise TypeError(f"{self.name} is privileged: begin_batch needs envs=")
        for i, (slot, observation, info, seed) in enumerate(zip(slots, observations, infos, seeds)):
            begin_episode(
                self._agents.setdefault(slot, self.factory()),
                observation,
                info,
                seed,
                None if envs is None else envs[i],
            )

    def act_batch(
        self, observations: Sequence[str], infos: Sequence[dict[str, Any]], slots: Sequence[int] | None = None
    ) -> list[Any]:
        slots = list(range(len(observations))) if slots is None else list(slots)
        return [self._agents[slot].act(obs, info) for slot, obs, info in zip(slots, observations, infos)]
