"""``searchgym serve-llm`` driven by the official ``openai`` SDK and by verifiers' own client.

The model is the bundled SmolLM2 on CPU (greedy, so a streamed answer must equal the plain one).
A 135M model does not write tool calls on request, so the tool-call round trip uses a scripted
generator that writes a Hermes ``<tool_call>`` block: what a tool-calling model emits; the
server's rendering of ``tools`` into SmolLM2's prompt is checked on SmolLM2 itself.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence

import pytest
from episodes import one_torch_thread
from loopback import serve_openai_app

from searchgym.llm.base import Generation, GenerationConfig
from searchgym.llm.openai_server import create_openai_app

openai = pytest.importorskip("openai")

TOOLS = [{"type": "function", "function": {
    "name": "search", "description": "Search the knowledge base.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}]
CHAT = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


@pytest.fixture(scope="module")
def smollm2():
    from searchgym.llm import TransformersGenerator

    with one_torch_thread():
        yield TransformersGenerator(None, num_threads=1)


@pytest.fixture(scope="module")
def smol_url(smollm2):
    with serve_openai_app(create_openai_app(smollm2, "smollm2", max_tokens_limit=64)) as url:
        yield url


class ScriptedToolModel:
    """A generator that answers every chat with one fixed Hermes tool call and records its prompts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[tuple[list, list | None]] = []
        self.lock = threading.Lock()

    def generate(self, prompts: Sequence, config: GenerationConfig | None = None) -> list[str]:
        return [g.text for g in self.generate_detailed(prompts, config)]

    def generate_detailed(self, prompts, config=None, tools=None) -> list[Generation]:
        with self.lock:
            self.calls.append((list(prompts), tools))
        return [Generation(self.text, "stop", 12, 9) for _ in prompts]


@pytest.mark.slow
def test_openai_sdk_plain_stream_usage_and_length(smol_url):
    client = openai.OpenAI(base_url=smol_url, api_key="EMPTY")
    plain = client.chat.completions.create(model="", messages=CHAT, max_tokens=24, temperature=0)
    assert plain.model == "smollm2" and plain.choices[0].message.content
    assert plain.usage.prompt_tokens > 10 and plain.usage.completion_tokens >= 1
    assert plain.usage.total_tokens == plain.usage.prompt_tokens + plain.usage.completion_tokens

    short = client.chat.completions.create(model="my-policy", messages=CHAT, max_tokens=2, temperature=0)
    assert short.model == "my-policy"
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 2

    chunks = list(client.chat.completions.create(model="x", messages=CHAT, max_tokens=24, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1  # really incremental
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == plain.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens

    completion = client.completions.create(model="", prompt="The capital of France is", max_tokens=6, temperature=0)
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="", prompt="The capital of France is", max_tokens=6, temperature=0, stream=True) if c.choices)
    assert streamed == completion.choices[0].text and completion.usage.completion_tokens <= 6


@pytest.mark.slow
def test_stop_strings_never_leak_into_a_stream(smol_url):
    client = openai.OpenAI(base_url=smol_url, api_key="EMPTY")
    plain = client.chat.completions.create(model="", messages=CHAT, max_tokens=24, temperature=0)
    word = plain.choices[0].message.content.split()[-1][:3]  # a stop string the answer contains
    kwargs = dict(model="", messages=CHAT, max_tokens=24, temperature=0, stop=[word])
    cut = client.chat.completions.create(**kwargs)
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(**kwargs, stream=True)
                       if c.choices)
    assert streamed == cut.choices[0].message.content and word not in streamed


@pytest.mark.slow
def test_tools_are_rendered_into_smollm2s_prompt(smollm2):
    prompt = smollm2.render([*CHAT, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "search", "arguments": '{"query": "France"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "Paris is the capital of France."}], TOOLS)
    assert '"name": "search"' in prompt and "<tools>" in prompt
    assert '<tool_call>\n{"name": "search", "arguments": {"query": "France"}}\n</tool_call>' in prompt
    assert "<tool_response>\nParis is the capital of France.\n</tool_response>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_tool_calls_round_trip_through_the_sdk():
    model = ScriptedToolModel('Let me look.\n<tool_call>\n{"name": "search", "arguments": {"query": "capital of France"}}\n</tool_call>')
    with serve_openai_app(create_openai_app(model, "scripted")) as url:
        client = openai.OpenAI(base_url=url, api_key="EMPTY")
        answer = client.chat.completions.create(model="", messages=CHAT, tools=TOOLS)
        choice = answer.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content == "Let me look."
        (call,) = choice.message.tool_calls
        assert call.function.name == "search" and json.loads(call.function.arguments) == {"query": "capital of France"}
        assert call.id.startswith("call_")
        assert model.calls[-1][1][0]["function"]["name"] == "search"  # the tools reached the model

        # the next turn sends the call and its result back; both reach the prompt
        client.chat.completions.create(model="", tools=TOOLS, messages=[*CHAT, choice.message.model_dump(exclude_none=True),
                                       {"role": "tool", "tool_call_id": call.id, "content": "Paris"}])
        history = model.calls[-1][0][0]
        assert history[1]["tool_calls"][0]["function"]["name"] == "search" and history[2]["content"] == "Paris"

        chunks = list(client.chat.completions.create(model="", messages=CHAT, tools=TOOLS, stream=True))
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        assert "".join(d.content or "" for d in deltas) == "Let me look."
        (streamed_call,) = [tc for d in deltas for tc in (d.tool_calls or [])]
        assert streamed_call.function.name == "search" and streamed_call.index == 0
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"

        # tool_choice="none": no tools rendered, no call parsed
        plain = client.chat.completions.create(model="", messages=CHAT, tools=TOOLS, tool_choice="none")
        assert plain.choices[0].finish_reason == "stop" and plain.choices[0].message.tool_calls is None
        assert model.calls[-1][1] is None


@pytest.mark.slow
def test_verifiers_eval_client(smol_url):
    """verifiers' EvalClient and chat dialect: plain responses and relayed SSE streams."""
    vf_clients = pytest.importorskip("verifiers.v1.clients")
    from verifiers.v1.dialects.chat import ChatDialect
    from verifiers.v1.types import SamplingConfig

    async def exchange():
        client = vf_clients.EvalClient(vf_clients.EvalClientConfig(base_url=smol_url, api_key_var="NO_SUCH_KEY"))
        dialect = ChatDialect()
        body = {"model": "policy", "messages": CHAT, "max_tokens": 3, "temperature": 0}
        response = await client.get_response(dialect, body, SamplingConfig())
        relay = await client.relay(dialect, {**body, "stream": True, "stream_options": {"include_usage": True}})
        parser = dialect.stream_parser()
        async for event in relay.chunks:
            parser.feed(event)
        await relay.close()
        return response, parser.finish()

    response, streamed = asyncio.run(exchange())
    assert response.finish_reason == "length" and response.usage.completion_tokens == 3
    assert streamed.message.content == response.message.content
    assert streamed.finish_reason == "length" and streamed.usage.completion_tokens == 3
