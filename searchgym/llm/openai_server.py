"""An OpenAI-compatible HTTP server over any :class:`~searchgym.llm.base.TextGenerator`.

Why: agent harnesses and eval tools speak the OpenAI API — verifiers' ``vf-eval``, the official
``openai`` SDK, ZeroSearch's simulator calls, our own
:class:`~searchgym.llm.openai_backend.OpenAIChatGenerator`. ``searchgym serve-llm`` puts the
bundled SmolLM2 (or any local model) behind it, so those clients run unchanged on a CPU box.

Supported: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (a string or a list of
strings as ``prompt``), each with ``stream`` (server-sent events; ``stream_options.include_usage``
adds the usage chunk) and ``n`` (up to 8 choices, one seed each: ``seed + i``); ``GET
/v1/models``. Chat requests may carry ``tools``: they are rendered into the model's chat template
(a ChatML template that drops them is swapped for searchgym's tool-capable one), and Hermes-style
``<tool_call>{...}</tool_call>`` blocks in the output come back as ``tool_calls`` with
``finish_reason: "tool_calls"``. ``tool_choice="none"`` renders no tools; a named tool_choice
renders only that tool (a model cannot be forced to call it). ``finish_reason`` is ``"length"``
when the token budget ran out and ``usage`` counts tokens, for generators that report them
(:class:`~searchgym.llm.transformers_backend.TransformersGenerator` does). Any ``model`` name is
accepted. Refused with 400: ``logprobs``, and ``n > 1`` with ``stream``.

Like vLLM, a choice reports the matched stop string as ``stop_reason``, and
``include_stop_str_in_output`` keeps it in the text. Errors use OpenAI's format
(``{"error": {"message", "type", "param", "code"}}``); sizes are capped so one request cannot
monopolise the model. Endpoints are plain ``def`` functions (FastAPI runs them in its thread
pool), so a blocking generator never stalls the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from searchgym.llm.base import Generation, GenerationConfig, LLMError, LLMRequestError, TextGenerator, matched_stop
from searchgym.llm.chat_template import split_tool_calls
from searchgym.llm.openai_wire import (
    APIError,
    ChatCompletionRequest,
    ChunkWriter,
    CompletionRequest,
    SamplingRequest,
    chat_completion,
    chat_message,
    completion_id,
    usage,
)

logger = logging.getLogger(__name__)

__all__ = ["APIError", "create_openai_app", "run_openai_server"]


def create_openai_app(
    generator: TextGenerator,
    model_name: str,
    *,
    max_tokens_limit: int = 4096,
    default_max_tokens: int = 256,
    max_prompt_chars: int = 200_000,
    max_batch: int = 64,
    max_body_bytes: int = 8 * 1024 * 1024,
) -> FastAPI:
    """Build the FastAPI app serving ``generator`` as the model ``model_name``.

    ``max_tokens_limit`` caps ``max_tokens``; ``max_prompt_chars`` caps the text of one prompt
    (all messages together); ``max_batch`` caps the prompts of one ``/v1/completions`` call;
    ``max_body_bytes`` rejects oversized bodies (by ``Content-Length``) before parsing.
    """
    app = FastAPI(title="searchgym OpenAI-compatible server", version="2")
    created = int(time.time())
    add_error_handlers(app, max_body_bytes)

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": model_name, "object": "model", "created": created, "owned_by": "searchgym"}],
        }

    @app.post("/v1/chat/completions", response_model=None)
    def chat_completions(request: ChatCompletionRequest) -> Any:
        request.check()
        messages = [message.to_prompt() for message in request.messages]
        if sum(len(m["content"] or "") for m in messages) > max_prompt_chars:
            raise APIError(400, f"messages exceed {max_prompt_chars} characters", param="messages")
        tools = request.active_tools()
        config = sampling_config(
            request, request.max_completion_tokens or request.max_tokens, default_max_tokens, max_tokens_limit
        )
        name = request.model or model_name
        if request.stream:
            return sse_response(stream_chat(generator, messages, config, tools, request, name))
        outputs = run(generator, [messages] * request.n, config, tools)
        choices = []
        for index, output in enumerate(outputs):
            text, stop_reason = finish_text(output.text, config.stop, request.include_stop_str_in_output)
            content, calls = split_tool_calls(text) if tools else (text, [])
            choices.append(
                {
                    "index": index,
                    "message": chat_message(content, calls),
                    "finish_reason": "tool_calls" if calls else output.finish_reason,
                    "stop_reason": stop_reason,
                    "logprobs": None,
                }
            )
        return chat_completion(name, choices, usage(outputs[0].prompt_tokens, [o.completion_tokens for o in outputs]))

    @app.post("/v1/completions", response_model=None)
    def completions(request: CompletionRequest) -> Any:
        request.check()
        prompts = [request.prompt] if isinstance(request.prompt, str) else list(request.prompt)
        if not prompts:
            raise APIError(400, "prompt must not be an empty list", param="prompt")
        if len(prompts) * request.n > max_batch:
            raise APIError(400, f"at most {max_batch} prompts x n per request", param="prompt")
        if any(len(prompt) > max_prompt_chars for prompt in prompts):
            raise APIError(400, f"a prompt exceeds {max_prompt_chars} characters", param="prompt")
        # OpenAI's documented default for /v1/completions is 16 tokens.
        config = sampling_config(request, request.max_tokens, 16, max_tokens_limit)
        name = request.model or model_name
        if request.stream:
            if len(prompts) != 1:
                raise APIError(400, "streaming supports one prompt", param="prompt")
            return sse_response(stream_completion(generator, prompts[0], config, request, name))
        expanded = [prompt for prompt in prompts for _ in range(request.n)]
        outputs = run(generator, expanded, config, None, per_prompt_seeds=request.n)
        choices = []
        for index, output in enumerate(outputs):
            text, stop_reason = finish_text(output.text, config.stop, request.include_stop_str_in_output)
            choices.append(
                {
                    "index": index,
                    "text": text,
                    "logprobs": None,
                    "finish_reason": output.finish_reason,
                    "stop_reason": stop_reason,
                }
            )
        prompt_tokens = (
            None
            if any(o.prompt_tokens is None for o in outputs)
            else sum(int(o.prompt_tokens or 0) for o in outputs[:: request.n])
        )
        return {
            "id": completion_id("cmpl"),
            "object": "text_completion",
            "created": int(time.time()),
            "model": name,
            "choices": choices,
            "usage": usage(prompt_tokens, [o.completion_tokens for o in outputs]),
        }

    return app


def add_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    """OpenAI-format errors for :class:`APIError`, validation errors and oversized bodies."""

    @app.exception_handler(APIError)
    async def _api_error(_: Request, error: APIError) -> JSONResponse:
        return JSONResponse(status_code=error.status_code, content=error.body())

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors()[:5]:
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            problems.append(f"{where or 'body'}: {item.get('msg')}")
        first = error.errors()[0].get("loc", ()) if error.errors() else ()
        param = ".".join(str(part) for part in first if part != "body") or None
        problem = APIError(400, "invalid request: " + "; ".join(problems), param=param)
        return JSONResponse(status_code=400, content=problem.body())

    @app.middleware("http")
    async def _limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            problem = APIError(413, f"request body exceeds {max_body_bytes} bytes", code="body_too_large")
            return JSONResponse(status_code=413, content=problem.body())
        return await call_next(request)


def run_openai_server(
    generator: TextGenerator, model_name: str, host: str = "127.0.0.1", port: int = 8000, **app_options: Any
) -> None:
    """Serve ``generator`` with uvicorn until interrupted (blocking)."""
    import uvicorn

    uvicorn.run(create_openai_app(generator, model_name, **app_options), host=host, port=port)


# ------------------------------------------------------------------------------- generation


def sampling_config(request: SamplingRequest, max_tokens: int | None, default: int, limit: int) -> GenerationConfig:
    if max_tokens is not None and max_tokens > limit:
        raise APIError(400, f"max_tokens must be <= {limit}, got {max_tokens}", param="max_tokens")
    return GenerationConfig(
        max_new_tokens=max_tokens if max_tokens is not None else min(default, limit),
        temperature=1.0 if request.temperature is None else request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        stop=request.stop_strings(),
        seed=request.seed,
        include_stop=True,  # so the server can tell which stop string matched
    )


def run(
    generator: TextGenerator,
    prompts: list[Any],
    config: GenerationConfig,
    tools: Sequence[dict[str, Any]] | None,
    per_prompt_seeds: int | None = None,
) -> list[Generation]:
    """Generate with finish reasons and token counts when the generator reports them.

    Copies of one prompt (``n`` choices) get seeds ``seed + i``, so choice 0 equals an ``n=1``
    call with the same seed and the copies sample differently.
    """
    group = per_prompt_seeds or len(prompts)
    if group > 1 and config.seed is not None:
        config = GenerationConfig(
            **{**config.__dict__, "seeds": tuple(config.seed + index % group for index in range(len(prompts)))}
        )
    try:
        detailed = getattr(generator, "generate_detailed", None)
        if detailed is not None:
            return list(detailed(prompts, config, tools=tools) if tools else detailed(prompts, config))
        if tools:
            raise APIError(
                400, f"this server's generator ({type(generator).__name__}) cannot render tools", param="tools"
            )
        return [Generation(text) for text in generator.generate(prompts, config)]
    except LLMRequestError as error:
        raise APIError(400, str(error)) from error
    except LLMError as error:
        logger.exception("generation failed")
        raise APIError(500, f"generation failed: {error}", error_type="server_error") from error


def finish_text(text: str, stops: Sequence[str], keep_stop: bool) -> tuple[str, str | None]:
    """Report and (unless asked to keep it) strip the matched stop string."""
    stop = matched_stop(text, stops) if stops else None
    if stop is not None and not keep_stop:
        text = text[: -len(stop)]
    return text, stop


# ------------------------------------------------------------------------------- streaming


def sse_response(events: Iterator[str]) -> StreamingResponse:
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def token_stream(
    generator: TextGenerator, prompt: Any, config: GenerationConfig, tools: Sequence[dict[str, Any]] | None
) -> Iterator[str | Generation]:
    """Text deltas then the final :class:`Generation`; generators without ``stream`` give one
    delta at the end (the protocol is the same, only the first byte comes later)."""
    stream = getattr(generator, "stream", None)
    if stream is not None:
        yield from (stream(prompt, config, tools=tools) if tools else stream(prompt, config))
        return
    (output,) = run(generator, [prompt], config, tools)
    yield output.text
    yield output


def safe_prefix(text: str, stops: Sequence[str]) -> int:
    """How much of a growing text can be sent: never a stop string, nor what may become one."""
    cut = min((position for position in (text.find(stop) for stop in stops) if position >= 0), default=None)
    if cut is not None:
        return cut
    hold = max((len(stop) for stop in stops), default=1) - 1
    return max(0, len(text) - hold)


def stream_events(
    writer: ChunkWriter,
    generator: TextGenerator,
    prompt: Any,
    config: GenerationConfig,
    tools: Sequence[dict[str, Any]],
    keep_stop: bool,
    include_usage: bool,
) -> Iterator[str]:
    """The SSE events of one streamed choice. With tools the text is sent once it is parsed
    (tool calls in one delta, as clients assemble them anyway)."""
    if writer.chat:
        yield writer.start()
    raw, sent = "", 0
    try:
        for event in token_stream(generator, prompt, config, tools):
            if isinstance(event, Generation):
                final = event
                break
            raw += event
            ready = safe_prefix(raw, config.stop) if not tools else 0
            if ready > sent:
                yield writer.text(raw[sent:ready])
                sent = ready
        else:  # pragma: no cover - token_stream always ends with a Generation
            raise LLMError("the generator's stream ended without a result")
    except (APIError, LLMError) as error:
        problem = (
            error
            if isinstance(error, APIError)
            else APIError(400 if isinstance(error, LLMRequestError) else 500, str(error))
        )
        yield writer.error(problem)
        yield writer.done()
        return
    text, stop_reason = finish_text(final.text, config.stop, keep_stop)
    content, calls = split_tool_calls(text) if tools else (text, [])
    if content[sent:]:
        yield writer.text(content[sent:])
    yield writer.finish("tool_calls" if calls else final.finish_reason, stop_reason, calls)
    if include_usage:
        yield writer.usage(usage(final.prompt_tokens, [final.completion_tokens]))
    yield writer.done()


def stream_chat(
    generator: TextGenerator,
    messages: list[dict[str, Any]],
    config: GenerationConfig,
    tools: list[dict[str, Any]],
    request: ChatCompletionRequest,
    model: str,
) -> Iterator[str]:
    return stream_events(
        ChunkWriter(model, chat=True),
        generator,
        messages,
        config,
        tools,
        request.include_stop_str_in_output,
        request.include_usage,
    )


def stream_completion(
    generator: TextGenerator, prompt: str, config: GenerationConfig, request: CompletionRequest, model: str
) -> Iterator[str]:
    return stream_events(
        ChunkWriter(model, chat=False),
        generator,
        prompt,
        config,
        [],
        request.include_stop_str_in_output,
        request.include_usage,
    )
