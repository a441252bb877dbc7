"""asyncpg connections bound to one service schema.

Every connection has `search_path` set to the service's schema, so SQL names its tables
unqualified, and JSON/JSONB values travel as Python objects. Connecting is retried with backoff
for a while, because at start-up PostgreSQL may still be coming up (a transient failure); after
that the caller gets one clear `DatabaseUnavailableError`.

Every connection also has timeouts (`DatabaseTimeouts`, from `DB_*` environment variables), so
nothing waits on PostgreSQL for ever: a hung query is cut by the server (`statement_timeout`)
and, failing that, by the client (`command_timeout`), both well below Kafka's
`max.poll.interval.ms` (300 s), so a consumer is never evicted from its group while it waits. A
query cut this way fails with `QueryCanceledError` or `TimeoutError`, which the platform treats
as transient (retried, never dead-lettered). TCP keepalives let the server notice a client that
vanished (a half-open connection) and end its session, which releases its advisory locks (the
outbox relay's among them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mynaflow.runtime.loops import Backoff, retry_for

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


class DatabaseTimeouts(BaseSettings):
    """Timeouts of every connection, from the environment (`DB_STATEMENT_TIMEOUT_S`, ...).

    The defaults keep the longest possible wait on one query (`command_timeout_s`) far below
    Kafka's `max.poll.interval.ms` of 300 s, with room for a retry within the same poll.
    """

    model_config = SettingsConfigDict(env_prefix="DB_", extra="ignore")

    # Server side: PostgreSQL cancels a statement running longer (SQLSTATE 57014).
    statement_timeout_s: float = Field(default=60.0, gt=0)
    # Client side, for a server that does not answer at all: a little above the server's own
    # limit, so normally the server cancels first and the connection stays usable.
    command_timeout_s: float = Field(default=75.0, gt=0)
    # A transaction left idle this long (a stuck client) is ended by the server, with its locks.
    idle_in_transaction_timeout_s: float = Field(default=120.0, gt=0)
    # The server probes an idle client after this many seconds, then every interval, and drops
    # the session after `count` unanswered probes: 30 + 3 x 10 = 60 s for a vanished client.
    tcp_keepalives_idle_s: int = Field(default=30, gt=0)
    tcp_keepalives_interval_s: int = Field(default=10, gt=0)
    tcp_keepalives_count: int = Field(default=3, gt=0)

    def server_settings(self) -> dict[str, str]:
        """The libpq-style session settings the server applies to each connection."""
        return {
            "statement_timeout": _milliseconds(self.statement_timeout_s),
            "idle_in_transaction_session_timeout": _milliseconds(
                self.idle_in_transaction_timeout_s
            ),
            "tcp_keepalives_idle": str(self.tcp_keepalives_idle_s),
            "tcp_keepalives_interval": str(self.tcp_keepalives_interval_s),
            "tcp_keepalives_count": str(self.tcp_keepalives_count),
        }


def _milliseconds(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


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


# The array types the services bind as parameters (`$1::uuid[]` and the like). asyncpg learns
# the codec of each from the server the first time a statement on a connection uses it: a
# recursive catalogue query, 5-30 ms on a busy machine. Left to the first statements that need
# them, these ran on the first notices' path after a start (~45 ms of a paced run's first 0.1 s,
# docs/BENCHMARKS.md); learnt when the connection opens, they cost one statement there instead.
# text[] is built into asyncpg and needs no lookup.
ARRAY_PARAMETER_TYPES = ("int4", "int8", "uuid", "timestamptz", "date", "bytea", "bool", "jsonb")
_LEARN_ARRAY_CODECS = "SELECT " + ", ".join(
    f"${number}::{type_name}[]" for number, type_name in enumerate(ARRAY_PARAMETER_TYPES, 1)
)


if TYPE_CHECKING:
    _ConnectionBase = asyncpg.Connection[asyncpg.Record]
else:
    _ConnectionBase = asyncpg.Connection


class PooledConnection(_ConnectionBase):
    """A connection of `create_pool`'s pools: ends a transaction and resets its session in one
    round trip.

    Handing a connection back to the pool resets its session (`Connection.get_reset_query`:
    advisory locks, cursors, LISTEN, settings), which is a round trip of its own after every
    unit of work. A unit of work that ends its transaction anyway sends the reset with its
    `COMMIT` (or `ROLLBACK`), in one simple query, and the pool's reset (`reset_session`) skips
    the connection while nothing has run on it since. Every statement asyncpg sends counts
    (`queries_count`), so a statement that could change the session again (a `SET`, a `LISTEN`,
    an advisory lock) makes the pool reset it as usual.
    """

    __slots__ = ("_reset_after_query",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reset_after_query: int | None = None

    async def end_transaction_and_reset(self, *, commit: bool) -> None:
        """`COMMIT` (or `ROLLBACK`) the open transaction and reset the session, in one query.

        Statements of one simple query stop at the first error: if the `COMMIT` fails, nothing
        after it runs, and the pool resets the session as usual.
        """
        ending = "COMMIT" if commit else "ROLLBACK"
        await self.execute(f"{ending};\n{self.get_reset_query()}")
        self._reset_after_query = self._queries_sent()

    def session_is_reset(self) -> bool:
        """True when the session was reset with the last statement sent on this connection."""
        return self._reset_after_query == self._queries_sent()

    def _queries_sent(self) -> int:
        count: int = self._protocol.queries_count  # type: ignore[attr-defined]
        return count


async def reset_session(conn: asyncpg.Connection[Any]) -> None:
    """The pool's reset on release: asyncpg's default, unless the session was reset already."""
    if isinstance(conn, PooledConnection) and conn.session_is_reset():
        return
    if reset_query := conn.get_reset_query():
        await conn.execute(reset_query)


async def _prepare_pooled_connection(conn: asyncpg.Connection[Any]) -> None:
    """Codecs for every new pooled connection: JSON, and the array types learnt up front."""
    await _set_json_codecs(conn)
    await conn.prepare(_LEARN_ARRAY_CODECS)


def _server_settings(schema: str | None, timeouts: DatabaseTimeouts) -> dict[str, str]:
    search_path = {"search_path": quote_identifier(schema)} if schema else {}
    return timeouts.server_settings() | search_path


async def _retry_connect(
    connect: Callable[[], Awaitable[T]], database_url: str, timeout_s: float
) -> T:
    """Call `connect` until it succeeds, backing off on transient errors, up to `timeout_s`."""
    try:
        return await retry_for(
            connect,
            seconds=timeout_s,
            retry_on=TRANSIENT_CONNECT_ERRORS,
            backoff=Backoff(_FIRST_BACKOFF_S, _MAX_BACKOFF_S),
            what="PostgreSQL",
            logger=log,
        )
    except TRANSIENT_CONNECT_ERRORS as error:
        raise DatabaseUnavailableError(
            f"PostgreSQL at {redact_url(database_url)} did not accept connections "
            f"within {timeout_s:g}s (last error: {type(error).__name__}: {error})"
        ) from error


async def create_pool(
    database_url: str,
    *,
    schema: str,
    min_size: int = 1,
    max_size: int = 10,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    timeouts: DatabaseTimeouts | None = None,
) -> asyncpg.Pool[asyncpg.Record]:
    """A pool whose connections use `schema` as their search path, with JSON codecs set up.

    `timeouts` defaults to `DatabaseTimeouts()` read from the environment at this call.
    """
    timeouts = timeouts or DatabaseTimeouts()

    async def connect() -> asyncpg.Pool[asyncpg.Record]:
        return await asyncpg.create_pool(
            database_url,
            min_size=min_size,
            max_size=max_size,
            command_timeout=timeouts.command_timeout_s,
            server_settings=_server_settings(schema, timeouts),
            init=_prepare_pooled_connection,
            connection_class=PooledConnection,
            reset=reset_session,
        )

    return await _retry_connect(connect, database_url, connect_timeout_s)


async def open_connection(
    database_url: str,
    *,
    schema: str | None = None,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    timeouts: DatabaseTimeouts | None = None,
) -> asyncpg.Connection[asyncpg.Record]:
    """One connection outside any pool (admin work, tools), with the same retry, codecs and
    timeouts."""
    timeouts = timeouts or DatabaseTimeouts()

    async def connect() -> asyncpg.Connection[asyncpg.Record]:
        conn = await asyncpg.connect(
            database_url,
            command_timeout=timeouts.command_timeout_s,
            server_settings=_server_settings(schema, timeouts),
        )
        await _set_json_codecs(conn)
        return conn

    return await _retry_connect(connect, database_url, connect_timeout_s)
