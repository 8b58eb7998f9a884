"""Grounded simulated search: entity grounding, the template simulator, the LLM simulator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from searchgym.envs.config import load_spec
from searchgym.envs.search_qa import SearchQAEnv
from searchgym.search.base import SearchEngine, UnknownDocumentError
from searchgym.search.factory import engine_entry, make_engine
from searchgym.search.grounding import Grounder, edit_distance, fact_supported, get_grounder, render_fact, tokenize
from searchgym.search.simulated import (
    LLMSimulatedEngine,
    SearchContext,
    TemplateSimulatedEngine,
    parse_documents,
    zerosearch_prompt,
)
from searchgym.types import Fact
from searchgym.world.schema_loading import load_schema
from searchgym.world.world import Entity, World

ENVS = Path(__file__).resolve().parents[1] / "envs"


def one_hop(bundle):
    return [t for t in bundle.tasks.tasks if t.task_type == "chain" and t.hops == 1]


def fact_entities(fact_id: str) -> set[str]:
    subject, _relation, obj = fact_id.split("|", 2)
    return {subject, obj}


# -- grounding ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_world() -> World:
    schema = load_schema("default")
    entities = [
        Entity("city_1", "city", "Naround", (), {"population": 12000}),
        Entity("university_1", "university", "University of Naround", (), {"students": 500}),
        Entity("person_1", "person", "Sily Pamial", ("Doctor Sily",), {"birth_year": 1932}),
        Entity("person_2", "person", "Sily Pamiax", (), {"birth_year": 1990}, look_alike_of="Sily Pamial"),
        Entity("person_3", "person", "Kofith Biadri", (), {"birth_year": 1950}),
    ]
    edges = [("person_1", "born_in", "city_1"), ("university_1", "university_located_in", "city_1")]
    return World(schema, 5, 0, entities, edges)


def test_mentions_longest_match_first_case_and_punctuation(tiny_world: World) -> None:
    grounder = Grounder(tiny_world)
    assert [m.entity_id for m in grounder.mentions("who studied at the UNIVERSITY of naround?")] == ["university_1"]
    assert [m.entity_id for m in grounder.mentions("population of Naround")] == ["city_1"]
    assert [m.entity_id for m in grounder.mentions("doctor sily's birthplace")] == ["person_1"]
    both = grounder.mentions("Was Sily Pamial born in Naround")
    assert [m.entity_id for m in both] == ["person_1", "city_1"]
    assert grounder.mentions("capital city of nowhere") == []


def test_grounding_facts_are_true_statements(tiny_world: World) -> None:
    grounding = Grounder(tiny_world).ground("Sily Pamial")
    assert grounding.entity_ids == ("person_1",)
    ids = {fact.fact_id for fact in grounding.facts}
    assert ids == {"person_1|birth_year|1932", "person_1|born_in|city_1"}
    assert "Sily Pamial was born in Naround." in grounding.statements
    for fact, statement in zip(grounding.facts, grounding.statements):
        assert fact_supported(tiny_world, fact, statement)
    assert not fact_supported(tiny_world, Fact("person_1", "birth_year", 1990, False), "Sily Pamial was born in 1932.")


def test_look_alikes_declared_both_ways_and_by_edit_distance(tiny_world: World) -> None:
    grounder = Grounder(tiny_world)
    assert grounder.look_alikes("person_1") == ("person_2",)
    assert grounder.look_alikes("person_2") == ("person_1",)
    assert grounder.look_alikes("person_3") == ()
    assert grounder.ground("Sily Pamial birth year").look_alikes == ("person_2",)
    assert edit_distance("pamial", "pamiax") == 1
    assert edit_distance("abc", "xyzuvw", limit=2) == 3


def test_fuzzy_mention_when_no_exact_match(tiny_world: World) -> None:
    grounding = Grounder(tiny_world).ground("Kofith Biadry birth year")
    assert grounding.entity_ids == ("person_3",) and grounding.fuzzy
    assert Grounder(tiny_world).ground("Kofith Biadry", fuzzy=False).entity_ids == ()


def test_every_entity_name_and_alias_is_found(small_bundle) -> None:
    grounder = get_grounder(small_bundle.world)
    assert grounder is get_grounder(small_bundle.world)
    for entity in small_bundle.world.entities.values():
        for form in (entity.name, *entity.aliases):
            assert entity.id in {m.entity_id for m in grounder.mentions(f"tell me about {form.upper()}")}


def test_render_fact_uses_names_and_formatted_values(small_bundle) -> None:
    world = small_bundle.world
    fact = next(f for e in world.entities for f in world.attribute_facts(e) if isinstance(f.object, int) and f.object >= 10000)
    text = render_fact(world, fact)
    assert world.name(fact.subject) in text and f"{fact.object:,}" in text


# -- template simulator -------------------------------------------------------------------------
@pytest.fixture()
def template(small_bundle) -> TemplateSimulatedEngine:
    return TemplateSimulatedEngine(small_bundle.world, small_bundle.corpus, tasks=small_bundle.tasks)


def test_template_is_a_search_engine(template: TemplateSimulatedEngine) -> None:
    assert isinstance(template, SearchEngine)
    assert template.name == "simulated"


def test_useful_docs_contain_the_needed_fact_for_one_hop_tasks(small_bundle, template) -> None:
    tasks = one_hop(small_bundle)
    assert len(tasks) >= 20
    for task in tasks:
        template.set_context(task.task_key, 0)
        [hits] = template.search([task.question], 3)
        assert 1 <= len(hits) <= 3
        stated = {f for hit in hits for f in small_bundle.corpus[hit.doc_id].facts}
        assert task.chain[0].fact_id in stated, task.question
        call = template.last_calls[0]
        assert call["noisy"] is False and call["contains_needed_fact"] is True
        assert task.topic_entities[0] in call["mentioned"]


def test_noisy_docs_never_state_anything_about_the_asked_entity(small_bundle, template) -> None:
    template.noise_prob = 1.0
    kinds = set()
    grounder = get_grounder(small_bundle.world)
    queries = [t.question for t in small_bundle.tasks.tasks]
    queries += [f"{e.name} birth year" for e in small_bundle.world.entities.values() if e.look_alike_of]
    queries += ["qzxv wplk"]  # matches no page: related passages run out, so distractors fill the results
    for start in range(0, len(queries), 8):
        batch = queries[start : start + 8]
        results = template.search(batch, 5)
        for query, hits, call in zip(batch, results, template.last_calls):
            asked = set(grounder.ground(query).entity_ids)
            assert call["noisy"] is True and call["contains_needed_fact"] in (None, False)
            kinds.add(call["noise_kind"])
            for hit in hits:
                passage = small_bundle.corpus[hit.doc_id]
                assert passage.entity_id not in asked
                for fact_id in passage.facts:  # a fact-bearing noise doc is about someone else
                    assert not fact_entities(fact_id) & asked, (query, hit.doc_id, fact_id)
    assert "look_alike" in kinds and "distractor" in kinds


def test_look_alike_noise_is_about_the_look_alike(small_bundle, template) -> None:
    world = small_bundle.world
    template.noise_prob = 1.0
    grounder = get_grounder(world)
    checked = 0
    for entity in world.entities.values():
        if not entity.look_alike_of:
            continue
        [hits] = template.search([entity.name], 3)
        assert template.last_calls[0]["noise_kind"] == "look_alike"
        assert hits[0].title in {world.name(e) for e in grounder.look_alikes(entity.id)}
        checked += 1
    assert checked >= 1


def test_contains_needed_fact_is_none_without_task(template, small_bundle) -> None:
    template.set_context(None, 0)
    template.search([one_hop(small_bundle)[0].question], 3)
    assert template.last_calls[0]["contains_needed_fact"] is None


def test_noise_is_deterministic_per_task_group_query(small_bundle) -> None:
    make = lambda seed=0: TemplateSimulatedEngine(  # noqa: E731
        small_bundle.world, small_bundle.corpus, noise_prob=0.5, seed=seed, tasks=small_bundle.tasks)
    a, b = make(), make()
    queries = [t.question for t in small_bundle.tasks.tasks[:60]]
    for engine in (a, b):
        engine.set_context("task-x", 7)
    first = a.search(queries, 3)
    flags = [c["noisy"] for c in a.last_calls]
    assert b.search(queries, 3) == first and [c["noisy"] for c in b.last_calls] == flags
    assert a.search(queries, 3) == first  # no hidden RNG state
    assert 10 < sum(flags) < 50
    # batch composition does not matter
    assert a.search([queries[5]], 3)[0] == first[5]
    assert a.search_batch([queries[5]], 3, [("task-x", 7)])[0] == first[5]
    # another group, task or seed draws differently
    a.set_context("task-x", 8)
    a.search(queries, 3)
    assert [c["noisy"] for c in a.last_calls] != flags
    a.set_context("task-y", 7)
    a.search(queries, 3)
    assert [c["noisy"] for c in a.last_calls] != flags
    c = make(seed=1)
    c.set_context("task-x", 7)
    c.search(queries, 3)
    assert [call["noisy"] for call in c.last_calls] != flags


def test_search_batch_uses_one_context_per_query(small_bundle, template) -> None:
    template.noise_prob = 0.5
    query = one_hop(small_bundle)[0].question
    contexts = [SearchContext("t", g) for g in range(40)]
    template.search_batch([query] * 40, 3, contexts)
    flags = [c["noisy"] for c in template.last_calls]
    assert 0 < sum(flags) < 40
    assert [c["group_seed"] for c in template.last_calls] == list(range(40))
    with pytest.raises(ValueError, match="contexts"):
        template.search_batch([query], 3, [])


def test_noise_prob_extremes_and_rate(small_bundle, template) -> None:
    queries = [t.question for t in small_bundle.tasks.tasks] + [e.name for e in small_bundle.world.entities.values()]
    queries = list(dict.fromkeys(queries))[:400]
    rates = {}
    noisy_sets = {}
    for p in (0.0, 0.2, 0.3, 0.4, 1.0):
        template.noise_prob = p
        template.search(queries, 1)
        noisy_sets[p] = {c["query"] for c in template.last_calls if c["noisy"]}
        rates[p] = len(noisy_sets[p]) / len(queries)
    assert rates[0.0] == 0.0 and rates[1.0] == 1.0
    assert abs(rates[0.3] - 0.3) < 0.08
    assert noisy_sets[0.2] <= noisy_sets[0.4]  # raising noise_prob only adds noisy queries
    with pytest.raises(ValueError, match="noise_prob"):
        template.noise_prob = 1.5


def test_access_returns_the_shown_passage(small_bundle, template) -> None:
    template.noise_prob = 0.5
    results = template.search([t.question for t in small_bundle.tasks.tasks[:20]], 3)
    for hits in results:
        for hit in hits:
            passage = template.access(hit.doc_id)
            assert passage.doc_id == hit.doc_id and passage.text == hit.text
    with pytest.raises(UnknownDocumentError):
        template.access("sim:nope")
    with pytest.raises(UnknownDocumentError):
        template.access(123)  # type: ignore[arg-type]


def test_empty_queries_and_docs_per_query(small_bundle) -> None:
    engine = TemplateSimulatedEngine(small_bundle.world, small_bundle.corpus, docs_per_query=2)
    results = engine.search(["", "  ", one_hop(small_bundle)[0].question], 5)
    assert results[0] == [] and results[1] == [] and len(results[2]) == 2
    with pytest.raises(TypeError):
        engine.search("a single string", 3)  # type: ignore[arg-type]


def test_query_without_entity_falls_back_to_overlap(template) -> None:
    [hits] = template.search(["people born in the year"], 3)
    words = {"people", "born", "year"}
    assert hits and all(words & set(tokenize(f"{hit.title} {hit.text}")) for hit in hits)
    assert template.last_calls[0]["mentioned"] == []


def test_factory_and_bundle_construction(small_bundle) -> None:
    assert all(engine_entry(name).per_env and engine_entry(name).needs_world
               for name in (" Simulated ", "simulated_llm", "self"))
    assert not engine_entry("bm25").per_env and not engine_entry("bm25").needs_world
    engine = make_engine("simulated", small_bundle, noise_prob=0.25, seed=3)
    assert isinstance(engine, TemplateSimulatedEngine) and engine.noise_prob == 0.25 and engine.tasks is small_bundle.tasks
    via_registry = make_engine("simulated", small_bundle.corpus.passages, world=small_bundle.world)
    assert isinstance(via_registry, TemplateSimulatedEngine)
    with pytest.raises(ValueError, match="world"):
        make_engine("simulated", small_bundle.corpus.passages)
    with pytest.raises(ValueError, match="unknown search engine 'nope'"):
        make_engine("nope", small_bundle)
    with pytest.raises(ValueError, match="has no option 'noise_porb' .did you mean 'noise_prob'"):
        make_engine("simulated", small_bundle, noise_porb=0.5)


def test_sim_spec_runs_an_episode_with_the_template_engine() -> None:
    config = load_spec(ENVS / "SearchQA-Sim-v0.toml")
    assert config.engine == "simulated" and config.nondeterministic is False
    assert 0.0 <= config.engine_options["noise_prob"] <= 1.0
    config = config.with_overrides({"world_size": 300, "tasks_per_type": 30, "eval_tasks_per_type": 30})
    from searchgym.bundle import build_bundle

    bundle = build_bundle(config.schema, config.world_size, config.world_seed,
                          config.corpus_options(), config.task_options())
    engine = make_engine(config.engine, bundle, **config.engine_options)
    engine.noise_prob = 0.0
    env = SearchQAEnv(config, engine=engine)
    task = one_hop(bundle)[0]
    env.reset(options={"task_key": task.task_key})
    engine.set_context(task.task_key, 0)
    observation, _, _, _, info = env.step(f"<search>{task.question}</search>")
    assert info["evidence_recall"] == 1.0 and "<information>" in observation
    _, reward, terminated, _, _ = env.step(f"<answer>{task.answer}</answer>")
    assert terminated and reward == 1.0


# -- LLM simulator with a scripted generator ----------------------------------------------------
class EchoFacts:
    """A TextGenerator double that writes one document per fact line of the prompt."""

    model_name = "echo-facts"

    def __init__(self, garbage: bool = False) -> None:
        self.calls: list[tuple[int, object]] = []
        self.garbage = garbage

    def generate(self, prompts, config=None):
        self.calls.append((len(prompts), config))
        outputs = []
        for prompt in prompts:
            text = prompt[-1]["content"]
            facts = [line[2:] for line in text.splitlines() if line.startswith("- ")]
            if self.garbage or not facts:
                outputs.append("I cannot help with that.")
            else:
                seed = getattr(config, "seed", None)
                outputs.append("\n\n".join(f"Doc {i + 1}: {fact} (s{seed})" for i, fact in enumerate(facts[:5])))
        return outputs


@pytest.fixture()
def llm_engine(small_bundle, tmp_path):
    def build(generator=None, **options):
        options.setdefault("cache_dir", tmp_path / "simcache")
        return LLMSimulatedEngine(small_bundle.world, small_bundle.corpus, generator or EchoFacts(),
                                  tasks=small_bundle.tasks, **options)

    return build


def test_zerosearch_prompt_wording() -> None:
    useful = zerosearch_prompt("q1", useful=True, question="Who?", answer="Bob", facts=["A is B."])
    assert useful.startswith("You are the Google search engine.\nGiven a query, you need to generate five useful documents for the query.")
    assert 'The user is trying to answer the question: "Who?" whose answer is Bob.' in useful
    assert "Each document should contain about 30 words, and these documents should contain useful information." in useful
    assert "- A is B." in useful and useful.endswith("Query: q1\nUseful Output:")
    noisy = zerosearch_prompt("q1", useful=False, num_docs=3, question="Who?", answer="Bob", avoid=["Sily"])
    assert "generate three noisy documents" in noisy and "Bob" not in noisy
    assert "Do not state anything about Sily." in noisy and noisy.endswith("Noisy Output:")


def test_parse_documents() -> None:
    assert parse_documents("Doc 1: a b\n\nDoc 2: c\nDoc 3: d", 2) == ["a b", "c"]
    assert parse_documents("1. x\n2) y", 5) == ["x", "y"]
    assert parse_documents("line one\nline two\n", 5) == ["line one", "line two"]
    assert parse_documents("   ", 5) == []


def test_llm_useful_docs_are_grounded_and_checked(small_bundle, llm_engine) -> None:
    engine = llm_engine(noise_prob=0.0, temperature=0.0)
    task = one_hop(small_bundle)[0]
    engine.set_context(task.task_key, 0)
    [hits] = engine.search([task.question], 3)
    assert len(hits) == 3 and all(re.fullmatch(r"sim:[0-9a-f]{24}-\d", h.doc_id) for h in hits)
    call = engine.last_calls[0]
    assert call["noisy"] is False and call["contains_needed_fact"] is True and call["grounded"] is True
    assert call["num_generated"] == 3 and call["cached"] is False
    prompt = engine._cache.get(call["key"])["prompt"]
    assert task.question in prompt and task.answer in prompt
    for hit in hits:
        passage = engine.access(hit.doc_id)
        assert passage.text == hit.text and passage.kind == "simulated"
    with pytest.raises(UnknownDocumentError):
        engine.access(hits[0].doc_id[:-1] + "9")
    with pytest.raises(UnknownDocumentError):
        engine.access("sim:" + "0" * 24 + "-0")
    assert engine.access(small_bundle.corpus.passages[0].doc_id) == small_bundle.corpus.passages[0]


def test_llm_fact_check_fails_on_ungrounded_output(small_bundle, llm_engine) -> None:
    engine = llm_engine(EchoFacts(garbage=True), noise_prob=0.0, temperature=0.0, docs_per_query=3)
    task = one_hop(small_bundle)[0]
    engine.set_context(task.task_key, 0)
    [hits] = engine.search([task.question], 3)
    call = engine.last_calls[0]
    assert call["num_generated"] == 1 and call["doc_facts"][0] == 0
    assert call["num_fallback"] == 2 and len(hits) == 3  # padded with true template statements
    garbage_only = engine._documents(engine._cache.get(call["key"]))[:1]
    assert garbage_only[0].facts == ()


def test_llm_noisy_prompt_uses_look_alike_facts_only(small_bundle, llm_engine) -> None:
    world = small_bundle.world
    entity = next(e for e in world.entities.values() if e.look_alike_of)
    engine = llm_engine(noise_prob=1.0, temperature=0.0)
    engine.set_context(None, 0)
    [hits] = engine.search([f"{entity.name} biography"], 5)
    call = engine.last_calls[0]
    assert call["noisy"] and call["noise_kind"] == "look_alike"
    prompt = engine._cache.get(call["key"])["prompt"]
    assert "Noisy Output:" in prompt and f"Do not state anything about {entity.name}." in prompt
    fact_lines = [line for line in prompt.splitlines() if line.startswith("- ")]
    assert fact_lines and not any(entity.name in line for line in fact_lines)
    assert not any(call["mentions_asked_entity"])
    assert all(h.title != entity.name for h in hits)


def test_llm_cache_batching_and_group_consistency(small_bundle, llm_engine) -> None:
    generator = EchoFacts()
    engine = llm_engine(generator, noise_prob=0.0, temperature=0.0)
    queries = [t.question for t in one_hop(small_bundle)[:3]]
    engine.set_context("task-a", 1)
    first = engine.search(queries, 3)
    assert [n for n, _ in generator.calls] == [3]  # one batched call
    assert engine.search(queries, 3) == first and len(generator.calls) == 1
    assert all(c["cached"] for c in engine.last_calls)
    # a fresh engine (another rollout / process) reads the disk cache
    other_generator = EchoFacts()
    other = llm_engine(other_generator, noise_prob=0.0, temperature=0.0)
    other.set_context("task-a", 1)
    assert other.search(queries, 3) == first and other_generator.calls == []
    assert other.access(first[0][0].doc_id).text == first[0][0].text


def test_llm_sampling_seeds_per_query_and_group(small_bundle, llm_engine) -> None:
    generator = EchoFacts()
    engine = llm_engine(generator, noise_prob=0.0, temperature=0.8, cache="memory")
    queries = [t.question for t in one_hop(small_bundle)[:2]]
    engine.set_context("task-a", 1)
    first = engine.search(queries, 2)
    assert [n for n, _ in generator.calls] == [1, 1]  # one call per seed without generate_seeded
    seeds = [config.seed for _, config in generator.calls]
    assert len(set(seeds)) == 2 and all(isinstance(s, int) for s in seeds)
    engine.set_context("task-a", 2)
    second = engine.search(queries, 2)
    assert second != first and len(generator.calls) == 4
    engine.set_context("task-a", 1)
    assert engine.search(queries[::-1], 2) == first[::-1] and len(generator.calls) == 4


def test_llm_generate_seeded_hook_batches_sampling(small_bundle, llm_engine) -> None:
    class Seeded(EchoFacts):
        def generate_seeded(self, prompts, config, seeds):
            self.seeds = list(seeds)
            return [out.replace("(sNone)", f"(s{s})") for out, s in zip(self.generate(prompts, config), seeds)]

    generator = Seeded()
    engine = llm_engine(generator, noise_prob=0.0, temperature=0.8, cache=False)
    engine.search([t.question for t in one_hop(small_bundle)[:3]], 2)
    assert [n for n, _ in generator.calls] == [3] and len(set(generator.seeds)) == 3
    engine.search([one_hop(small_bundle)[0].question], 2)  # cache=False regenerates
    assert len(generator.calls) == 2


def test_llm_engine_rejects_bad_arguments(small_bundle) -> None:
    with pytest.raises(TypeError):
        LLMSimulatedEngine(small_bundle.world, small_bundle.corpus, object())
    with pytest.raises(ValueError):
        LLMSimulatedEngine(small_bundle.world, small_bundle.corpus, EchoFacts(), cache="disk")
    with pytest.raises(TypeError):
        LLMSimulatedEngine(small_bundle.corpus, small_bundle.corpus, EchoFacts())  # type: ignore[arg-type]


# -- LLM simulator with the real SmolLM2 --------------------------------------------------------
class Counting:
    """Delegates to a real generator and counts the prompts it is sent."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.prompts = 0
        self.model_name = inner.model_name

    def generate(self, prompts, config=None):
        self.prompts += len(prompts)
        return self.inner.generate(prompts, config)


