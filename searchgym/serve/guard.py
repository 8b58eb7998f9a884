"""The retrieval server's armour: one ASGI middleware between the network and the app.

Why a middleware of its own: a retrieval server shared by a training job's rollout workers is
also reachable by whatever else runs on the machine or the cluster. Before this guard, 40
max-size requests whose clients hung up made the next honest request wait 9.4 s (the engine
answered every one of them), 300 stalled 1 MB uploads held 270 MB, and nothing limited how many
requests ran at once. :class:`RequestGuard` does, in this order, for every HTTP request:

1. **API key** (optional, :attr:`GuardOptions.api_key`): ``/retrieve``, ``/access`` and the
   ``/doc/<id>`` pages need
   ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` (401 otherwise, compared in constant
   time). ``/health`` and the docs stay open, for probes.
2. **Bounded bodies**: the body must arrive within ``body_timeout_s`` (``408`` otherwise: a
   stalled upload holds its buffer for seconds, not forever), be at most ``max_body_bytes``
   (``413``), and the bodies being received together hold at most ``max_buffered_bytes``
   (``503`` for a large body that would exceed it). Bodies up to ``small_body_bytes`` are
   always admitted, so honest clients (a Search-R1 request is a few hundred bytes) get through
   while hundreds of stalled uploads wait for their timeout.
3. **Bounded concurrency**: at most ``max_concurrent`` requests are handled (past their body)
   at once; one more is answered ``503`` with ``Retry-After`` at once (searchgym's and most
   clients retry 503). Requests still receiving their body do not hold these slots, so
   stalled uploads cannot lock honest clients out.
4. **Cancel on disconnect**: while the app works on a request, the guard listens for the
   client's ``http.disconnect`` and cancels the request's task. A search still waiting for its
   batch is then dropped by the batcher before it reaches the engine.

It also gives the app :func:`parse_json_body` (JSON that can only fail with a 4xx: bad UTF-8,
lone surrogates, numbers past Python's digit limit, nesting past the recursion limit) and
:class:`SafeJSONResponse` (a response that can always be rendered, so an error handler never
raises while reporting an error).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from math import isfinite
from typing import Any

from fastapi.responses import JSONResponse

from searchgym.search.remote import API_KEY_ENV

__all__ = [
    "API_KEY_ENV",
    "ClientError",
    "GuardOptions",
    "GuardStats",
    "RequestGuard",
    "SafeJSONResponse",
    "parse_json_body",
]

PROTECTED_PATHS = ("/retrieve", "/access")
PROTECTED_PREFIXES = ("/doc/",)  # the pages result urls point at
_NO_BODY_METHODS = ("GET", "HEAD", "OPTIONS")
_MAX_JSON_DEPTH = 64

Message = MutableMapping[str, Any]  # ASGI's (and Starlette's) message and scope type
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientError(ValueError):
    """A request the server refuses: ``status`` (4xx or 503) and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class GuardOptions:
    """Limits and access control of :class:`RequestGuard` (see the module doc)."""

    api_key: str | None = None
    max_concurrent: int = 64
    body_timeout_s: float = 10.0
    max_body_bytes: int = 1_000_000
    max_buffered_bytes: int = 64_000_000
    small_body_bytes: int = 65_536
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        for name in ("max_concurrent", "max_body_bytes", "max_buffered_bytes", "small_body_bytes", "retry_after_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GuardOptions.{name} must be a positive int, got {value!r}")
        if not (
            isinstance(self.body_timeout_s, (int, float)) and isfinite(self.body_timeout_s) and self.body_timeout_s > 0
        ):
            raise ValueError(f"GuardOptions.body_timeout_s must be a positive number, got {self.body_timeout_s!r}")
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key.strip()):
            raise ValueError("GuardOptions.api_key must be a non-empty string or None")

    def public(self) -> dict[str, Any]:
        """The limits, for ``/health`` (never the key itself)."""
        return {
            "auth": self.api_key is not None,
            "max_concurrent": self.max_concurrent,
            "body_timeout_s": self.body_timeout_s,
            "max_buffered_bytes": self.max_buffered_bytes,
            "small_body_bytes": self.small_body_bytes,
        }


