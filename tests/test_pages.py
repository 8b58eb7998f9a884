"""Opening a page: <access> shows the whole article, and measured depth counts the open."""

from __future__ import annotations

import gymnasium as gym

from searchgym.corpus.page import PAGE_MAX_PASSAGES, infobox_entries, open_page, page_passages
from searchgym.search.bm25 import BM25Engine
from searchgym.tasks.depth import OPEN, DepthMeter, DepthQuery


def test_a_page_shows_its_infobox_sections_and_every_passage(small_bundle):
    world, corpus = small_bundle.world, small_bundle.corpus
    entity = max(corpus.pages, key=lambda e: len(corpus.pages[e]))
    passages = corpus.pages[entity]
    assert len(passages) >= 2
    page = open_page(world, corpus, corpus[passages[-1]])  # any passage opens its article
    assert page is not None and page.doc_ids == tuple(passages[:PAGE_MAX_PASSAGES])
    for doc_id in page.doc_ids:
        assert corpus[doc_id].text in page.text
    for label, value in infobox_entries(world, entity):
        assert f"{label}: {value}" in page.text
    assert f"== {corpus[passages[0]].section} ==" in page.text
    # search passages are prose: the infobox is on the page only
    assert not any(p.text.startswith(f"{infobox_entries(world, entity)[0][0]}:") for p in corpus if p.entity_id == entity)


def test_an_opened_page_states_nothing_its_passages_do_not_record(small_bundle):
    """The infobox is rendered from the world: every line of it is a fact of a shown passage."""
    world, corpus = small_bundle.world, small_bundle.corpus
    for entity_id in corpus.pages:
        page = open_page(world, corpus, corpus[corpus.pages[entity_id][0]])
        recorded = {f for doc_id in page.doc_ids for f in corpus[doc_id].facts}
        stated = {str(fact.object) if not fact.is_relation else world.name(fact.object if fact.subject == entity_id
                                                                            else fact.subject)
                  for fact_id in recorded for fact in [_fact(world, fact_id)]}
        for _, value in infobox_entries(world, entity_id):
            assert value.replace(",", "") in {v.replace(",", "") for v in stated}, (entity_id, value)


def _fact(world, fact_id):
    return next(f for f in world.relation_facts(fact_id.split("|")[0]) + world.attribute_facts(fact_id.split("|")[0])
                if f.fact_id == fact_id)


def test_round_up_pages_open_as_themselves(small_bundle):
    roundup = next(p for p in small_bundle.corpus if p.kind == "distractor")
    assert open_page(small_bundle.world, small_bundle.corpus, roundup) is None


def test_access_in_the_env_opens_the_page_and_records_its_passages():
    env = gym.make("SearchQA-v0", world_size=300, tasks_per_type=20)
    env.reset(seed=0)
    base = env.unwrapped
    entity = max(base.corpus.pages, key=lambda e: len(base.corpus.pages[e]))
    doc_ids = base.corpus.pages[entity]
    observation, _, _, _, info = env.step(f"<access> {doc_ids[-1]} </access>")
    assert info["doc_ids"] == list(doc_ids[:PAGE_MAX_PASSAGES])
    assert set(info["doc_ids"]) <= set(info["retrieved_doc_ids"])
    assert "Infobox:" in observation and base.world.name(entity) in observation
    roundup = next(p for p in base.corpus if p.kind == "distractor")
    _, _, _, _, info = env.step(f"<access> {roundup.doc_id} </access>")
    assert info["doc_ids"] == [roundup.doc_id]


def test_opening_a_page_is_a_retrieval_call_that_reaches_what_name_searches_miss(small_bundle):
    """With top-1 name searches, a long article's later passages are out of a name search's
    reach but one open away: depth with opens is never larger, and is smaller for such facts."""
    world, corpus = small_bundle.world, small_bundle.corpus
    engine = BM25Engine(corpus.passages, cache=None, show_progress=False)
    with_open = DepthMeter(world, corpus, engine, 1, open_pages=True)
    without = DepthMeter(world, corpus, engine, 1, open_pages=False)
    long_pages = [e for e, ids in corpus.pages.items() if len(ids) >= 2][:40]
    assert long_pages
    queries = [DepthQuery(world.name(e), ((page_passages(corpus, e)[-1],),)) for e in long_pages]
    opened = with_open.measure_many(queries)
    searched = without.measure_many(queries)
    for a, b in zip(opened, searched):
        assert a.min_searches is not None
        assert b.min_searches is None or a.min_searches <= b.min_searches
    helped = [a for a, b in zip(opened, searched) if b.min_searches is None or a.min_searches < b.min_searches]
    assert helped and all(any(step.startswith(OPEN) for step in a.plan) for a in helped)
    assert all(a.min_searches >= 2 for a in helped)  # the open itself is counted: search, then open
