"""LISTEN for the wake-up NOTIFY that request handlers send when they (re)schedule a deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg


@contextlib.asynccontextmanager
async def listening(
    pool: asyncpg.Pool[asyncpg.Record], channel: str, wake: asyncio.Event
) -> AsyncIterator[Callable[[], bool]]:
    """While inside, every NOTIFY on `channel` (from any replica) sets `wake`.

    Yields a check that says whether the listening connection is still alive: a lost
    connection hears nothing, so the caller leaves and listens again.
    """

    def on_notify(*_: object) -> None:
        wake.set()

    async with pool.acquire() as conn:
        await conn.add_listener(channel, on_notify)
        try:
            yield lambda: not conn.is_closed()
        finally:
            # A broken connection has lost its LISTEN already; nothing to undo then.
            with contextlib.suppress(Exception):
                await conn.remove_listener(channel, on_notify)
