"""The BM25 kernel ranks exactly as bm25s scores, tie-aware; its tokenizer is bm25s's; its index
files do not depend on the hash seed. Every reference here is an independent plain bm25s index
(bm25s.tokenize + BM25.index + get_scores), not our own code."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import bm25s
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchgym.search import passage_store
from searchgym.search.bm25 import BM25Engine
from searchgym.search.corpus_index import PassageStore
from searchgym.search.lexical import QueryTokenizer, make_stemmer, tokenize_corpus
from searchgym.types import Hit, Passage

REPO = Path(__file__).resolve().parents[1]


def _reference(passages, method):
    stemmer = make_stemmer("english")
    texts = [PassageStore.index_text(p) for p in passages]
    retriever = bm25s.BM25(method=method)
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)

    def ranked(query, k):
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)[0]
        ids = retriever.get_tokens_ids(tokens)
        if not ids:
            return []
        scores = retriever.get_scores(ids)
        rows = np.flatnonzero(scores > 0)
        rows = rows[np.lexsort((rows, -scores[rows]))][:k]  # ties in corpus order
        return [(passages[row].doc_id, float(scores[row])) for row in rows]

    return ranked


def _queries(bundle):
    questions = [task.question for task in bundle.tasks.tasks[:80]]
    names = [p.title for p in bundle.corpus.passages[:80]]
    repeated = [f"{q} {q.split()[-1]} {q.split()[-1]}" for q in questions[:20]]
    return questions + names + repeated + ["", "the of and", "zzzunknownzzz", "located located located"]


KERNELS = {  # (kernel, taat_max_postings, dominant_share, wand_max_share, wand_step_cost): every path
    "wand": ("numba", 0, 0.0, 2.0, -1.0),  # block-max WAND over all rows at once
    "wand-sampled": ("numba", 0, 0.0, 2.0, 0.0),  # the sample ranges first, then the rows around them
    "wand-or-addition": ("numba", 0, 0.0, 0.2, 32.0),  # WAND hands some queries back after pass 1 or its sample
    "wand-sample-gives-up": ("numba", 0, 0.0, 2.0, 1e12),  # every query that steps in its sample goes to addition
    "addition": ("numba", 1 << 62, 2.0, 2.0, -1.0),
    "default": ("numba", None, None, None, None),
    "numpy": ("numpy", None, None, None, None),
}


def _engine(passages, kernel_name, **options):
    kernel, taat_max_postings, dominant_share, wand_max_share, wand_step_cost = KERNELS[kernel_name]
    engine = BM25Engine(passages, cache=None, show_progress=False, kernel=kernel, **options)
    if taat_max_postings is not None:
        engine.taat_max_postings, engine.dominant_share = taat_max_postings, dominant_share
        engine.wand_max_share, engine.wand_step_cost = wand_max_share, wand_step_cost
    return engine


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("method", ["lucene", "robertson", "atire", "bm25l", "bm25+"])
def test_rankings_and_scores_are_bm25s_exactly(small_bundle, method, kernel):
    """Same passages, same float32 scores bit for bit, same order, ties by corpus order, with
    each compiled path (block-max WAND, addition, the default choice) and the numpy fallback."""
    passages = small_bundle.corpus.passages
    engine = _engine(passages, kernel, method=method)
    reference = _reference(passages, method)
    queries = _queries(small_bundle)
    for k in (1, 5, 37):
        batched = engine.search(queries, k)
        for query, hits in zip(queries, batched):
            assert [(h.doc_id, h.score) for h in hits] == reference(query, k), (method, k, query)
        assert engine.search(queries[:1], k) == batched[:1]  # one query ranks as in a batch


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_ties_at_the_kth_place_go_to_the_lower_row(kernel):
    """Identical passages tie exactly; the k best must be the k lowest rows, in order."""
    texts = ["alpha beta gamma"] * 30 + ["alpha delta"] * 30 + ["beta beta epsilon"] * 30
    passages = [Passage(doc_id=f"d{i:03d}", title="", text=t) for i, t in enumerate(texts)]
    engine = _engine(passages, kernel)
    reference = _reference(passages, "lucene")
    for query in ["alpha", "beta", "alpha beta", "beta gamma alpha", "epsilon beta", "delta alpha alpha"]:
        for k in (1, 5, 16, 17, 29, 45, 90):
            assert [(h.doc_id, h.score) for h in engine.search([query], k)[0]] == reference(query, k)



@pytest.mark.parametrize("kernel", list(KERNELS))
def test_a_block_skip_stops_at_the_first_row_past_the_block(kernel):
    """The best row is the first posting of both lists' second block of 64, right after a first
    block too weak to enter: a skip one row too far loses it (as an off-by-one skip did)."""
    filler = " ".join(f"filler{i}" for i in range(30))
    texts = [f"alder birch {filler}"] * 64  # rows 0-63: both terms, in long passages (weak)
    texts += ["alder birch"]  # row 64: both terms, short: the best, in no term's 16 best rows
    texts += [f"{filler} pad"] * 35 + ["alder"] * 32 + ["birch"] * 32  # each term's best rows
    passages = [Passage(doc_id=f"d{i:03d}", title="", text=text) for i, text in enumerate(texts)]
    engine = _engine(passages, kernel)
    reference = _reference(passages, "lucene")
    for k in (1, 2, 3):
        hits = engine.search(["alder birch"], k)[0]
        assert [(h.doc_id, h.score) for h in hits] == reference("alder birch", k)
    assert hits[0].doc_id == "d064"


words = st.sampled_from(
    "university city located capital country year founded the of who which studio director "
    "mentor spouse born river alpha ÉCOLE naïve o'brien x1 42 ab".split()
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.lists(words, min_size=0, max_size=12).map(" ".join), k=st.integers(1, 40),
       kernel=st.sampled_from(list(KERNELS)))
def test_random_queries_match_bm25s(small_bundle, query, k, kernel):
    engine = _engine_for(small_bundle, kernel)
    assert [(h.doc_id, h.score) for h in engine.search([query], k)[0]] == _reference_for(small_bundle)(query, k)


_VOCABULARY = "ash birch cedar elm fir hazel larch maple oak pine rowan yew".split()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_docs=st.integers(50, 700),
    query=st.lists(st.sampled_from(_VOCABULARY), min_size=1, max_size=14),
    k=st.sampled_from([1, 3, 5, 16, 17, 40]),
    kernel=st.sampled_from(["wand", "wand-sampled"]),
)
def test_wand_matches_bm25s_on_long_lists_of_similar_terms(seed, n_docs, query, k, kernel):
    """Corpora whose lists span many blocks of 64 postings and whose terms weigh alike (a row
    needs several terms to enter, the case block-max WAND prunes): every ranking is bm25s's,
    ties by row, whether WAND walks the rows at once or its sample ranges first. Documents
    repeat words, so equal scores are common."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(len(_VOCABULARY)) * 0.7)
    texts = [" ".join(rng.choice(_VOCABULARY, size=int(rng.integers(1, 9)), p=weights)) for _ in range(n_docs)]
    passages = [Passage(doc_id=f"d{i:04d}", title="", text=text) for i, text in enumerate(texts)]
    engine = _engine(passages, kernel)
    got = [(h.doc_id, h.score) for h in engine.search([" ".join(query)], k)[0]]
    assert got == _reference(passages, "lucene")(" ".join(query), k)