@dataclass
class GuardStats:
    """What the guard refused or cancelled, shown in ``/health``."""

    rejected_busy: int = 0
    rejected_auth: int = 0
    body_timeouts: int = 0
    cancelled: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class SafeJSONResponse(JSONResponse):
    """A JSON response that always renders: non-ASCII escaped (so a lone surrogate echoed from
    a request cannot break UTF-8 encoding) and non-finite floats written as ``null``."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
        except ValueError:  # NaN or infinity somewhere
            text = json.dumps(_finite(content), ensure_ascii=True, separators=(",", ":"))
        return text.encode("ascii")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def error_response(status: int, message: str, **extra: Any) -> SafeJSONResponse:
    headers = {"Retry-After": "1"} if status == 503 else None
    return SafeJSONResponse({"detail": message, **extra}, status_code=status, headers=headers)


def parse_json_body(raw: bytes) -> Any:
    """Decode a request body as JSON; every failure is a :class:`ClientError` (422).

    Beyond malformed JSON this refuses what ``json.loads`` accepts or crashes on: nesting
    deeper than 64 levels (checked before parsing, so no ``RecursionError``), integers past
    Python's digit limit (a ``ValueError`` in ``json.loads``) and strings holding lone
    surrogates (``"\\ud800"``: valid JSON, but no UTF-8 text, so it could not be echoed back).
    """
    if not raw.strip():
        raise ClientError(422, "request body is empty: send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ClientError(
            422, f"request body is not valid JSON: not UTF-8 ({error.reason} at byte {error.start})"
        ) from None
    depth = _max_depth(text)
    if depth > _MAX_JSON_DEPTH:
        raise ClientError(422, f"request body nests {depth} levels deep; at most {_MAX_JSON_DEPTH} are allowed")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ClientError(422, f"request body is not valid JSON: {error}") from None
    except (ValueError, RecursionError) as error:  # e.g. "Exceeds the limit (4300 digits)"
        raise ClientError(422, f"request body holds a value that cannot be read: {str(error)[:200]}") from None
    if _has_lone_surrogate(data):
        raise ClientError(422, "request body holds a string with a lone UTF-16 surrogate (e.g. \\ud800)")
    return data


def _max_depth(text: str) -> int:
    """Bracket nesting depth outside strings (a linear scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _has_lone_surrogate(data: Any) -> bool:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class RequestGuard:
    """ASGI middleware enforcing :class:`GuardOptions` (see the module doc)."""

    def __init__(self, app: Any, options: GuardOptions, stats: GuardStats | None = None) -> None:
        self.app = app
        self.options = options
        self.stats = stats if stats is not None else GuardStats()
        self.active = 0
        self.buffered = 0

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        protected = path.rstrip("/") in PROTECTED_PATHS or path.startswith(PROTECTED_PREFIXES)
        if self.options.api_key is not None and protected:
            if not self._authorised(scope):
                self.stats.rejected_auth += 1
                await self._respond(
                    send,
                    ClientError(
                        401, "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
                    ),
                )
                return
        body = b""
        if scope.get("method") not in _NO_BODY_METHODS:
            try:
                received = await self._read_body(scope, receive)
            except ClientError as error:
                await self._respond(send, error)
                return
            if received is None:  # the client left while sending
                return
            body = received
        if self.active >= self.options.max_concurrent:
            self.stats.rejected_busy += 1
            await self._respond(
                send,
                ClientError(
                    503,
                    f"server busy: {self.active} requests in progress (max_concurrent "
                    f"{self.options.max_concurrent}); retry shortly",
                ),
            )
            return
        self.active += 1
        try:
            if scope.get("method") in _NO_BODY_METHODS:
                await self.app(scope, receive, send)
            else:
                await self._run_cancellable(scope, body, receive, send)
        finally:
            self.active -= 1

    # ------------------------------------------------------------------ admission

    def _authorised(self, scope: Message) -> bool:
        expected = self.options.api_key.encode("utf-8")  # type: ignore[union-attr]
        for name, value in scope.get("headers") or ():
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
            elif name == b"x-api-key":
                given = value.strip()
            else:
                continue
            if secrets.compare_digest(given, expected):
                return True
        return False

    # ------------------------------------------------------------------ body

    async def _read_body(self, scope: Message, receive: Receive) -> bytes | None:
        """The whole body within the time, size and memory budgets (None if the client left)."""
        limit = self.options.max_body_bytes
        for name, value in scope.get("headers") or ():
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise ClientError(400, "invalid Content-Length header") from None
                if declared > limit:
                    raise ClientError(413, f"request body too large: {declared} bytes > max_body_bytes {limit}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.body_timeout_s
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(receive(), remaining)
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                if size + len(chunk) > limit:
                    raise ClientError(413, f"request body too large: more than max_body_bytes {limit}")
                small = size + len(chunk) <= self.options.small_body_bytes
                if not small and self.buffered + len(chunk) > self.options.max_buffered_bytes:
                    self.stats.rejected_busy += 1
                    raise ClientError(503, "server busy: too many request bodies in flight; retry shortly")
                self.buffered += len(chunk)
                size += len(chunk)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
        except TimeoutError:
            self.stats.body_timeouts += 1
            raise ClientError(408, f"request body not received within {self.options.body_timeout_s:g} s") from None
        finally:
            self.buffered -= size

    # ------------------------------------------------------------------ cancellation

    async def _run_cancellable(self, scope: Message, body: bytes, receive: Receive, send: Send) -> None:
        """Run the app on ``body``; cancel it if the client disconnects before the response ends."""
        disconnected = asyncio.Event()
        replayed = False
        finished = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def tracked_send(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, replay, tracked_send))

        async def watch() -> None:
            while not task.done():
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected.set()
                    if not finished and not task.done():
                        self.stats.cancelled += 1
                        task.cancel()
                    return

        watcher = asyncio.ensure_future(watch())
        try:
            await task
        except asyncio.CancelledError:
            if not disconnected.is_set():
                raise  # the server itself is shutting down
        finally:
            watcher.cancel()

    @staticmethod
    async def _respond(send: Send, error: ClientError) -> None:
        response = error_response(error.status, error.message)
        response.headers["connection"] = "close"
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
