"""``searchgym serve-env``: a SearchQA env over OpenEnv's protocol, for TRL's and SkyRL's clients.

Why: OpenEnv (``meta-pytorch/OpenEnv``) is how TRL and SkyRL consume environments that live in
another process or machine: a server exposes ``reset`` / ``step`` / ``state``, and clients
(``openenv.core.EnvClient`` and its ``GenericEnvClient``) drive it. The protocol, implemented
here without depending on ``openenv-core`` (``tests/interop`` drives it with the real client):

``WS /ws``
    One connection = one session = its own :class:`~searchgym.envs.search_qa.SearchQAEnv`
    (the world, corpus and index are shared, read-only). Messages ``{"type": "reset", "data":
    {seed, episode_id, task_key, task_index}}``, ``{"type": "step", "data": <action>}``,
    ``{"type": "state"}``, ``{"type": "close"}``; answers ``{"type": "observation", "data":
    {"observation", "reward", "done"}}``, ``{"type": "state", "data": ...}`` or ``{"type":
    "error", "data": {"message", "code"}}`` (OpenEnv's codes). At most ``max_sessions`` at once
    (``CAPACITY_REACHED`` beyond), so concurrent rollouts each get an episode of their own.
``POST /reset``, ``POST /step``, ``GET /state``
    OpenEnv's HTTP routes. Its HTTP calls are stateless (a fresh env per call), which cannot
    play a multi-turn episode, so here ``/reset`` opens an episode kept under its
    ``episode_id`` (returned in the observation; idle episodes expire) and ``/step`` /
    ``/state`` continue it when given that ``episode_id`` (when the server is full, a new HTTP
    episode replaces the least recently used one; WebSocket sessions are never evicted).
``GET /health``, ``/metadata``, ``/schema``
    As OpenEnv serves them (the schemas are the pydantic models below).

An action is ``{"tool": "search" | "access" | "answer", "query" | "doc_id" | "answer": ...}`` or
``{"text": "<raw model output>"}`` (Search-R1 tags or Hermes ``<tool_call>`` blocks), exactly what
:meth:`SearchQAEnv.step` accepts. Every env call runs on one worker thread: engines need not be
thread-safe, and steps are short.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from searchgym.integrations.tool_session import DEFAULT_ENV_ID, make_env

logger = logging.getLogger(__name__)

__all__ = ["SearchGymAction", "SearchGymObservation", "create_openenv_app"]

_TOOL_ARGUMENT = {"search": "query", "access": "doc_id", "answer": "answer"}
_INFO_FIELDS = (
    "task_key",
    "turn",
    "num_searches",
    "num_accesses",
    "num_invalid",
    "answered",
    "prediction",
    "em",
    "f1",
    "evidence_recall",
)


class SearchGymAction(BaseModel):
    """One agent action: a named tool with its argument, or raw model text."""

    model_config = ConfigDict(extra="forbid")
    tool: Literal["search", "access", "answer"] | None = None
    query: str | None = None
    doc_id: str | None = None
    answer: str | None = None
    text: str | None = Field(None, description="raw model output: Search-R1 tags or Hermes tool calls")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_form(self) -> SearchGymAction:
        if (self.tool is None) == (self.text is None):
            raise ValueError("give either 'tool' (with its argument) or 'text'")
        if self.tool is not None and getattr(self, _TOOL_ARGUMENT[self.tool]) is None:
            raise ValueError(f"tool {self.tool!r} needs '{_TOOL_ARGUMENT[self.tool]}'")
        return self

    def env_action(self) -> Any:
        if self.text is not None:
            return self.text
        assert self.tool is not None
        argument = _TOOL_ARGUMENT[self.tool]
        return {"name": self.tool, "arguments": {argument: getattr(self, argument)}}


class SearchGymObservation(BaseModel):
    """What the agent sees (``text``: the prompt after reset, the tool result after a step)."""

    text: str
    episode_id: str
    question: str | None = None
    task_key: str | None = None
    turn: int = 0
    info: dict[str, Any] = Field(default_factory=dict)
    done: bool = False
    reward: float | None = None


class _Episode:
    """One session's env and its running totals."""

    def __init__(self, env_id: str, overrides: dict[str, Any]) -> None:
        self.env = make_env(env_id, **overrides)
        self.episode_id: str | None = None
        self.step_count = 0
        self.total_reward = 0.0
        self.done = False
        self.started = False
        self.last_info: dict[str, Any] = {}
        self.last_used = time.monotonic()

    def reset(self, data: dict[str, Any]) -> dict[str, Any]:
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        options = {key: data[key] for key in ("task_key", "task_index") if data.get(key) is not None}
        prompt, info = self.env.reset(seed=seed, options=options or None)
        self.episode_id = str(data.get("episode_id") or uuid.uuid4().hex)
        self.step_count, self.total_reward, self.done, self.started = 0, 0.0, False, True
        self.last_info = info
        return self._observation(prompt, None, question=info.get("question"))

    def step(self, data: dict[str, Any]) -> dict[str, Any]:
        action = SearchGymAction.model_validate(data)
        if not self.started:
            raise RuntimeError("no episode: send a reset first")
        if self.done:
            raise RuntimeError("the episode is over (answered or out of turns): send a reset")
        observation, reward, terminated, truncated, info = self.env.step(action.env_action())
        self.step_count += 1
        self.total_reward += float(reward)
        self.done = bool(terminated or truncated)
        self.last_info = info
        return self._observation(observation, float(reward))

    def _observation(self, text: str, reward: float | None, question: str | None = None) -> dict[str, Any]:
        info = {key: self.last_info[key] for key in _INFO_FIELDS if key in self.last_info}
        body = SearchGymObservation(
            text=text,
            episode_id=self.episode_id or "",
            question=question,
            task_key=info.get("task_key"),
            turn=int(info.get("turn", 0)),
            info=info,
            done=self.done,
            reward=reward,
        )
        fields = body.model_dump(exclude={"done", "reward"})
        return {"observation": fields, "reward": reward, "done": self.done}

    def state(self) -> dict[str, Any]:
        return {
            "episode_id": self.episode_id,
            "step_count": self.step_count,
            "done": self.done,
            "total_reward": self.total_reward,
            "task_key": self.last_info.get("task_key"),
            "evidence_recall": self.last_info.get("evidence_recall"),
            "em": self.last_info.get("em"),
        }


