"""pytest fixtures for the real PostgreSQL.

`database_url` makes a fresh database for the test session (and drops it afterwards) on the server
named by `DATABASE_URL` or `.mynaflow/env`. A server that cannot be reached FAILS the tests with
a message saying what to do; it never skips them, because a skipped storage test proves nothing.

Every public name here is a fixture (the root conftest loads this module as a plugin);
helpers are private.
"""

from __future__ import annotations

import os as _os
import uuid as _uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit as _urlsplit
from urllib.parse import urlunsplit as _urlunsplit

import asyncpg as _asyncpg
import pytest
import pytest_asyncio
from mynaflow.settings import apply_local_env_defaults as _apply_local_env_defaults
from mynaflow.storage.migrations import PLATFORM_MIGRATIONS as _PLATFORM_MIGRATIONS
from mynaflow.storage.migrations import apply_migrations as _apply_migrations
from mynaflow.storage.pool import DatabaseUnavailableError as _DatabaseUnavailableError
from mynaflow.storage.pool import create_pool as _create_pool
from mynaflow.storage.pool import open_connection as _open_connection
from mynaflow.storage.pool import quote_identifier as _quote_identifier
from mynaflow.storage.pool import redact_url as _redact_url

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from typing import Any

    _PoolFactory = Callable[..., Awaitable[_asyncpg.Pool[_asyncpg.Record]]]

# Long enough for a server that is just starting, short enough to fail a broken setup quickly.
_CONNECT_TIMEOUT_S = 15.0


def _server_url() -> str:
    _apply_local_env_defaults()
    url = _os.environ.get("DATABASE_URL")
    if not url:
        pytest.fail(
            "PostgreSQL is not configured: DATABASE_URL is unset and no .mynaflow/env was found. "
            "Run `make infra-up` (it writes .mynaflow/env) or export DATABASE_URL.",
            pytrace=False,
        )
    return url


def _with_database(url: str, database: str) -> str:
    return _urlunsplit(_urlsplit(url)._replace(path=f"/{database}"))


async def _admin_connection(url: str) -> _asyncpg.Connection[_asyncpg.Record]:
    try:
        return await _open_connection(url, connect_timeout_s=_CONNECT_TIMEOUT_S)
    except (_DatabaseUnavailableError, _asyncpg.PostgresError) as error:
        pytest.fail(
            f"PostgreSQL at {_redact_url(url)} cannot be reached: {error}. "
            "Start it with `make infra-up`, or point DATABASE_URL at a running server.",
            pytrace=False,
        )


@pytest_asyncio.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh database `mynaflow_test_<random>` for this session, dropped at the end."""
    server_url = _server_url()
    database = f"mynaflow_test_{_uuid.uuid4().hex[:12]}"
    admin = await _admin_connection(server_url)
    try:
        await admin.execute(f"CREATE DATABASE {_quote_identifier(database)}")
        yield _with_database(server_url, database)
        # FORCE: a pool a test forgot to close must not keep the database alive.
        await admin.execute(f"DROP DATABASE IF EXISTS {_quote_identifier(database)} WITH (FORCE)")
    finally:
        await admin.close()


@pytest_asyncio.fixture
async def fresh_schema(database_url: str) -> AsyncIterator[str]:
    """A new, empty schema with a unique name, dropped (with everything in it) after the test."""
    schema = f"t_{_uuid.uuid4().hex[:10]}"
    conn = await _open_connection(database_url)
    try:
        await conn.execute(f"CREATE SCHEMA {_quote_identifier(schema)}")
        yield schema
        await conn.execute(f"DROP SCHEMA IF EXISTS {_quote_identifier(schema)} CASCADE")
    finally:
        await conn.close()


@pytest_asyncio.fixture
async def pg_pool_factory(database_url: str) -> AsyncIterator[_PoolFactory]:
    """`await pg_pool_factory(schema, **create_pool_options)`; pools are closed after the test."""
    pools: list[_asyncpg.Pool[_asyncpg.Record]] = []

    async def make_pool(schema: str, **options: Any) -> _asyncpg.Pool[_asyncpg.Record]:
        pool = await _create_pool(database_url, schema=schema, **options)
        pools.append(pool)
        return pool

    yield make_pool
    for pool in pools:
        await pool.close()


@pytest_asyncio.fixture
async def platform_pool(
    fresh_schema: str, pg_pool_factory: _PoolFactory
) -> _asyncpg.Pool[_asyncpg.Record]:
    """A pool on `fresh_schema` with the platform's tables (outbox, inbox, dead_letters)."""
    pool = await pg_pool_factory(fresh_schema)
    await _apply_migrations(pool, schema=fresh_schema, directories=[_PLATFORM_MIGRATIONS])
    return pool
