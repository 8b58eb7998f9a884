"""Running the retrieval server: in the foreground (CLI) or in a background thread.

Why a background runner: tests, the eval job and notebooks need a real HTTP server next to the
code that uses it, on a port nobody else holds, and they need to know it is up before the first
request. :class:`BackgroundServer` binds the socket itself (so ``port=0`` gives a free port with
no race between "pick" and "bind"), runs uvicorn in a daemon thread, waits for ``/health`` and
shuts uvicorn down gracefully on exit.
"""

from __future__ import annotations

import gc
import os
import socket
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from searchgym.search.base import SearchEngine
from searchgym.serve.app import create_app


def freeze_heap() -> int:
    """Collect once, then move every object alive now out of the garbage collector's sight.

    Why: a loaded server holds millions of long-lived objects (passages, the world, vocabulary
    dicts). Each full collection walks all of them: at 100k passages, 1.3M objects and a 0.49 s
    pause that every request in flight waits out, which made p99 latency at 128 clients about
    650 ms (issue 18). Frozen objects are never scanned again; objects made per request are
    still collected as usual. Returns how many objects were frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def size_torch_threads(threads: int | None = None) -> int | None:
    """Give torch ``threads`` intra-op threads (default: the usable cores but one, at least 1),
    if torch is already imported (a dense or hybrid engine); returns the count set, else None.

    Why one core fewer: the server's event loop thread parses and serialises every request
    while the engine thread encodes; torch's pool on every core spins against it, which made
    one client slower on our server than on Search-R1's (whose endpoint blocks while it
    encodes). See ``benchmarks/bench_server.py``.
    """
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if threads is None:
        try:
            usable = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            usable = os.cpu_count() or 1
        threads = max(1, usable - 1)
    torch.set_num_threads(threads)
    return threads


def serve(
    engine: SearchEngine,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    log_level: str = "info",
    torch_threads: int | None = None,
    **app_kwargs: Any,
) -> None:
    """Serve ``engine`` until interrupted (blocking). ``app_kwargs`` go to :func:`create_app`.

    Binds loopback by default: exposing a server to the network should be a deliberate
    ``host="0.0.0.0"``. Before listening it sizes torch's threads (:func:`size_torch_threads`)
    and freezes the loaded heap (:func:`freeze_heap`).
    """
    app = create_app(engine, **app_kwargs)
    size_torch_threads(torch_threads)
    freeze_heap()
    uvicorn.run(app, host=host, port=port, log_level=log_level)


class BackgroundServer:
    """Serve an engine from a daemon thread for the duration of a ``with`` block.

    >>> with BackgroundServer(engine) as server:      # doctest: +SKIP
    ...     httpx.post(server.url + "/retrieve", json={"queries": ["x"]})
    """

    def __init__(
        self,
        engine: SearchEngine | None = None,
        *,
        app: Any = None,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 15.0,
        log_level: str = "warning",
        **app_kwargs: Any,
    ) -> None:
        """Serve ``create_app(engine, **app_kwargs)``, or a ready ASGI ``app`` (which must
        answer ``GET /health``; used to stand up stand-in servers in tests)."""
        if (engine is None) == (app is None):
            raise ValueError("give exactly one of engine and app")
        if app is not None and app_kwargs:
            raise ValueError(f"app_kwargs {sorted(app_kwargs)} only apply with an engine")
        self.engine = engine
        self.host = host
        self.requested_port = port
        self.startup_timeout = startup_timeout
        if app is None:
            assert engine is not None  # exactly one of the two, checked above
            app = create_app(engine, **app_kwargs)
        self.app = app
        self._config = uvicorn.Config(
            self.app, host=host, port=port, log_level=log_level, lifespan="on", access_log=False
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """Base url, e.g. ``http://127.0.0.1:54321`` (append ``/retrieve`` for Search-R1 clients)."""
        if self.port is None:
            raise RuntimeError("the server is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def retrieve_url(self) -> str:
        return self.url + "/retrieve"

    def start(self) -> BackgroundServer:
        """Bind, start uvicorn in a thread and wait until ``/health`` answers."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        self._socket = sock
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(self._config)
        self._error = None
        self._thread = threading.Thread(target=self._run, name=f"searchgym-server-{self.port}", daemon=True)
        self._thread.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _run(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as error:  # noqa: BLE001 - reported by start()
            self._error = error

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                assert self._thread is not None
                if not self._thread.is_alive():
                    raise RuntimeError(f"retrieval server failed to start: {self._error!r}")
                if self._server is not None and self._server.started:
                    try:
                        if client.get(self.url + "/health").status_code == 200:
                            return
                    except httpx.HTTPError as error:
                        last = error
                time.sleep(0.02)
        raise TimeoutError(
            f"retrieval server on {self.url} not healthy after {self.startup_timeout}s (last error: {last!r})"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit (finishing in-flight requests) and join the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._thread = None
        self._server = None
        self._socket = None
        self.port = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