def test_large_corpora_rank_long_queries_by_wand_first(small_bundle):
    """The addition limit falls for large corpora (bench_bm25_methods.py); a small corpus
    keeps the default, and an engine's limit is its corpus's."""
    from searchgym.search.bm25_index import LARGE_CORPUS, TAAT_MAX_POSTINGS, taat_max_postings_for

    assert taat_max_postings_for(LARGE_CORPUS - 1) == TAAT_MAX_POSTINGS
    assert taat_max_postings_for(LARGE_CORPUS) < 10_000 < TAAT_MAX_POSTINGS
    engine = BM25Engine(small_bundle.corpus.passages, cache=None, show_progress=False)
    assert engine.taat_max_postings == TAAT_MAX_POSTINGS



def test_an_engine_pickled_before_wand_still_searches(small_bundle):
    """A pickle made before ``wand_max_share``, ``wand_step_cost`` and ``scan_min_share``
    existed unpickles to the defaults and ranks the same."""
    engine = BM25Engine(small_bundle.corpus.passages, cache=None, show_progress=False)
    state = engine.__getstate__()
    del state["wand_max_share"], state["wand_step_cost"], state["scan_min_share"]
    restored = BM25Engine.__new__(BM25Engine)
    restored.__setstate__(state)
    queries = [task.question for task in small_bundle.tasks.tasks[:10]]
    assert restored.search(queries, 5) == engine.search(queries, 5)


