"""Text generation through an OpenAI-compatible HTTP endpoint (vLLM, SGLang, llama.cpp, OpenAI,
or ``searchgym.llm.openai_server``), spoken with plain ``httpx``.

Why not the ``openai`` package: one more heavy dependency for two POST requests, and its retry and
timeout defaults are not the ones RL rollouts want. Here a batch fans out over a small thread pool
(the servers batch concurrent requests themselves), transient failures (429, 5xx, connection
errors, timeouts) are retried with capped exponential backoff, and every other 4xx becomes an
:class:`~searchgym.llm.base.LLMError` carrying the server's own message.

Stop strings: OpenAI-style servers strip the matched stop string from the output. Servers that
report which string matched (``stop_reason`` in vLLM and searchgym's server, ``matched_stop`` in
SGLang) get it appended back when ``config.include_stop`` is true; plain OpenAI does not report
it, so there the stop string cannot be restored.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import httpx

from searchgym.llm.base import (
    GenerationConfig,
    LLMError,
    LLMRequestError,
    Prompt,
    apply_stop,
    validate_prompts,
)

logger = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIChatGenerator:
    """``TextGenerator`` over ``/chat/completions`` (default) or ``/completions``.

    ``base_url`` is the API root including the version, e.g. ``http://127.0.0.1:8000/v1``.
    ``api_key`` defaults to ``$OPENAI_API_KEY`` (no Authorization header when unset).
    In ``"chat"`` mode raw-text prompts are sent as a single user message; in ``"completions"``
    mode only raw-text prompts are accepted (chat templates are the server's business).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        concurrency: int = 8,
        *,
        mode: Literal["chat", "completions"] = "chat",
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise LLMError(f"base_url must start with http:// or https://, got {base_url!r}")
        if mode not in ("chat", "completions"):
            raise ValueError(f"mode must be 'chat' or 'completions', got {mode!r}")
        if max_retries < 0 or concurrency < 1:
            raise ValueError("max_retries must be >= 0 and concurrency >= 1")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.mode = mode
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.backoff = backoff
        self.max_backoff = max_backoff
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers=headers,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        path = "/chat/completions" if self.mode == "chat" else "/completions"
        return self.base_url + path

    def __repr__(self) -> str:
        return f"OpenAIChatGenerator({self.endpoint!r}, model={self.model!r})"

    def __enter__(self) -> OpenAIChatGenerator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool and worker threads."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
        self._client.close()

    def generate(self, prompts: Sequence[Prompt], config: GenerationConfig | None = None) -> list[str]:
        """One completion per prompt, requested concurrently; the first failure is raised."""
        config = config if config is not None else GenerationConfig()
        prompts = validate_prompts(prompts)
        payloads = [self._payload(prompt, index, config, len(prompts)) for index, prompt in enumerate(prompts)]
        if len(payloads) <= 1:
            return [self._complete(payload, config) for payload in payloads]
        futures = [self._executor().submit(self._complete, p, config) for p in payloads]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def list_models(self) -> list[str]:
        """Model ids served at ``base_url`` (``GET /models``); handy as a health check."""
        body = self._request("GET", self.base_url + "/models", None)
        return [str(item.get("id")) for item in body.get("data", []) if isinstance(item, dict)]

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="searchgym-openai")
            return self._pool

    def _payload(self, prompt: Prompt, index: int, config: GenerationConfig, count: int = 1) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "max_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
        }
        if self.mode == "chat":
            messages = (
                [{"role": "user", "content": prompt}]
                if isinstance(prompt, str)
                else [{"role": m["role"], "content": m["content"]} for m in prompt]
            )
            payload["messages"] = messages
        else:
            if not isinstance(prompt, str):
                raise LLMRequestError(
                    f"prompt {index}: completions mode takes raw text prompts; use mode='chat' for chat message lists"
                )
            payload["prompt"] = prompt
        if config.stop:
            payload["stop"] = list(config.stop)
        seed = config.prompt_seed(index, count)  # per-prompt seeds: GRPO twins sample differently
        if seed is not None:
            payload["seed"] = seed
        return payload

    def _complete(self, payload: dict[str, Any], config: GenerationConfig) -> str:
        body = self._request("POST", self.endpoint, payload)
        try:
            choice = body["choices"][0]
            if self.mode == "chat":
                text = choice["message"].get("content") or ""
            else:
                text = choice.get("text") or ""
        except (KeyError, IndexError, TypeError, AttributeError) as error:
            raise LLMError(f"{self.endpoint} returned an unexpected body: {str(body)[:500]}") from error
        if not isinstance(text, str):
            raise LLMError(f"{self.endpoint} returned non-text content: {text!r:.200}")
        # Servers that ignore `stop` still get their output cut; servers that strip the matched
        # stop string and say which one it was get it restored.
        text = apply_stop(text, config.stop, config.include_stop)
        matched = choice.get("stop_reason") or choice.get("matched_stop")
        if config.include_stop and isinstance(matched, str) and matched in config.stop and not text.endswith(matched):
            text += matched
        return text

    def _request(self, method: str, url: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        """One HTTP call with retries on transient failures; returns the JSON body."""
        last_problem = "no attempt made"
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                response = self._client.request(method, url, json=payload)
            except httpx.TransportError as error:  # connection refused/reset, timeouts, DNS
                last_problem = f"{type(error).__name__}: {error}"
            else:
                if response.status_code < 400:
                    try:
                        body = response.json()
                    except ValueError as error:
                        raise LLMError(f"{url} returned invalid JSON: {response.text[:300]}") from error
                    if not isinstance(body, dict):
                        raise LLMError(f"{url} returned unexpected JSON: {str(body)[:300]}")
                    return body
                message = _error_message(response)
                if response.status_code not in RETRY_STATUS:
                    error_type = LLMRequestError if response.status_code < 500 else LLMError
                    raise error_type(f"{url} answered HTTP {response.status_code}: {message}")
                last_problem = f"HTTP {response.status_code}: {message}"
                retry_after = _retry_after_seconds(response)
            if attempt < self.max_retries:
                delay = min(self.max_backoff, self.backoff * (2**attempt))
                if retry_after is not None:
                    delay = min(self.max_backoff, max(delay, retry_after))
                logger.warning(
                    "%s failed (%s); retry %d/%d in %.2fs",
                    url,
                    last_problem,
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                time.sleep(delay)
        raise LLMError(f"{url} failed after {self.max_retries + 1} attempts: {last_problem}")


def _error_message(response: httpx.Response) -> str:
    """The server's error text: OpenAI ``{"error": {"message"}}``, FastAPI ``detail``, or raw."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if "detail" in body:
            return str(body["detail"])[:500]
        if "message" in body:
            return str(body["message"])[:500]
    return str(body)[:500]


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
