"""The aligned corpus (provenance) and the verified tasks built on it."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchgym.bundle import build_bundle
from searchgym.cache import ArtifactCache
from searchgym.corpus import CorpusOptions, write_corpus
from searchgym.corpus.realize import format_value
from searchgym.tasks import TASK_TYPES, TaskOptions, generate_tasks
from searchgym.world import build_world


def test_every_fact_is_stated_by_a_passage(small_bundle):
    corpus, world = small_bundle.corpus, small_bundle.world
    assert all(corpus.passages_stating(fact.fact_id) for fact in world.facts())


def test_provenance_is_true_to_the_text(small_bundle):
    corpus, world = small_bundle.corpus, small_bundle.world
    for passage in corpus.passages[:400]:
        for fact_id in passage.facts:
            subject, relation, obj = fact_id.split("|")
            assert world.name(subject) in passage.text or passage.title == world.name(subject)
            expected = world.name(obj) if obj in world.entities else format_value(
                int(obj) if obj.isdigit() else obj)
            assert expected in passage.text, (fact_id, passage.text)


def test_passages_are_80_to_130_words_with_opaque_unique_ids(small_bundle):
    pages = [p for p in small_bundle.corpus if p.kind == "page"]
    lengths = [len(p.text.split()) for p in pages]
    assert max(lengths) <= 130 + 60  # a single long list sentence may overflow
    assert sum(80 <= n <= 130 for n in lengths) / len(lengths) >= 0.8
    ids = [p.doc_id for p in small_bundle.corpus]
    assert len(ids) == len(set(ids))
    # opaque: neither the entity type nor an index can be read off an id
    assert all(re.fullmatch(r"d[0-9a-f]{10,}", d) for d in ids)
    types = {t.name for t in small_bundle.world.schema.entity_types}
    assert not any(name in d for d in ids for name in types)


def test_roundup_pages_look_ordinary_and_state_true_facts(small_bundle):
    roundups = [p for p in small_bundle.corpus if p.kind == "distractor"]
    assert roundups
    facts = {f.fact_id for f in small_bundle.world.facts()}
    for passage in roundups:
        assert passage.facts and set(passage.facts) <= facts
        assert passage.mentions and passage.title and not passage.title.startswith("news")


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=10**6))
def test_corpus_and_tasks_are_byte_identical_for_the_same_seed(seed):
    first = build_bundle("default", 150, seed, task_options=TaskOptions(per_type=6), cache=False)
    second = build_bundle("default", 150, seed, task_options=TaskOptions(per_type=6), cache=False)
    assert first.corpus.to_jsonl() == second.corpus.to_jsonl()
    assert first.tasks.to_jsonl() == second.tasks.to_jsonl()


def test_all_task_types_and_hops_are_generated(small_bundle):
    types = Counter(t.task_type for t in small_bundle.tasks)
    assert set(types) == set(TASK_TYPES)
    chain_hops = {t.hops for t in small_bundle.tasks if t.task_type == "chain"}
    assert chain_hops == {1, 2, 3, 4}


def _follow(world, task):
    """Re-derive the answer of a chain task by graph traversal from its topic entity."""
    current = task.topic_entities[0]
    for step in task.chain:
        if step.subject == current and step.relation in world.entity(current).attributes:
            return str(world.entity(current).attributes[step.relation])
        if step.subject == current:
            targets = world.targets(current, step.relation)
            assert len(targets) == 1
            current = targets[0]
        else:
            sources = world.sources(current, step.relation)
            assert len(sources) == 1
            current = sources[0]
    return world.name(current)


def test_chain_answers_are_unique_by_traversal(small_bundle):
    chains = [t for t in small_bundle.tasks if t.task_type == "chain"]
    assert chains
    for task in chains:
        assert _follow(small_bundle.world, task) == task.answer


def test_intersections_have_exactly_one_member(small_bundle):
    world = small_bundle.world
    for task in (t for t in small_bundle.tasks if t.task_type == "intersection"):
        (a, b) = task.chain
        members = set(world.sources(a.object, a.relation)) & set(world.sources(b.object, b.relation))
        assert [world.name(m) for m in members] == [task.answer]


def test_counting_answers_match_the_graph_and_one_passage_lists_them_all(small_bundle):
    corpus = small_bundle.corpus
    counting = [t for t in small_bundle.tasks if t.task_type == "counting"]
    assert counting
    for task in counting:
        assert int(task.answer) == len(task.chain) >= 1
        assert task.hops == 1 and len(task.evidence) == 1  # neither reveals the count
        assert all({step.fact_id for step in task.chain} <= set(corpus[d].facts) for d in task.evidence[0])


def test_comparisons_have_distinct_values(small_bundle):
    world = small_bundle.world
    for task in (t for t in small_bundle.tasks if t.task_type in ("comparison", "bridge_comparison")):
        values = [step.object for step in task.chain if step.relation in world.entity(step.subject).attributes]
        assert len(values) == 2 and values[0] != values[1]
        assert task.answer in task.question


def test_every_evidence_unit_is_stated_by_its_passages(small_bundle):
    corpus = small_bundle.corpus
    for task in small_bundle.tasks:
        if task.task_type == "counting":
            continue
        assert len(task.evidence) == len(task.chain)
        for step, passages in zip(task.chain, task.evidence):
            assert passages and all(step.fact_id in corpus[d].facts for d in passages)
            assert set(passages) == set(corpus.passages_stating(step.fact_id))
        assert set(task.gold_passages) <= {d for ps in task.evidence for d in ps}


def test_answer_is_not_leaked_by_chain_questions(small_bundle):
    for task in small_bundle.tasks:
        if task.task_type in ("chain", "intersection") and task.meta["answer_type"] == "entity":
            assert task.answer not in task.question


def test_task_keys_are_unique_and_do_not_depend_on_the_answer(small_bundle):
    from searchgym.cache import content_hash

    keys = [t.task_key for t in small_bundle.tasks]
    assert len(keys) == len(set(keys))
    world_id = small_bundle.world.world_id
    for task in small_bundle.tasks:
        assert task.task_key == f"{world_id}/{task.task_type}/{content_hash(world_id, task.question, length=12)}"


def test_tasks_with_unstated_facts_are_dropped():
    world = build_world("default", 200, 5)
    corpus = write_corpus(world)
    # Remove the provenance of every born_in fact: no task may rely on born_in any more.
    from searchgym.corpus import Corpus
    from searchgym.types import Passage

    stripped = Corpus(world.world_id, [
        Passage(**{**p.to_dict(), "facts": tuple(f for f in p.facts if "|born_in|" not in f),
                   "mentions": tuple(p.mentions)})
        for p in corpus
    ])
    tasks = generate_tasks(world, stripped, TaskOptions(per_type=20), cache=None)
    assert len(tasks) > 0
    assert all(step.relation != "born_in" for task in tasks for step in task.chain)


def test_bundle_cache_is_reused_and_a_corrupted_cache_is_rebuilt(tmp_path):
    from searchgym import bundle as bundle_module

    cache = ArtifactCache(tmp_path)
    options = TaskOptions(per_type=5)
    first = bundle_module.build_bundle("default", 120, 9, task_options=options, cache=cache)
    entry = cache.entry_dir("bundles", first.key)
    assert (entry / "passages.jsonl").is_file()
    bundle_module._MEMO.clear()
    (entry / "passages.jsonl").write_text("corrupted\n")
    again = bundle_module.build_bundle("default", 120, 9, task_options=options, cache=cache)
    assert again.corpus.to_jsonl() == first.corpus.to_jsonl()
    assert (entry / "passages.jsonl").read_text() == first.corpus.to_jsonl()


def test_bad_corpus_and_task_options_are_rejected():
    with pytest.raises(ValueError):
        CorpusOptions(passage_words=5)
    with pytest.raises(ValueError, match="unknown task types"):
        TaskOptions(types=("riddle",))


def test_streamed_saves_and_hashes_equal_the_in_memory_forms(small_bundle, tmp_path):
    """Corpora and task sets are written and hashed line by line (millions of passages must
    not be joined into one string), with the same bytes and digests as the joined forms."""
    from searchgym.cache import content_hash, content_hash_of
    from searchgym.corpus.corpus import Corpus
    from searchgym.search.corpus_index import PassageStore
    from searchgym.tasks.taskset import TaskSet

    corpus, tasks = small_bundle.corpus, small_bundle.tasks
    corpus.save(tmp_path / "passages.jsonl")
    tasks.save(tmp_path / "tasks.jsonl")
    assert (tmp_path / "passages.jsonl").read_text(encoding="utf-8") == corpus.to_jsonl()
    assert (tmp_path / "tasks.jsonl").read_text(encoding="utf-8") == tasks.to_jsonl()
    reloaded = Corpus.load(tmp_path / "passages.jsonl", corpus.world_id)
    assert reloaded.content_hash == corpus.content_hash
    assert TaskSet.load(tmp_path / "tasks.jsonl", tasks.world_id).to_jsonl() == tasks.to_jsonl()
    lines = corpus.to_jsonl().splitlines(keepends=True)
    # one hash: the corpus's is its store's, the digest of its lines (the engines' cache key, unchanged)
    assert corpus.content_hash == content_hash(*(line.rstrip("\n") for line in lines))
    store = PassageStore(list(corpus.passages))
    assert store.corpus_hash == store.content_hash == corpus.content_hash
    assert content_hash_of(iter(["a", b"b"])) == content_hash("a", b"b") != content_hash("ab")


def test_a_failed_streamed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    from searchgym.cache import atomic_write_lines

    target = tmp_path / "rows.jsonl"
    atomic_write_lines(target, ["old\n"])

    def lines():
        yield "new 1\n"
        raise RuntimeError("generator failed half way")

    with pytest.raises(RuntimeError, match="half way"):
        atomic_write_lines(target, lines())
    assert target.read_text() == "old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rows.jsonl"]
    atomic_write_lines(target, (f"é {i}\n" for i in range(3)))
    assert target.read_text(encoding="utf-8") == "é 0\né 1\né 2\n"


def test_atomic_writes_get_the_umask_permissions_not_mkstemps_0600(tmp_path):
    """Results and cache files are meant to be read by other users and tools: a write through a
    temporary file must not leave them private (mkstemp creates 0600 files)."""
    import os
    import stat

    from searchgym.cache import atomic_write_text

    target = tmp_path / "report.json"
    atomic_write_text(target, "{}")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~mask


def test_a_cache_hit_reuses_the_hashes_recorded_at_build_time(tmp_path, monkeypatch):
    """Hashing a corpus costs a pass over every passage; a cache hit must not pay it again, and
    the recorded hashes must equal what hashing the loaded corpus gives."""
    from searchgym import bundle as bundle_module
    from searchgym.search import passage_store
    from searchgym.search.corpus_index import PassageStore

    cache = ArtifactCache(tmp_path)
    options = TaskOptions(per_type=4)
    built = bundle_module.build_bundle("default", 90, 12, task_options=options, cache=cache)
    expected = (built.corpus.content_hash, PassageStore(built.corpus.passages).corpus_hash)
    bundle_module._MEMO.clear()

    def no_hashing(*args, **kwargs):
        raise AssertionError("a cache hit re-hashed the corpus")

    monkeypatch.setattr(passage_store, "store_hash", no_hashing)
    monkeypatch.setattr(passage_store, "content_hash_of", no_hashing)
    loaded = bundle_module.build_bundle("default", 90, 12, task_options=options, cache=cache)
    assert (loaded.corpus.content_hash, PassageStore(loaded.corpus.passages).corpus_hash) == expected
    monkeypatch.undo()
    fresh = _rehashed(loaded)
    assert (fresh.content_hash, PassageStore(fresh.passages).corpus_hash) == expected


def _rehashed(bundle):
    from searchgym.corpus.corpus import Corpus

    return Corpus(bundle.corpus.world_id, list(bundle.corpus.passages))
