"""A minimal OpenAI-compatible HTTP server over any :class:`~searchgym.llm.base.TextGenerator`.

Why: agents and tools written against the OpenAI API (including our own
:class:`~searchgym.llm.openai_backend.OpenAIChatGenerator`) can then use the local SmolLM2 model,
or any other generator, unchanged; it is also the real server the HTTP backend is tested against.

Supported: ``POST /v1/chat/completions``, ``POST /v1/completions`` (a string or a list of
strings as ``prompt``), ``GET /v1/models``. Not supported (answered with 400): streaming and
``n > 1``. Requests are validated with pydantic; bad input gets a 4xx in OpenAI's error format
(``{"error": {"message", "type", "param", "code"}}``) and sizes are capped so one request cannot
monopolise the model. Like vLLM, a choice reports the matched stop string as ``stop_reason``, and
``include_stop_str_in_output`` keeps it in the text. ``finish_reason`` is always ``"stop"``
because a ``TextGenerator`` does not say whether it hit the token limit; ``usage`` is omitted
because it does not report token counts either.

Endpoints are plain ``def`` functions, so FastAPI runs them in its thread pool and a blocking
generator never stalls the event loop; a generator that is not thread-safe must lock itself
(``TransformersGenerator`` does).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Literal, Union

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from searchgym.llm.base import (
    GenerationConfig,
    LLMError,
    LLMRequestError,
    TextGenerator,
    matched_stop,
)

logger = logging.getLogger(__name__)

MAX_STOP_STRINGS = 16
MAX_STOP_CHARS = 256


class APIError(Exception):
    """An error answered to the client in OpenAI's format."""

    def __init__(
        self,
        status_code: int,
        message: str,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.error_type = error_type
        self.param = param
        self.code = code


class TextPart(BaseModel):
    """OpenAI's content-part form; only text parts are meaningful to a text model."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[TextPart], None] = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class _SamplingRequest(BaseModel):
    # Unknown OpenAI fields (user, frequency_penalty, logprobs, ...) are ignored, like most
    # OpenAI-compatible servers do, so off-the-shelf clients keep working.
    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=256)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    stop: Union[str, list[str], None] = None
    seed: int | None = None
    n: int = Field(1, ge=1)
    stream: bool = False
    include_stop_str_in_output: bool = False

    def stop_strings(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        stops = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        if len(stops) > MAX_STOP_STRINGS:
            raise APIError(
                400, f"at most {MAX_STOP_STRINGS} stop strings are allowed", param="stop"
            )
        for stop in stops:
            if not stop or len(stop) > MAX_STOP_CHARS:
                raise APIError(
                    400, f"stop strings must have 1 to {MAX_STOP_CHARS} characters", param="stop"
                )
        return stops


class ChatCompletionRequest(_SamplingRequest):
    messages: list[Message] = Field(min_length=1, max_length=1024)
    max_completion_tokens: int | None = Field(None, ge=1)


class CompletionRequest(_SamplingRequest):
    prompt: Union[str, list[str]]


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
    """Build the FastAPI app serving ``generator`` under the model id ``model_name``.

    ``max_tokens_limit`` caps ``max_tokens``; ``max_prompt_chars`` caps the text of one prompt
    (all messages together); ``max_batch`` caps the prompts of one ``/v1/completions`` call;
    ``max_body_bytes`` rejects oversized bodies (by ``Content-Length``) before parsing.
    """
    app = FastAPI(title="searchgym OpenAI-compatible server", version="1")
    created = int(time.time())

    @app.exception_handler(APIError)
    async def _api_error(_: Request, error: APIError) -> JSONResponse:
        return _error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors()[:5]:
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            problems.append(f"{where or 'body'}: {item.get('msg')}")
        first = error.errors()[0].get("loc", ()) if error.errors() else ()
        param = ".".join(str(part) for part in first if part != "body") or None
        message = "invalid request: " + "; ".join(problems)
        return _error_response(APIError(400, message, param=param))

    @app.middleware("http")
    async def _limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            return _error_response(
                APIError(413, f"request body exceeds {max_body_bytes} bytes", code="body_too_large")
            )
        return await call_next(request)

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": model_name, "object": "model", "created": created, "owned_by": "searchgym"}
            ],
        }

    @app.post("/v1/chat/completions")
    def chat_completions(request: ChatCompletionRequest) -> dict[str, Any]:
        _check_common(request, model_name)
        messages = [{"role": m.role, "content": m.text()} for m in request.messages]
        if sum(len(m["content"]) for m in messages) > max_prompt_chars:
            raise APIError(400, f"messages exceed {max_prompt_chars} characters", param="messages")
        max_tokens = request.max_completion_tokens or request.max_tokens
        config = _config(request, max_tokens, default_max_tokens, max_tokens_limit)
        [(text, stop_reason)] = _run(
            generator, [messages], config, request.include_stop_str_in_output
        )
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                    "stop_reason": stop_reason,
                }
            ],
        }

    @app.post("/v1/completions")
    def completions(request: CompletionRequest) -> dict[str, Any]:
        _check_common(request, model_name)
        prompts = [request.prompt] if isinstance(request.prompt, str) else list(request.prompt)
        if not prompts:
            raise APIError(400, "prompt must not be an empty list", param="prompt")
        if len(prompts) > max_batch:
            raise APIError(400, f"at most {max_batch} prompts per request", param="prompt")
        if any(len(prompt) > max_prompt_chars for prompt in prompts):
            raise APIError(400, f"a prompt exceeds {max_prompt_chars} characters", param="prompt")
        # OpenAI's documented default for /v1/completions is 16 tokens.
        config = _config(request, request.max_tokens, 16, max_tokens_limit)
        outputs = _run(generator, prompts, config, request.include_stop_str_in_output)
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": [
                {
                    "index": index,
                    "text": text,
                    "logprobs": None,
                    "finish_reason": "stop",
                    "stop_reason": stop_reason,
                }
                for index, (text, stop_reason) in enumerate(outputs)
            ],
        }

    return app


def run_openai_server(
    generator: TextGenerator,
    model_name: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    **app_options: Any,
) -> None:
    """Serve ``generator`` with uvicorn until interrupted (blocking)."""
    import uvicorn

    uvicorn.run(create_openai_app(generator, model_name, **app_options), host=host, port=port)


def _check_common(request: _SamplingRequest, model_name: str) -> None:
    if request.model != model_name:
        raise APIError(
            404,
            f"the model {request.model!r} does not exist; this server serves {model_name!r}",
            param="model",
            code="model_not_found",
        )
    if request.stream:
        raise APIError(400, "streaming is not supported by this server", param="stream")
    if request.n != 1:
        raise APIError(400, "only n=1 is supported by this server", param="n")


def _config(
    request: _SamplingRequest, max_tokens: int | None, default: int, limit: int
) -> GenerationConfig:
    if max_tokens is not None and max_tokens > limit:
        raise APIError(400, f"max_tokens must be <= {limit}, got {max_tokens}", param="max_tokens")
    return GenerationConfig(
        max_new_tokens=max_tokens if max_tokens is not None else min(default, limit),
        temperature=request.temperature,
        top_p=request.top_p,
        stop=request.stop_strings(),
        seed=request.seed,
        include_stop=True,  # so the server can tell which stop string matched
    )


def _run(
    generator: TextGenerator,
    prompts: list[Any],
    config: GenerationConfig,
    include_stop: bool,
) -> list[tuple[str, str | None]]:
    """Generate, then report and (unless asked to keep it) strip the matched stop string."""
    try:
        texts = generator.generate(prompts, config)
    except LLMRequestError as error:
        raise APIError(400, str(error)) from error
    except LLMError as error:
        logger.exception("generation failed")
        raise APIError(500, f"generation failed: {error}", error_type="server_error") from error
    outputs = []
    for text in texts:
        stop = matched_stop(text, config.stop) if config.stop else None
        if stop is not None and not include_stop:
            text = text[: -len(stop)]
        outputs.append((text, stop))
    return outputs


def _error_response(error: APIError) -> JSONResponse:
    return JSONResponse(
        status_code=error.status_code,
        content={
            "error": {
                "message": error.message,
                "type": error.error_type,
                "param": error.param,
                "code": error.code,
            }
        },
    )
