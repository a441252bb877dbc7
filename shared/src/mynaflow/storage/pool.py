"""asyncpg connections bound to one service schema.

Every connection has `search_path` set to the service's schema, so SQL names its tables
unqualified, and JSON/JSONB values travel as Python objects. Connecting is retried with backoff
for a while, because at start-up PostgreSQL may still be coming up (a transient failure); after
that the caller gets one clear `DatabaseUnavailableError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # What `pool.acquire()` and `asyncpg.connect()` give: functions taking "the caller's
    # connection" accept either.
    DbConnection: TypeAlias = (
        asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    )

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT_S = 30.0
_FIRST_BACKOFF_S = 0.2
_MAX_BACKOFF_S = 3.0

# Failures that go away on their own: the server is starting, restarting or briefly overloaded.
# A wrong password or a missing database will not, so those are raised at once.
TRANSIENT_CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionFailureError,
)


class DatabaseUnavailableError(ConnectionError):
    """PostgreSQL could not be reached within the connect timeout."""


def quote_identifier(name: str) -> str:
    """`name` as a quoted SQL identifier, safe for any schema or database name."""
    return '"' + name.replace('"', '""') + '"'


def redact_url(database_url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(database_url)
    if parts.password is None:
        return database_url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def _set_json_codecs(conn: asyncpg.Connection[Any]) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


def _server_settings(schema: str | None) -> dict[str, str]:
    return {"search_path": quote_identifier(schema)} if schema else {}


async def _retry_connect(
    connect: Callable[[], Awaitable[T]], database_url: str, timeout_s: float
) -> T:
    """Call `connect` until it succeeds, backing off on transient errors, up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    backoff = _FIRST_BACKOFF_S
    while True:
        try:
            return await connect()
        except TRANSIENT_CONNECT_ERRORS as error:
            if time.monotonic() + backoff > deadline:
                raise DatabaseUnavailableError(
                    f"PostgreSQL at {redact_url(database_url)} did not accept connections "
                    f"within {timeout_s:g}s (last error: {type(error).__name__}: {error})"
                ) from error
            log.warning("PostgreSQL not reachable yet (%s); retrying", type(error).__name__)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)


async def create_pool(
    database_url: str,
    *,
    schema: str,
    min_size: int = 1,
    max_size: int = 10,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> asyncpg.Pool[asyncpg.Record]:
    """A pool whose connections use `schema` as their search path, with JSON codecs set up."""

    async def connect() -> asyncpg.Pool[asyncpg.Record]:
        return await asyncpg.create_pool(
            database_url,
            min_size=min_size,
            max_size=max_size,
            server_settings=_server_settings(schema),
            init=_set_json_codecs,
        )

    return await _retry_connect(connect, database_url, connect_timeout_s)


async def open_connection(
    database_url: str,
    *,
    schema: str | None = None,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> asyncpg.Connection[asyncpg.Record]:
    """One connection outside any pool (admin work, tools), with the same retry and codecs."""

    async def connect() -> asyncpg.Connection[asyncpg.Record]:
        conn = await asyncpg.connect(database_url, server_settings=_server_settings(schema))
        await _set_json_codecs(conn)
        return conn

    return await _retry_connect(connect, database_url, connect_timeout_s)