@settings(max_examples=200, deadline=None)
@given(num_rows=st.integers(1, 5_000_000), sampled=st.booleans())
def test_row_ranges_hold_every_row_once(num_rows, sampled):
    """WAND's ranges tile the rows: none skipped, none walked twice; the samples come first."""
    from searchgym.search.bm25_wand import _END, SAMPLE_RANGES, SAMPLE_ROWS, _row_ranges

    ranges = _row_ranges(num_rows, sampled)
    tiles = sorted(map(tuple, ranges.tolist()))
    assert tiles[0][0] == 0 and tiles[-1][1] == _END
    assert all(tiles[i][1] == tiles[i + 1][0] for i in range(len(tiles) - 1))
    assert all(lo <= hi for lo, hi in tiles)
    if sampled:
        samples = ranges[:SAMPLE_RANGES]
        width = samples[:, 1] - samples[:, 0]
        assert (width <= int(np.ceil(num_rows * SAMPLE_ROWS))).all() and width.sum() >= min(num_rows, SAMPLE_RANGES)
        assert (samples[:, 1] <= num_rows).all()


def test_the_sample_walks_on_or_gives_up_by_projected_cost(small_bundle):
    """With the sample on, WAND gives the same hits as without it, or -1 when the steps it
    projects cost more than adding the query's postings (here: any step at all)."""
    from searchgym.search.bm25_wand import block_max_wand_top_k

    engine = _engine(small_bundle.corpus.passages, "wand")
    arrays = engine.index.kernel_arrays
    indptr, docs, scores, rest_max, _, block_ptr, block_max, block_last, top_rows = arrays
    gave_up = walked_on = 0
    for question in [task.question for task in small_bundle.tasks.tasks[:60]]:
        terms = np.array(engine.query_terms(question), dtype=np.int64)
        if not len(terms):
            continue
        found = {}
        for step_cost in (-1.0, 0.0, 1e12):
            out_scores, out_rows = np.empty(5, np.float32), np.empty(5, np.int64)
            count = block_max_wand_top_k(indptr, docs, scores, rest_max, block_ptr, block_max, block_last, top_rows,
                                         terms, 5, out_scores, out_rows, 2.0, step_cost, engine.index.num_docs)
            found[step_cost] = (count, out_rows[:max(count, 0)].tolist(), out_scores[:max(count, 0)].tolist())
        assert found[0.0] == found[-1.0]
        assert found[1e12] in (found[-1.0], (-1, [], []))
        gave_up += found[1e12][0] < 0
        walked_on += found[1e12] == found[-1.0]
    assert gave_up and walked_on  # both outcomes happen (a query whose samples hold no step walks on)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_docs=st.integers(1, 400),
    density=st.floats(0.005, 1.0),
    n_terms=st.integers(1, 6),
    k=st.integers(1, 12),
)
def test_addition_by_touched_list_or_by_scan_ranks_as_float32_sums(seed, n_docs, density, n_terms, k):
    """Both ways addition takes its top k (the touched passages, or a scan of every passage
    from ``SCAN_MIN_SHARE`` postings per passage) give the float32 sums in query order, best
    first, ties by row; scores come in few distinct values, so ties are common. The
    accumulator is left all zero."""
    from searchgym.search.bm25_topk import taat_top_k

    rng = np.random.default_rng(seed)
    lists = [np.flatnonzero(rng.random(n_docs) < density) for _ in range(n_terms)]
    indptr = np.concatenate(([0], np.cumsum([len(rows) for rows in lists]))).astype(np.int64)
    docs = np.concatenate(lists).astype(np.int32)
    scores = rng.choice(np.float32([0.25, 0.5, 1.0, 1.7]), size=len(docs)).astype(np.float32)
    query = rng.integers(0, n_terms, size=int(rng.integers(1, 8))).astype(np.int64)
    expected = np.zeros(n_docs, dtype=np.float32)
    for term in query:  # bm25s's additions: term by term, in query order
        expected[docs[indptr[term] : indptr[term + 1]]] += scores[indptr[term] : indptr[term + 1]]
    rows = np.flatnonzero(expected > 0)
    rows = rows[np.lexsort((rows, -expected[rows]))][:k]
    accumulator = np.zeros(n_docs, dtype=np.float32)
    touched = np.empty(n_docs + 1, dtype=np.int32)
    out_scores, out_rows = np.empty(k, dtype=np.float32), np.empty(k, dtype=np.int64)
    count = taat_top_k(indptr, docs, scores, query, k, accumulator, touched, out_scores, out_rows)
    assert out_rows[:count].tolist() == rows.tolist()
    assert out_scores[:count].tolist() == expected[rows].tolist()
    assert not accumulator.any()


