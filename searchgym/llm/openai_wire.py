"""The OpenAI wire format of :mod:`searchgym.llm.openai_server`: request models and responses.

Why a module of its own: the server's endpoints, its SSE stream and the simulated-search server
(:mod:`searchgym.serve.sim`) build the same chat-completion objects, and every OpenAI client
(the official SDK, verifiers, ZeroSearch's ``ask_llm``) reads the same fields: ``choices``,
``message`` / ``delta``, ``tool_calls``, ``finish_reason``, ``usage``.

Requests are validated with pydantic; unknown OpenAI fields (``user``, ``frequency_penalty``,
...) are ignored, as most compatible servers do, so off-the-shelf clients keep working. The
``model`` name is free: any string is accepted (ZeroSearch sends ``model=''``), and the response
names the model the client asked for, or the served one when it asked for none.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_STOP_STRINGS = 16
MAX_STOP_CHARS = 256
MAX_CHOICES = 8


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

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}}


class TextPart(BaseModel):
    """OpenAI's content-part form; only text parts are meaningful to a text model."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    arguments: str | dict[str, Any] = "{}"


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)

    def to_prompt(self) -> dict[str, Any]:
        """The message as a chat prompt message (text content, tool calls as plain dicts)."""
        out: dict[str, Any] = {"role": self.role, "content": self.text()}
        if self.tool_calls:
            out["tool_calls"] = [call.model_dump() for call in self.tool_calls]
            if not out["content"]:
                out["content"] = None
        for key in ("name", "tool_call_id"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=256)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["function"] = "function"
    function: FunctionSpec


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class SamplingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = Field(None, max_length=512)
    temperature: float | None = Field(1.0, ge=0.0, le=2.0)
    top_p: float | None = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1, le=MAX_CHOICES)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    logprobs: bool | int | None = None
    include_stop_str_in_output: bool = False

    def stop_strings(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        stops = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        if len(stops) > MAX_STOP_STRINGS:
            raise APIError(400, f"at most {MAX_STOP_STRINGS} stop strings are allowed", param="stop")
        for stop in stops:
            if not stop or len(stop) > MAX_STOP_CHARS:
                raise APIError(400, f"stop strings must have 1 to {MAX_STOP_CHARS} characters", param="stop")
        return stops

    def check(self) -> None:
        """Refuse what this server cannot do honestly (rather than answer something else)."""
        if self.logprobs:
            raise APIError(400, "logprobs are not supported by this server", param="logprobs")
        if self.stream and self.n != 1:
            raise APIError(400, "streaming supports only n=1", param="n")

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(SamplingRequest):
    messages: list[Message] = Field(min_length=1, max_length=1024)
    max_completion_tokens: int | None = Field(None, ge=1)
    tools: list[ToolSpec] | None = Field(None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None

    def active_tools(self) -> list[dict[str, Any]]:
        """The tools to render: none for ``tool_choice="none"``, only the named one if named."""
        if not self.tools or self.tool_choice == "none":
            return []
        tools = [tool.model_dump(exclude_none=True) for tool in self.tools]
        if isinstance(self.tool_choice, dict):
            name = (self.tool_choice.get("function") or {}).get("name")
            chosen = [tool for tool in tools if tool["function"]["name"] == name]
            if not chosen:
                raise APIError(400, f"tool_choice names {name!r}, which is not in tools", param="tool_choice")
            return chosen
        return tools


class CompletionRequest(SamplingRequest):
    prompt: str | list[str]


# ------------------------------------------------------------------------------------ responses


def completion_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def usage(prompt_tokens: int | None, completion_tokens: list[int | None]) -> dict[str, int] | None:
    """OpenAI ``usage``; None when the backend cannot count tokens."""
    if prompt_tokens is None or any(count is None for count in completion_tokens):
        return None
    completion = sum(int(count) for count in completion_tokens if count is not None)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion}


def chat_message(text: str, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def chat_completion(
    model: str, choices: list[dict[str, Any]], usage_: dict[str, int] | None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = {
        "id": completion_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage_,
    }
    return {**body, **(extra or {})}


def sse(data: dict[str, Any] | str) -> str:
    """One server-sent event (``data: ...`` and a blank line)."""
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


class ChunkWriter:
    """Builds the ``chat.completion.chunk`` / ``text_completion`` events of one streamed answer."""

    def __init__(self, model: str, chat: bool) -> None:
        self.model = model
        self.chat = chat
        self.id = completion_id("chatcmpl" if chat else "cmpl")
        self.created = int(time.time())

    def _event(self, choice: dict[str, Any], usage_: dict[str, int] | None = None) -> str:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk" if self.chat else "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice] if choice else [],
        }
        if usage_ is not None or not choice:
            body["usage"] = usage_
        return sse(body)

    def start(self) -> str:
        return self._event({"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None})

    def text(self, delta: str) -> str:
        if self.chat:
            return self._event({"index": 0, "delta": {"content": delta}, "finish_reason": None})
        return self._event({"index": 0, "text": delta, "logprobs": None, "finish_reason": None})

    def finish(self, finish_reason: str, stop_reason: str | None, tool_calls: list[dict[str, Any]]) -> str:
        if not self.chat:
            return self._event(
                {"index": 0, "text": "", "logprobs": None, "finish_reason": finish_reason, "stop_reason": stop_reason}
            )
        delta: dict[str, Any] = {}
        if tool_calls:
            delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(tool_calls)]
        return self._event({"index": 0, "delta": delta, "finish_reason": finish_reason, "stop_reason": stop_reason})

    def usage(self, usage_: dict[str, int] | None) -> str:
        return self._event({}, usage_)

    @staticmethod
    def error(error: APIError) -> str:
        return sse(error.body())

    @staticmethod
    def done() -> str:
        return sse("[DONE]")