class _Sessions:
    """Live episodes: WebSocket sessions and HTTP episodes share one capacity."""

    def __init__(self, env_id: str, overrides: dict[str, Any], max_sessions: int, idle_timeout_s: float) -> None:
        self.env_id, self.overrides = env_id, overrides
        self.max_sessions, self.idle_timeout_s = max_sessions, idle_timeout_s
        self.websockets = 0
        self.http: OrderedDict[str, _Episode] = OrderedDict()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="searchgym-openenv")

    async def run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, e in self.http.items() if now - e.last_used > self.idle_timeout_s]:
            del self.http[key]

    def has_room(self) -> bool:
        self.expire()
        return self.websockets + len(self.http) < self.max_sessions

    def capacity_message(self) -> str:
        return f"server at capacity: {self.max_sessions} sessions are open (start it with a larger --max-sessions)"


def create_openenv_app(
    env_id: str = DEFAULT_ENV_ID, *, max_sessions: int = 64, idle_timeout_s: float = 900.0, **overrides: Any
) -> FastAPI:
    """The OpenEnv server of ``env_id`` (see the module docstring); ``overrides`` configure the env."""
    if max_sessions < 1:
        raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
    probe = make_env(env_id, **overrides)  # fail at start, not at the first client, on a bad spec
    sessions = _Sessions(env_id, dict(overrides), max_sessions, idle_timeout_s)
    app = FastAPI(title=f"searchgym {probe.config.id} (OpenEnv protocol)")

    def error(status: int, message: str, code: str) -> JSONResponse:
        return JSONResponse({"detail": message, "code": code}, status_code=status)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "healthy",
            "active_sessions": sessions.websockets + len(sessions.http),
            "max_sessions": max_sessions,
        }

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        return {
            "name": probe.config.id,
            "description": probe.config.description,
            "version": "0.1.0",
            "author": "searchgym",
            "documentation_url": None,
            "readme_content": None,
        }

    @app.get("/schema")
    async def schema() -> dict[str, Any]:
        return {
            "action": SearchGymAction.model_json_schema(),
            "observation": SearchGymObservation.model_json_schema(),
            "state": {
                "type": "object",
                "properties": {"episode_id": {"type": "string"}, "step_count": {"type": "integer"}},
            },
        }

    @app.post("/reset")
    async def reset(request: Request) -> JSONResponse:
        data = await _json_object(request)
        if data is None:
            return error(422, "request body must be a JSON object", "VALIDATION_ERROR")
        existing = sessions.http.get(str(data.get("episode_id"))) if data.get("episode_id") else None
        if existing is None and not sessions.has_room():
            if not sessions.http:  # every slot is a live WebSocket session
                return error(503, sessions.capacity_message(), "CAPACITY_REACHED")
            sessions.http.popitem(last=False)  # HTTP clients abandon episodes: the oldest makes room
        episode = existing or await sessions.run(_Episode, env_id, sessions.overrides)
        try:
            body = await sessions.run(episode.reset, data)
        except (ValueError, KeyError, TypeError) as problem:
            return error(422, f"reset failed: {problem}", "VALIDATION_ERROR")
        sessions.http[episode.episode_id or ""] = episode
        sessions.http.move_to_end(episode.episode_id or "")
        episode.last_used = time.monotonic()
        return JSONResponse(body)

    @app.post("/step")
    async def step(request: Request) -> JSONResponse:
        data = await _json_object(request)
        if data is None or not isinstance(data.get("action"), dict):
            return error(422, "request body must be a JSON object with an 'action' object", "VALIDATION_ERROR")
        episode = sessions.http.get(str(data.get("episode_id") or ""))
        if episode is None:
            return error(
                404,
                "unknown or expired episode_id: POST /reset first and pass its episode_id "
                "(or use the WebSocket session at /ws)",
                "SESSION_ERROR",
            )
        episode.last_used = time.monotonic()
        try:
            return JSONResponse(await sessions.run(episode.step, data["action"]))
        except ValidationError as problem:
            return error(422, f"invalid action: {_errors(problem)}", "VALIDATION_ERROR")
        except RuntimeError as problem:
            return error(409, str(problem), "SESSION_ERROR")

    @app.get("/state")
    async def state(episode_id: str | None = None) -> JSONResponse:
        episode = sessions.http.get(episode_id or "")
        if episode is None:
            return JSONResponse({"episode_id": None, "step_count": 0})
        return JSONResponse(episode.state())

    @app.websocket("/ws")
    async def websocket_session(websocket: WebSocket) -> None:
        await websocket.accept()
        if not sessions.has_room():
            await _refuse(websocket, sessions.capacity_message())
            return
        sessions.websockets += 1
        try:
            episode = await sessions.run(_Episode, env_id, sessions.overrides)
            while True:
                reply = await _answer(episode, await websocket.receive_text(), sessions)
                if reply is None:
                    break
                await websocket.send_text(json.dumps(reply))
        except WebSocketDisconnect:
            pass
        finally:
            sessions.websockets -= 1
            try:
                await websocket.close()
            except RuntimeError:  # already closed by the client
                pass

    return app