def test_addition_takes_both_ways_on_the_bundle(small_bundle):
    """The task questions of a small corpus are dense enough to scan, names sparse enough to
    keep the touched list: both ways run through the engine and rank as bm25s."""
    from searchgym.search.bm25_topk import SCAN_MIN_SHARE

    engine = _engine(small_bundle.corpus.passages, "addition")
    density = {
        kind: [engine.index.postings(np.array(engine.query_terms(q))) / engine.index.num_docs for q in queries]
        for kind, queries in (
            ("question", [task.question for task in small_bundle.tasks.tasks[:40]]),
            ("name", [p.title for p in small_bundle.corpus.passages[:40]]),
        )
    }
    assert any(d >= SCAN_MIN_SHARE for d in density["question"])
    assert any(0 < d < SCAN_MIN_SHARE for d in density["name"])
    reference = _reference_for(small_bundle)
    queries = [task.question for task in small_bundle.tasks.tasks[:40]] + [p.title for p in small_bundle.corpus.passages[:40]]
    for query, hits in zip(queries, engine.search(queries, 5)):
        assert [(h.doc_id, h.score) for h in hits] == reference(query, 5)


def test_a_callee_edited_alone_is_compiled_afresh(tmp_path):
    """numba keys a cached function on its own file only: after an edit to its callee's file
    alone, a fresh process loads the machine code built from the old callee. Keyed on the
    callee's source (:func:`~searchgym.search.numba_cache.key_on_callees`, as the BM25 kernels
    are), it compiles afresh. Real numba, real disk cache, one process per run."""
    (tmp_path / "callee.py").write_text("import numba\n\n@numba.njit(cache=True)\ndef value():\n    return 1\n")
    for name, keyed in (("plain", False), ("keyed", True)):
        (tmp_path / f"{name}.py").write_text(
            "import numba\nimport callee\nfrom searchgym.search.numba_cache import key_on_callees\n\n"
            "@numba.njit(cache=True)\ndef call():\n    return callee.value()\n\n"
            + ("key_on_callees(call, callee)\n" if keyed else "")
        )
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), str(REPO), os.environ.get("PYTHONPATH", "")])}

    def run(name):
        done = subprocess.run([sys.executable, "-c", f"import {name}; print({name}.call())"], env=environment,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return int(done.stdout)

    assert run("plain") == 1 and run("keyed") == 1  # both cached now
    (tmp_path / "callee.py").write_text("import numba\n\n@numba.njit(cache=True)\ndef value():\n    return 2\n")
    assert run("plain") == 1  # numba's blind spot: the old callee, loaded from the cache
    assert run("keyed") == 2


@pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64", reason="sets x86-64 MXCSR via glibc")
def test_the_scan_returns_no_untouched_passage_when_denormals_are_flushed():
    """A library built with -ffast-math sets denormals-are-zero for the whole process; the
    scan's floor must not be a denormal then (the least positive float32 reads as zero and
    untouched passages of score zero entered the top k)."""
    script = textwrap.dedent(
        """
        import ctypes
        import numpy as np
        from searchgym.search.bm25_topk import taat_top_k

        libm = ctypes.CDLL("libm.so.6")
        env = (ctypes.c_ubyte * 32)()
        assert libm.fegetenv(env) == 0
        mxcsr = int.from_bytes(bytes(env[28:32]), "little") | 0x8040  # DAZ and FTZ
        env[28:32] = mxcsr.to_bytes(4, "little")
        assert libm.fesetenv(env) == 0
        indptr = np.array([0, 2], np.int64)
        docs = np.array([1, 4], np.int32)
        scores = np.array([2.0, 1.0], np.float32)
        for scan_min_share in (0.0, np.inf):  # the scan, then the touched list
            out_scores, out_rows = np.empty(5, np.float32), np.empty(5, np.int64)
            accumulator = np.zeros(6, np.float32)
            count = taat_top_k(indptr, docs, scores, np.array([0], np.int64), 5, accumulator,
                               np.empty(7, np.int32), out_scores, out_rows, scan_min_share)
            print(out_rows[:count].tolist(), out_scores[:count].tolist())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[1, 4] [2.0, 1.0]"] * 2


_CACHE: dict[str, object] = {}


def _engine_for(bundle, kernel):
    if kernel not in _CACHE:
        _CACHE[kernel] = _engine(bundle.corpus.passages, kernel)
    return _CACHE[kernel]


def _reference_for(bundle):
    if "reference" not in _CACHE:
        _CACHE["reference"] = _reference(bundle.corpus.passages, "lucene")
    return _CACHE["reference"]


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(st.text(min_size=0, max_size=60), min_size=1, max_size=6))
def test_tokenizer_gives_bm25s_terms(texts):
    stemmer = make_stemmer("english")
    ids, vocabulary = tokenize_corpus(texts, stemmer)
    expected = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)
    assert [[vocabulary[i] for i in doc] for doc in ids] == expected
    assert vocabulary == sorted(set(vocabulary))
    tokenizer = QueryTokenizer(vocabulary, stemmer)
    for text, doc in zip(texts, ids):
        assert tokenizer.terms(text) == doc  # every word is known: its own corpus


def _constructed_hit(store: PassageStore, row: int, score: float) -> Hit:
    passage = store[row]
    return Hit(doc_id=passage.doc_id, score=score, title=passage.title, text=passage.text)


def test_hits_built_fast_equal_hits_built_by_the_constructor(small_bundle, monkeypatch):
    store = PassageStore(list(small_bundle.corpus.passages))  # its own kept fields, none yet
    rows, scores = [3, 0, 7, 3], [2.5, 1.0, 0.25, 0.125]  # row 3 twice: a second hit of a kept row
    fast = store.hits(rows, scores)
    slow = [_constructed_hit(store, row, score) for row, score in zip(rows, scores)]
    assert fast == slow and [hash(h) for h in fast] == [hash(h) for h in slow]
    assert pickle.loads(pickle.dumps(fast)) == slow and repr(fast) == repr(slow)
    assert fast[0].__dict__ is not fast[3].__dict__ and store.hit(3, 9.0).score == 9.0
    assert store.hits(rows, scores) == slow  # the kept fields were not changed by the scores set
    monkeypatch.setattr(passage_store, "MAX_HIT_ROWS", 2)  # the kept fields are cleared when full
    many = list(range(10))
    assert store.hits(many, [float(r) for r in many]) == [_constructed_hit(store, r, float(r)) for r in many]
    assert len(store._hit_fields) <= 2


_BUILD = textwrap.dedent(
    """
    import sys
    from searchgym.bundle import build_bundle
    from searchgym.cache import ArtifactCache
    from searchgym.search.bm25 import BM25Engine
    bundle = build_bundle("default", 300, 5)
    engine = BM25Engine(bundle.corpus.passages, cache=ArtifactCache(sys.argv[1]), show_progress=False)
    print(engine.index_dir)
    top = engine.search(["In which city is the university located?"], 5)[0]
    print([(h.doc_id, h.score) for h in top])
    """
)


def _digest_files(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != "manifest.json"  # the manifest records file mtimes
    }


@pytest.mark.slow
def test_index_files_are_byte_identical_across_hash_seeds(tmp_path):
    """Two processes with different PYTHONHASHSEED build the same files and the same hits."""
    outputs = []
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "SEARCHGYM_CACHE_DIR": str(tmp_path / f"bundle-{seed}"),
               "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        done = subprocess.run([sys.executable, "-c", _BUILD, str(tmp_path / f"cache-{seed}")], env=env,
                              capture_output=True, text=True, timeout=600, check=True)
        index_dir, hits = done.stdout.strip().splitlines()[-2:]
        outputs.append((_digest_files(Path(index_dir)), hits, Path(index_dir).name))
    (files_a, hits_a, key_a), (files_b, hits_b, key_b) = outputs
    assert len(files_a) >= 5 and files_a == files_b
    assert hits_a == hits_b and key_a == key_b


_WITHOUT_NUMBA = textwrap.dedent(
    """
    import sys
    sys.modules["numba"] = None  # as if numba were not installed
    from searchgym.search.bm25 import BM25Engine
    from searchgym.types import Passage
    texts = ["alpha beta gamma", "alpha delta", "beta beta epsilon", "gamma delta delta"] * 5
    passages = [Passage(doc_id=f"d{i:02d}", title="", text=t) for i, t in enumerate(texts)]
    engine = BM25Engine(passages, cache=None, show_progress=False)
    print(engine.kernel, [[(h.doc_id, h.score) for h in hits] for hits in engine.search(["delta beta", "gamma"], 7)])
    """
)


def test_without_numba_the_numpy_kernel_ranks_the_same():
    """numba missing: the engine still works, on the numpy kernel, with the compiled kernel's hits."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("SEARCHGYM_BM25_KERNEL", None)
    done = subprocess.run([sys.executable, "-c", _WITHOUT_NUMBA], env=env, capture_output=True, text=True,
                          timeout=300, check=True)
    kernel, hits = done.stdout.strip().splitlines()[-1].split(" ", 1)
    texts = ["alpha beta gamma", "alpha delta", "beta beta epsilon", "gamma delta delta"] * 5
    passages = [Passage(doc_id=f"d{i:02d}", title="", text=t) for i, t in enumerate(texts)]
    compiled = BM25Engine(passages, cache=None, show_progress=False, kernel="numba")
    assert kernel == "numpy"
    assert hits == repr([[(h.doc_id, h.score) for h in found] for found in compiled.search(["delta beta", "gamma"], 7)])


def test_kernel_choice_follows_the_environment_and_rejects_unknown_names(monkeypatch):
    passages = [Passage(doc_id="a", title="", text="alpha beta"), Passage(doc_id="b", title="", text="beta")]
    monkeypatch.setenv("SEARCHGYM_BM25_KERNEL", "numpy")
    assert BM25Engine(passages, cache=None, show_progress=False).kernel == "numpy"
    monkeypatch.setenv("SEARCHGYM_BM25_KERNEL", "fortran")
    with pytest.raises(ValueError, match="unknown BM25 kernel 'fortran'"):
        BM25Engine(passages, cache=None, show_progress=False)
    monkeypatch.delenv("SEARCHGYM_BM25_KERNEL")
    assert BM25Engine(passages, cache=None, show_progress=False).kernel == "numba"
    with pytest.raises(ValueError, match="unknown BM25 kernel"):
        BM25Engine(passages, cache=None, show_progress=False, kernel="cuda")


def test_a_query_touching_every_passage_stays_within_the_kernels_arrays(tmp_path):
    """The addition kernel writes each posting's row one past the last touched row before it
    knows whether to keep it; with every passage touched that write must still land inside the
    scratch (numba checks no bounds: an overrun corrupted the heap and aborted the process
    later, anywhere). Run with numba's bounds checking on, in a fresh process and cache."""
    script = textwrap.dedent("""
        from searchgym.search.bm25 import BM25Engine
        from searchgym.types import Passage
        passages = [Passage(f"p{i}", "Vale", f"river castle {i}") for i in range(30)]
        engine = BM25Engine(passages, cache=None, show_progress=False, kernel="numba", threads=1)
        for query in ["river castle", "river castle vale", "castle"]:
            assert len(engine.search([query], 30)[0]) == 30
        assert [len(h) for h in engine.search(["river castle", "vale river"], 30)] == [30, 30]
        print("ok")
    """)
    environment = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path),
                   "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
