"""Search-R1's own search step (``search_r1/llm_agent/generation.py``) against ``searchgym serve``.

The client is the unchanged upstream ``LLMGenerationManager`` (see ``upstream/README.md``): its
``execute_predictions`` parses the rollouts' ``<search>`` tags and posts them in ONE request,
exactly as a training step does. Its training scripts use ``train_batch_size=512`` and
``n_agent=5``, so a step posts up to 2,560 queries; a step in which nobody searches posts an
empty list. Its server's ``QueryRequest`` (also unchanged) decides which bodies must be accepted.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer
from upstream_code import upstream_file, upstream_module

from searchgym.search.dense import default_model_path
from searchgym.serve import ServerLimits

generation = upstream_module("search_r1", "search_r1.llm_agent.generation")
TRAIN_BATCH, N_AGENT = 512, 5  # Search-R1's train_grpo.sh


def manager(url: str):
    """Search-R1's generation manager as its trainer builds it (the actor is not needed to search)."""
    tokenizer = AutoTokenizer.from_pretrained(default_model_path(), local_files_only=True)
    config = generation.GenerationConfig(max_turns=2, max_start_length=2048, max_prompt_length=4096,
                                         max_response_length=500, max_obs_length=500, num_gpus=0,
                                         search_url=url, topk=3)
    return generation.LLMGenerationManager(tokenizer=tokenizer, actor_rollout_wg=None, config=config)


def expected_observation(mgr, engine, query: str) -> str:
    """What Search-R1 shows the policy for ``query``, from our engine directly."""
    hits = engine.search([query], 3)[0]
    passages = [{"document": {"contents": f'"{hit.title}"\n{hit.text}'}} for hit in hits]
    return f"\n\n<information>{mgr._passages2string(passages).strip()}</information>\n\n"


def test_a_training_step_of_2560_searches_is_one_request(retrieval_server, engine, questions):
    mgr = manager(retrieval_server.retrieve_url)
    queries = [f"{questions[i % len(questions)]} {i // len(questions)}" for i in range(TRAIN_BATCH * N_AGENT)]
    predictions = [f"<think>I need to look this up.</think>\n<search> {q} </search>" for q in queries]
    before = httpx.get(retrieval_server.url + "/health").json()["stats"]
    next_obs, dones, valid, is_search = mgr.execute_predictions(predictions, "<pad>", [True] * len(queries))
    after = httpx.get(retrieval_server.url + "/health").json()["stats"]
    assert after["requests"] - before["requests"] == 1
    assert after["queries"] - before["queries"] == 2560
    assert dones == [0] * 2560 and valid == [1] * 2560 and is_search == [1] * 2560
    for index in (0, 1, 777, 2559):
        assert next_obs[index] == expected_observation(mgr, engine, queries[index])
    assert all("Doc 1(Title: " in obs for obs in next_obs)


def test_a_step_in_which_nobody_searches(retrieval_server):
    """Everyone answers: Search-R1 still posts {"queries": []} and reads response['result']."""
    mgr = manager(retrieval_server.retrieve_url)
    predictions = ["<answer> Paris </answer>", "<answer>Rome</answer>", "no action at all"]
    next_obs, dones, valid, _ = mgr.execute_predictions(predictions, "<pad>", [True, True, True])
    assert next_obs[:2] == ["", ""] and dones == [1, 1, 0] and valid == [1, 1, 0]
    assert mgr.batch_search([]) == []


def test_one_runaway_query_does_not_fail_its_batch(retrieval_server, engine, questions):
    mgr = manager(retrieval_server.retrieve_url)
    runaway = questions[0] + " and more" * 2000  # 18,000 characters
    predictions = [f"<search>{questions[1]}</search>", f"<search>{runaway}</search>"]
    next_obs, *_ = mgr.execute_predictions(predictions, "<pad>", [True, True])
    assert next_obs[0] == expected_observation(mgr, engine, questions[1])
    assert next_obs[1] == expected_observation(mgr, engine, runaway[: ServerLimits().max_query_chars])


# --------------------------------------------------------------------------- what is accepted

retrieval_server_module = upstream_file("search_r1", "search_r1/search/retrieval_server.py", "search_r1_retrieval_server")
QueryRequest = retrieval_server_module.QueryRequest

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 12), st.floats(-2, 12, allow_nan=False),
                    st.sampled_from(["3", "2.0", "2.5", "true", "false", "yes", "0", "1", "", "x", "on"]))
bodies = st.fixed_dictionaries(
    {"queries": st.lists(st.sampled_from(["glacier", "who founded it", ""]), max_size=3)},
    optional={"topk": scalars, "return_scores": scalars})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_every_body_search_r1_accepts_is_answered_alike(retrieval_server, body):
    """Upstream's model accepts it <=> we answer 200, with its topk (0/None -> default 3).

    Our only extra refusals are documented: a negative topk (upstream would crash in faiss) and
    one above max_topk.
    """
    try:
        parsed = QueryRequest(**body)
    except Exception:  # noqa: BLE001 - pydantic refused: so must we
        parsed = None
    response = httpx.post(retrieval_server.retrieve_url, json=body, timeout=30)
    if parsed is None:
        assert response.status_code == 422, (body, response.text)
        return
    if parsed.topk is not None and parsed.topk < 0:
        assert response.status_code == 422 and "at least 1" in response.json()["detail"]
        return
    assert response.status_code == 200, (body, response.text)
    result = response.json()["result"]
    assert len(result) == len(parsed.queries)
    topk = parsed.topk or 3
    for hits in result:
        assert len(hits) <= topk
        for hit in hits:
            assert ("score" in hit) == parsed.return_scores
            assert "contents" in (hit["document"] if parsed.return_scores else hit)


@pytest.mark.parametrize("body", [{"queries": ["a"], "topk": "3"}, {"queries": ["a"], "topk": 3.0},
                                  {"queries": ["a"], "return_scores": "true"}, {"queries": ["a"], "return_scores": 1},
                                  {"queries": ["a"], "topk": 0}])
def test_the_issue_examples_are_accepted_upstream_too(body):
    QueryRequest(**body)  # the premise: Search-R1's own server accepts these