async def _refuse(websocket: WebSocket, message: str) -> None:
    """Answer every message of a connection over capacity with the error, until it closes.

    Closing at once would race the client's first send (it would see a closed socket, not why).
    """
    reply = json.dumps({"type": "error", "data": {"message": message, "code": "CAPACITY_REACHED"}})
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                kind = json.loads(raw).get("type")
            except (json.JSONDecodeError, AttributeError):
                kind = None
            if kind == "close":
                break
            await websocket.send_text(reply)
    except WebSocketDisconnect:
        return
    await websocket.close()


async def _answer(episode: _Episode, raw: str, sessions: _Sessions) -> dict[str, Any] | None:
    """The reply to one WebSocket message; None closes the session."""
    try:
        message = json.loads(raw)
    except json.JSONDecodeError as problem:
        return {"type": "error", "data": {"message": f"Invalid JSON: {problem}", "code": "INVALID_JSON"}}
    kind = message.get("type") if isinstance(message, dict) else None
    data = message.get("data") or {} if isinstance(message, dict) else {}
    try:
        if kind == "reset":
            return {"type": "observation", "data": await sessions.run(episode.reset, dict(data))}
        if kind == "step":
            return {"type": "observation", "data": await sessions.run(episode.step, dict(data))}
        if kind == "state":
            return {"type": "state", "data": episode.state()}
        if kind == "close":
            return None
        return {"type": "error", "data": {"message": f"Unknown message type: {kind}", "code": "UNKNOWN_TYPE"}}
    except ValidationError as problem:
        return {
            "type": "error",
            "data": {
                "message": f"Invalid message: {_errors(problem)}",
                "code": "VALIDATION_ERROR",
                "errors": json.loads(problem.json(include_url=False)),
            },
        }
    except (RuntimeError, ValueError, KeyError, TypeError) as problem:
        return {"type": "error", "data": {"message": str(problem), "code": "EXECUTION_ERROR"}}


async def _json_object(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _errors(problem: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'action'}: {e['msg']}" for e in problem.errors())
