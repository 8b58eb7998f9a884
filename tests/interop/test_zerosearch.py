"""ZeroSearch's search calls against ``searchgym serve`` (wiki mode) and ``searchgym serve-sim``.

The client is ZeroSearch's unchanged ``llm_agent/generation.py`` (see ``upstream/README.md``):

* ``search_mode="wiki"``: ``retrieve_from_wiki`` posts ``{"query", "top_k"}`` to
  ``http://{retriever_ip}:6002/retrieve`` and renders ``Doc i: {doc['text']}`` from a bare list;
* ``search_mode="simulate_sft"`` / ``"simulate_prompt"``: ``ask_llm`` calls an OpenAI chat
  endpoint on ``http://{llm_ip}:6001/v1`` (``model=''``, an empty system message, content parts)
  with the useful or noisy prompt; which one is decided in the client (``prob > gt_threshold``).

Its ports are hard-coded, so each server binds its port on a free 127.x.y.z address. ``ask_llm``
retries forever on any error, so every call runs in a thread with a deadline.
"""

from __future__ import annotations

import threading

import pytest
from transformers import AutoTokenizer
from upstream_code import free_loopback_address, upstream_module

from searchgym.search.dense import default_model_path
from searchgym.search.grounding import normalize
from searchgym.serve import BackgroundServer
from searchgym.serve.sim import GroundedSimulator, create_sim_app

generation = upstream_module("zerosearch", "llm_agent.generation")


def within(seconds: float, fn, *args):
    """``fn(*args)`` in a thread; fail instead of hanging when ZeroSearch's client retries forever."""
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("value", fn(*args)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert "value" in box, f"ZeroSearch's client did not get an answer within {seconds}s (it retries forever)"
    return box["value"]


def manager(retriever_ip: str | None = None, llm_ip: str | None = None, topk: int = 5):
    tokenizer = AutoTokenizer.from_pretrained(default_model_path(), local_files_only=True)
    config = generation.GenerationConfig(max_turns=5, max_start_length=2048, max_prompt_length=4096,
                                         max_response_length=500, max_obs_length=2048, num_gpus=0,
                                         retriever_ip=retriever_ip, llm_ip=llm_ip, topk=topk)
    return generation.LLMGenerationManager(tokenizer, None, config)


@pytest.fixture(scope="module")
def wiki_server(engine):
    host = free_loopback_address(6002, seed=2)
    with BackgroundServer(engine, host=host, port=6002) as server:
        yield server


@pytest.fixture(scope="module")
def simulator(small_env):
    return GroundedSimulator(small_env.bundle)


@pytest.fixture(scope="module")
def sim_server(simulator):
    host = free_loopback_address(6001, seed=1)
    with BackgroundServer(app=create_sim_app(simulator), host=host, port=6001) as server:
        yield server


def test_wiki_retriever(wiki_server, engine, questions):
    mgr = manager(retriever_ip=wiki_server.host)
    text = within(60, mgr.retrieve_from_wiki, wiki_server.host, questions[0], 5)
    hits = engine.search([questions[0]], 5)[0]
    assert text == "\n".join(f"Doc {i + 1}: {hit.text}" for i, hit in enumerate(hits))


def test_a_wiki_rollout_turn(wiki_server, engine, small_env):
    tasks = list(small_env.bundle.tasks)[:4]
    mgr = manager(retriever_ip=wiki_server.host)
    predictions = [f"<think>look it up</think><search>{t.question}</search>" for t in tasks]
    next_obs, dones, valid, is_search = within(
        120, mgr.execute_predictions, predictions, [t.question for t in tasks], [[t.answer] for t in tasks],
        "wiki", 0.5, [True] * len(tasks))
    assert dones == [0] * 4 and is_search == [1] * 4
    for task, obs in zip(tasks, next_obs):
        first = engine.search([task.question], 5)[0][0]
        assert obs.startswith(f"\n\n<information>Doc 1: {first.text}\nDoc 2: ")


def simulated_turn(sim_server, tasks, mode: str, gt_threshold: float) -> list[str]:
    """One rollout turn in which every task searches its question through ``mode``.

    ``gt_threshold`` is ZeroSearch's noise probability: 0 -> every call asks for useful
    documents, 1 -> every call asks for noisy ones.
    """
    mgr = manager(llm_ip=sim_server.host)
    predictions = [f"<search>{t.question}</search>" for t in tasks]
    next_obs, *_ = within(120, mgr.execute_predictions, predictions, [t.question for t in tasks],
                          [[t.answer] for t in tasks], mode, gt_threshold, [True] * len(tasks))
    return next_obs


@pytest.mark.parametrize("mode", ["simulate_sft", "simulate_prompt"])
def test_simulated_search_answers_useful_prompts_with_grounded_documents(sim_server, simulator, small_env, mode):
    tasks = list(small_env.bundle.tasks)[:3]
    for task, obs in zip(tasks, simulated_turn(sim_server, tasks, mode, 0.0)):
        hits, record = simulator.documents(generation_request(task, useful=True, mode=mode))
        assert record["task_key"] == task.task_key and record["mode"] == "useful"
        assert obs == f"\n\n<information>{simulator.render(hits)}</information>\n\n"
        assert obs.count("Doc ") == 5 and "Doc 6" not in obs  # the five asked for


@pytest.mark.parametrize("mode", ["simulate_sft", "simulate_prompt"])
def test_noisy_prompts_get_documents_without_the_answer(sim_server, simulator, small_env, mode):
    tasks = list(small_env.bundle.tasks)[:6]
    for task, obs in zip(tasks, simulated_turn(sim_server, tasks, mode, 1.0)):
        hits, record = simulator.documents(generation_request(task, useful=False, mode=mode))
        assert record["mode"] == "noisy"
        assert obs == f"\n\n<information>{simulator.render(hits)}</information>\n\n"
        assert obs.startswith("\n\n<information>Doc 1: ")
        gold = {doc for fact in task.chain for doc in small_env.bundle.corpus.fact_index.get(fact.fact_id, ())}
        assert not gold & set(record["doc_ids"])  # no passage stating a fact the task needs
        if mode == "simulate_sft":  # its noisy prompt names the answer: no document may contain it
            assert f" {normalize(task.answer)} " not in f" {normalize(obs)} "


def generation_request(task, useful: bool, mode: str):
    """The request ZeroSearch's prompt for ``task`` parses into (built by its own prompt code)."""
    from searchgym.serve.sim import parse_simulation_prompt

    captured: dict = {}

    def capture(ip, prompt, temperature):
        captured["prompt"] = prompt
        return ""

    original = generation.ask_llm
    generation.ask_llm = capture  # only to read the prompt text ZeroSearch builds
    try:
        build = generation.search_simulate_sft if mode == "simulate_sft" else generation.search_simulate_prompt
        build("unused", 5, 0.8, task.question, task.question, task.answer, 0.0 if useful else 1.0)
    finally:
        generation.ask_llm = original
    return parse_simulation_prompt(captured["prompt"])
