"""Types of fixture values, for annotating tests (the fixture modules export fixtures only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias

import asyncpg

# Strings: asyncpg's classes are generic only in its stubs, not at run time.
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record]"
# What `pool.acquire()` gives.
PooledConnection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
# `await pg_pool_factory(schema, **create_pool_options)`
PoolFactory: TypeAlias = "Callable[..., Awaitable[Pool]]"
