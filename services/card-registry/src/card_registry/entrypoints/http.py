"""Read endpoints: backlog, cases like, queues, history (what the `mynaflow` CLI reads).

They can serve personal data, so:
- the service binds to 127.0.0.1 by default; bound to any other address it requires
  `Authorization: Bearer <READ_TOKEN>` on every read, and refuses to start without a token;
- every read is access-logged (table `access_log` and a log line): who (`X-Staff-Id`, else
  `unknown`), which route, which parameters, when. Never the data served.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from mynaflow.runtime.definition import ServiceContext
from mynaflow.runtime.http import HttpError, QueryParams, request_headers

from card_registry.adapters.reports import Reports
from card_registry.service_layer.deps import RegistryDeps
from card_registry.settings import CardRegistrySettings

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger(__name__)

Route = Callable[[QueryParams], Awaitable[Any]]
ENTITY_TYPES = ("card", "notice", "resident", "queue")


class ReadTokenMissingError(ValueError):
    """Bound beyond loopback without `READ_TOKEN`: the service must not start."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ReadGuard:
    """Who may read: anyone on loopback (unless a token is set), else bearer-token holders."""

    token: str | None

    @classmethod
    def from_settings(cls, settings: CardRegistrySettings) -> ReadGuard:
        token = settings.read_token.get_secret_value() if settings.read_token else None
        if token is None and not is_loopback(settings.http_host):
            raise ReadTokenMissingError(
                f"HTTP_HOST={settings.http_host} is not loopback: set READ_TOKEN, the bearer "
                "token the read endpoints then require"
            )
        return cls(token)

    def check(self, headers: Mapping[str, str]) -> None:
        if self.token is None:
            return
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), self.token):
            raise HttpError(401, "a valid bearer token is required")


@dataclass(frozen=True)
class AccessLog:
    pool: asyncpg.Pool[asyncpg.Record]

    async def record(self, reader: str, route: str, params: Mapping[str, str]) -> None:
        log.info(
            "personal-data read", extra={"reader": reader, "route": route, "params": dict(params)}
        )
        await self.pool.execute(
            "INSERT INTO access_log (reader, route, params) VALUES ($1, $2, $3)",
            reader,
            route,
            dict(params),
        )


def guarded(guard: ReadGuard, access: AccessLog, path: str, route: Route) -> Route:
    async def read(query: QueryParams) -> Any:
        headers = request_headers()
        guard.check(headers)
        await access.record(headers.get("x-staff-id", "unknown"), path, query)
        return await route(query)

    return read


def _flag(query: QueryParams, name: str) -> bool:
    return query.get(name, "").lower() in ("1", "true", "yes")


def backlog_route(reports: Reports, deps: RegistryDeps) -> Route:
    async def backlog(query: QueryParams) -> Any:
        now = deps.clock.now()
        return await reports.backlog(
            now, queue=query.get("queue"), overdue_only=_flag(query, "overdue")
        )

    return backlog


def cases_like_route(reports: Reports, deps: RegistryDeps) -> Route:
    async def cases_like(query: QueryParams) -> Any:
        kind = query.get("kind")
        if not kind:
            raise HttpError(
                400, "kind is required (chip_rewrite, surface_chip_mismatch or a notice kind)"
            )
        since = date.fromisoformat(query["since"]) if query.get("since") else None
        overdue = _flag(query, "overdue")
        return await reports.cases_like(kind, deps.clock.now(), overdue_only=overdue, since=since)

    return cases_like


def queues_route(reports: Reports, deps: RegistryDeps) -> Route:
    async def queues(_query: QueryParams) -> Any:
        return await reports.queues(deps.clock.now())

    return queues


def history_route(reports: Reports) -> Route:
    async def history(query: QueryParams) -> Any:
        entity_type, entity_id = query.get("type", ""), query.get("id", "")
        if entity_type not in ENTITY_TYPES or not entity_id:
            raise HttpError(400, f"type (one of {', '.join(ENTITY_TYPES)}) and id are required")
        if entity_type == "notice" and ":" not in entity_id:
            entity_id = f"notice:{entity_id}"  # a bare notice id names its work item
        return await reports.history(entity_type, entity_id)

    return history


def register_routes(context: ServiceContext[CardRegistrySettings], deps: RegistryDeps) -> None:
    guard = ReadGuard.from_settings(context.settings)
    access = AccessLog(context.pool)
    reports = Reports(context.pool)
    routes = {
        "/backlog": backlog_route(reports, deps),
        "/cases-like": cases_like_route(reports, deps),
        "/queues": queues_route(reports, deps),
        "/history": history_route(reports),
    }
    for path, route in routes.items():
        context.add_route(path, guarded(guard, access, path, route))