@pytest.mark.slow
def test_llm_simulator_with_smollm2(small_bundle, tmp_path) -> None:
    from searchgym.llm import TransformersGenerator

    generator = Counting(TransformersGenerator(device="cpu"))
    options = dict(noise_prob=0.0, max_new_tokens=24, temperature=0.8, docs_per_query=3, tasks=small_bundle.tasks)
    engine = LLMSimulatedEngine(small_bundle.world, small_bundle.corpus, generator,
                                cache_dir=tmp_path / "smol", **options)
    task = one_hop(small_bundle)[0]
    engine.set_context(task.task_key, 5)
    first = engine.search([task.question], 3)
    assert len(first[0]) == 3 and generator.prompts == 1
    call = engine.last_calls[0]
    assert call["contains_needed_fact"] is True  # useful: generated or padded with true facts
    assert isinstance(call["generated_contains_needed_fact"], bool) and isinstance(call["grounded"], bool)
    assert call["num_generated"] + call["num_fallback"] == 3 and call["num_generated"] >= 1
    assert engine.search([task.question], 3) == first and generator.prompts == 1  # cached
    again = LLMSimulatedEngine(small_bundle.world, small_bundle.corpus, Counting(generator.inner),
                               cache_dir=tmp_path / "smol", **options)
    again.set_context(task.task_key, 5)
    assert again.search([task.question], 3) == first  # same (group, query) -> same docs, from disk
    assert again.access(first[0][0].doc_id).text == first[0][0].text
    # without any cache, the seeded sampling reproduces the same text
    fresh = LLMSimulatedEngine(small_bundle.world, small_bundle.corpus, generator, cache=False, **options)
    fresh.set_context(task.task_key, 5)
    assert fresh.search([task.question], 3) == first and generator.prompts == 2


def test_llm_simulated_spec_is_registered_nondeterministic_and_builds_lazily():
    """The LLM-sampling spec is flagged nondeterministic; the model loads on the first search
    (covered by the slow SmolLM2 test), so building the env and answering is cheap."""
    import gymnasium as gym

    import searchgym  # noqa: F401

    assert gym.spec("SearchQA-SimLLM-v0").nondeterministic is True
    assert gym.spec("SearchQA-Sim-v0").nondeterministic is False
    env = gym.make("SearchQA-SimLLM-v0", world_size=300, tasks_per_type=20)
    assert type(env.unwrapped.engine).__name__ == "LLMSimulatedEngine"
    assert env.unwrapped.engine.noise_prob == 0.5
    env.reset(seed=0)
    _, _, _, _, info = env.step("<answer>nothing</answer>")
    assert info["action_kind"] == "answer"
