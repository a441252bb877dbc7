"""The small HTTP server every service runs: health, readiness, metrics and read endpoints.

A plain ASGI app (no web framework) served by uvicorn programmatically. uvicorn's own signal
handling is switched off: `run_service` owns SIGTERM/SIGINT and stops the server itself.

- `/healthz`: 200 while the process runs.
- `/readyz`: 200 only when every readiness check (Kafka metadata, `SELECT 1`) passes within
  its timeout; otherwise 503 with a JSON body naming each failed check.
- `/metrics`: Prometheus text exposition.
- Routes a service registers: `GET path?query` → `await handler(query_params)` → JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

import pydantic
import uvicorn

from mynaflow.runtime.metrics import exposition

log = logging.getLogger(__name__)

QueryParams = Mapping[str, str]
RouteHandler = Callable[[QueryParams], Awaitable[Any]]
ReadinessCheck = Callable[[], Awaitable[None]]

_JSON = b"application/json; charset=utf-8"
_REQUEST_HEADERS: ContextVar[Mapping[str, str]] = ContextVar(
    "request_headers", default=MappingProxyType({})
)


def request_headers() -> Mapping[str, str]:
    """The headers of the request a route is answering (names lower-case), for routes that
    need more than the query: an `Authorization` bearer token, who is reading."""
    return _REQUEST_HEADERS.get()


READINESS_TIMEOUT_S = 2.0


class HttpError(Exception):
    """Raise from a route handler to answer with `status` and `{"error": detail}`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _to_jsonable(item) for key, item in value.items()}
    return value


def json_body(value: Any) -> bytes:
    return json.dumps(_to_jsonable(value), ensure_ascii=False, default=str).encode("utf-8")


async def run_readiness_checks(
    checks: Mapping[str, ReadinessCheck], timeout_s: float = READINESS_TIMEOUT_S
) -> dict[str, str]:
    """Run all checks at once; the result maps each check to "ok" or why it failed."""

    async def run_one(check: ReadinessCheck) -> str:
        try:
            async with asyncio.timeout(timeout_s):
                await check()
        except TimeoutError:
            return f"no answer within {timeout_s:g}s"
        except Exception as error:  # a failed check is an answer, not a crash
            return f"{type(error).__name__}: {error}"
        return "ok"

    names = list(checks)
    results = await asyncio.gather(*(run_one(checks[name]) for name in names))
    return dict(zip(names, results, strict=True))


class ServiceHttpApp:
    """The ASGI app. `stopping` makes `/readyz` fail at once while the service shuts down."""

    def __init__(
        self,
        *,
        readiness_checks: Mapping[str, ReadinessCheck],
        readiness_timeout_s: float = READINESS_TIMEOUT_S,
    ) -> None:
        self.readiness_checks = dict(readiness_checks)
        self.readiness_timeout_s = readiness_timeout_s
        self.routes: dict[str, RouteHandler] = {}
        self.stopping = False

    def add_route(self, path: str, handler: RouteHandler) -> None:
        if not path.startswith("/") or path in self.routes or path in _BUILT_IN_PATHS:
            raise ValueError(f"route path must be new and start with '/': {path!r}")
        self.routes[path] = handler

    async def __call__(
        self,
        scope: dict[str, Any],
        _receive: Callable[[], Awaitable[dict[str, Any]]],  # routes are GET only: no body
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        status, content_type, body = await self._respond(scope)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type)],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _respond(self, scope: dict[str, Any]) -> tuple[int, bytes, bytes]:
        if scope["method"] not in ("GET", "HEAD"):
            return 405, _JSON, json_body({"error": "method not allowed"})
        path = scope["path"]
        if path == "/healthz":
            return 200, _JSON, json_body({"status": "ok"})
        if path == "/readyz":
            return await self._readiness()
        if path == "/metrics":
            payload, content_type = exposition()
            return 200, content_type.encode(), payload
        handler = self.routes.get(path)
        if handler is None:
            return 404, _JSON, json_body({"error": f"no route {path}"})
        query = dict(parse_qsl(scope.get("query_string", b"").decode("utf-8")))
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        token = _REQUEST_HEADERS.set(headers)
        try:
            return await self._call_route(path, handler, query)
        finally:
            _REQUEST_HEADERS.reset(token)

    async def _readiness(self) -> tuple[int, bytes, bytes]:
        if self.stopping:
            return 503, _JSON, json_body({"status": "stopping"})
        checks = await run_readiness_checks(self.readiness_checks, self.readiness_timeout_s)
        ready = all(result == "ok" for result in checks.values())
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return (200 if ready else 503), _JSON, json_body(body)

    async def _call_route(
        self, path: str, handler: RouteHandler, query: QueryParams
    ) -> tuple[int, bytes, bytes]:
        try:
            return 200, _JSON, json_body(await handler(query))
        except HttpError as error:
            return error.status, _JSON, json_body({"error": error.detail})
        except (pydantic.ValidationError, ValueError) as error:
            return 400, _JSON, json_body({"error": str(error)})
        except Exception:
            log.exception("read endpoint failed", extra={"path": path})
            return 500, _JSON, json_body({"error": "internal error"})


_BUILT_IN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class _ServerWithoutSignals(uvicorn.Server):
    """uvicorn without its signal handlers: the service runner owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind now, so a taken port fails start-up clearly (port 0 picks a free one)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class HttpServer:
    """`start()` serves the app in a task; `stop()` closes it (waiting for open requests)."""

    def __init__(self, app: ServiceHttpApp, *, host: str, port: int) -> None:
        self.app = app
        self._socket = bind_socket(host, port)
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        self._server = _ServerWithoutSignals(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    async def start(self) -> None:
        self._task = asyncio.create_task(self._serve(), name="http-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("HTTP server stopped during start-up")
            await asyncio.sleep(0.01)

    async def _serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._socket])
        except SystemExit as error:  # uvicorn exits on start-up failures
            raise RuntimeError(f"HTTP server failed to start (exit {error.code})") from None

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._socket.close()
