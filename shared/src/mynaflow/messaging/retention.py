"""Retention: pruning published outbox rows and old inbox ids, so neither table grows for ever.

Every delete runs in bounded batches, each its own short statement (pass a connection that is
not inside a transaction), so no run holds many row locks for long. Replicas may prune at the
same time: a batch skips rows another replica has locked, and a row deleted twice is just gone.

An unpublished outbox row is never deleted, however old: it is an event still owed to Kafka.

Inbox ids must outlive every redelivery that could still arrive. The longest topic retention is
365 days (`LONG_RETENTION_MS` in `mynaflow.contracts.topics`), and a consumer group reset or a
replay can read a record until it leaves the log; the default `INBOX_RETENTION_DAYS` (400) is
therefore longer, so an id is forgotten only after its event can no longer be delivered again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from mynaflow.runtime.loops import Backoff, resilient_loop

if TYPE_CHECKING:
    import asyncio

    import asyncpg

    from mynaflow.storage.pool import DbConnection

log = logging.getLogger(__name__)

# Large enough to keep up with any real volume in a few statements, small enough that one batch
# takes well under a second and locks only that many rows.
DEFAULT_BATCH_SIZE = 10_000


@dataclass(frozen=True)
class PruneCounts:
    outbox: int
    inbox: int


def _deleted(status: str) -> int:
    # asyncpg returns the command tag, e.g. "DELETE 42".
    return int(status.rsplit(" ", 1)[-1])


async def _delete_in_batches(
    conn: DbConnection, sql: str, older_than: timedelta, batch_size: int
) -> int:
    """Run a `DELETE ... LIMIT $2` until a batch comes back short: short statements, short locks."""
    total = 0
    while True:
        deleted = _deleted(await conn.execute(sql, older_than, batch_size))
        total += deleted
        if deleted < batch_size:
            return total


async def prune_published_outbox(
    conn: DbConnection, older_than: timedelta, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> int:
    """Delete outbox rows published more than `older_than` ago; returns how many.

    Rows still unpublished (`published_at IS NULL`) never match, whatever their age.
    """
    # Published rows leave in id order, so the oldest are found first in the primary key.
    sql = """
        DELETE FROM outbox
        WHERE id IN (
            SELECT id FROM outbox
            WHERE published_at IS NOT NULL AND published_at < now() - $1::interval
            ORDER BY id
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        )
        """
    return await _delete_in_batches(conn, sql, older_than, batch_size)


async def prune_inbox(
    conn: DbConnection, older_than: timedelta, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> int:
    """Delete inbox ids processed more than `older_than` ago; returns how many."""
    sql = """
        DELETE FROM inbox
        WHERE (consumer, event_id) IN (
            SELECT consumer, event_id FROM inbox
            WHERE processed_at < now() - $1::interval
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        )
        """
    return await _delete_in_batches(conn, sql, older_than, batch_size)


async def prune_once(
    pool: asyncpg.Pool[asyncpg.Record],
    *,
    outbox_older_than: timedelta,
    inbox_older_than: timedelta,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> PruneCounts:
    """One retention pass over a schema's outbox and inbox."""
    async with pool.acquire() as conn:
        outbox = await prune_published_outbox(conn, outbox_older_than, batch_size=batch_size)
        inbox = await prune_inbox(conn, inbox_older_than, batch_size=batch_size)
    return PruneCounts(outbox=outbox, inbox=inbox)


async def prune_periodically(
    pool: asyncpg.Pool[asyncpg.Record],
    *,
    outbox_older_than: timedelta,
    inbox_older_than: timedelta,
    interval_s: float,
    first_delay_s: float,
    stopping: asyncio.Event,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> None:
    """Prune every `interval_s` (the first time after `first_delay_s`) until `stopping` is set.

    A failed pass (database away, connection killed) is logged and tried again at the next
    interval, transient or not: retention can always wait, and must never stop the service.
    """

    async def prune_and_report() -> None:
        counts = await prune_once(
            pool,
            outbox_older_than=outbox_older_than,
            inbox_older_than=inbox_older_than,
            batch_size=batch_size,
        )
        if counts.outbox or counts.inbox:
            log.info(
                "retention pass pruned rows",
                extra={"outbox_deleted": counts.outbox, "inbox_deleted": counts.inbox},
            )

    await resilient_loop(
        prune_and_report,
        name="retention pass",
        stopping=stopping,
        interval_s=interval_s,
        # No quicker retries after a transient failure either: the next interval is soon enough.
        backoff=Backoff(interval_s, interval_s),
        first_delay_s=first_delay_s,
        logger=log,
    )
