"""An env whose engine is a retrieval server reached over HTTP on loopback."""

from __future__ import annotations

import gymnasium as gym

import searchgym  # noqa: F401
from searchgym.serve import BackgroundServer
from episodes import SMALL


def test_env_with_remote_engine_matches_the_local_engine():
    local = gym.make("SearchQA-v0", **SMALL)
    with BackgroundServer(local.unwrapped.engine) as server:
        remote = gym.make("SearchQA-v0", engine="remote", engine_options={"url": server.retrieve_url}, **SMALL)
        for seed in range(3):
            local_obs, _ = local.reset(seed=seed)
            remote_obs, _ = remote.reset(seed=seed)
            assert local_obs == remote_obs
            name = local.unwrapped.world.name(local.unwrapped.task.chain[0].subject)
            local_step = local.step(f"<search>{name}</search>")
            remote_step = remote.step(f"<search>{name}</search>")
            assert local_step[0] == remote_step[0]
            assert local_step[4]["doc_ids"] == remote_step[4]["doc_ids"]
            gold = local.unwrapped.task.gold_passages[0]
            assert local.step(f"<access>{gold}</access>")[0] == remote.step(f"<access>{gold}</access>")[0]
