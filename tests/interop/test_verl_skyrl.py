"""verl's and SkyRL's own search clients against ``searchgym serve``.

* verl: ``perform_single_search_batch`` from ``verl/tools/utils/search_r1_like_utils.py`` (copied
  unchanged, see ``upstream/README.md``; the verl 0.9.1 wheel does not ship it), what verl's
  ``SearchTool.execute`` calls with the model's ``query_list``;
* SkyRL: ``skyrl_gym.tools.search.SearchToolGroup`` from the installed ``skyrl-gym`` (one
  ``{"query"}`` per call), and its ``SearchEnv`` stepping a ``<search>`` action.
"""

from __future__ import annotations

import json

import pytest
from upstream_code import upstream_file

search_r1_like_utils = upstream_file("verl", "search_r1_like_utils.py", "verl_search_r1_like_utils")


def verl_rendering(hits) -> str:
    return "\n\n".join(f'Doc {i + 1} (Title: "{hit.title}")\n{hit.text}' for i, hit in enumerate(hits))


def test_verl_search_tool_batch(retrieval_server, engine, questions):
    result_text, metadata = search_r1_like_utils.perform_single_search_batch(
        retrieval_server.retrieve_url, questions[:3], topk=3)
    assert metadata["status"] == "success" and metadata["total_results"] == 9
    expected = "\n---\n".join(verl_rendering(hits) for hits in engine.search(questions[:3], 3))
    assert json.loads(result_text) == {"result": expected}


def test_skyrl_search_tool_group(retrieval_server, engine, questions):
    tools = pytest.importorskip("skyrl_gym.tools.search")
    group = tools.SearchToolGroup(search_url=retrieval_server.retrieve_url, topk=3, log_requests=False)
    output = json.loads(group.search(questions[0]))
    hits = engine.search([questions[0]], 3)[0]
    assert output["result"] == tools._passages2string([{"document": {"contents": f'"{h.title}"\n{h.text}'}}
                                                       for h in hits])
    assert f'"{hits[0].title}"' in output["result"]


def test_skyrl_search_env_step(retrieval_server, questions):
    search_env = pytest.importorskip("skyrl_gym.envs.search.env")
    from omegaconf import OmegaConf

    config = OmegaConf.create({"search_url": retrieval_server.retrieve_url, "topk": 3, "timeout": 30,
                               "log_requests": False, "max_turns": 2})
    env = search_env.SearchEnv(config, extras={"reward_spec": {"ground_truth": {"target": ["x"]}}, "max_turns": 2})
    env.init([{"role": "user", "content": questions[0]}])
    output = env.step(f"<search>{questions[0]}</search>")
    assert not output["done"]
    (observation,) = output["observations"]
    assert "<information>" in observation["content"] and "Doc 1" in observation["content"]
