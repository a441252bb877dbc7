"""The inbox: ids of events already applied, recorded in the transaction that applies them.

Kafka delivers at least once. A handler claims the event id first, in its own transaction; if the
claim fails, the event was applied before and the handler must change nothing. Because the claim
and the state change commit together, a crash between them leaves neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from mynaflow.storage.pool import DbConnection


class NotInTransactionError(RuntimeError):
    """Outbox, inbox and dead-letter writes must share the caller's transaction."""


def require_transaction(conn: DbConnection, what: str) -> None:
    if not conn.is_in_transaction():
        raise NotInTransactionError(f"{what} must run inside the caller's transaction")


async def claim_inbox(
    conn: DbConnection, event_id: str | UUID, *, consumer: str = "default"
) -> bool:
    """Record `event_id` for `consumer`; False means it was applied before (change nothing)."""
    require_transaction(conn, "claim_inbox")
    claimed = await conn.fetchval(
        """
        INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)
        ON CONFLICT (consumer, event_id) DO NOTHING
        RETURNING true
        """,
        consumer,
        str(event_id),
    )
    return claimed is True


async def claim_inbox_many(
    conn: DbConnection, event_ids: Sequence[str | UUID], *, consumer: str = "default"
) -> set[str]:
    """Claim many ids in one statement; returns those new (the others were applied before)."""
    require_transaction(conn, "claim_inbox_many")
    if not event_ids:
        return set()
    records = await conn.fetch(
        """
        INSERT INTO inbox (consumer, event_id)
        SELECT $1, event_id FROM unnest($2::text[]) AS e(event_id)
        ON CONFLICT (consumer, event_id) DO NOTHING
        RETURNING event_id
        """,
        consumer,
        [str(event_id) for event_id in event_ids],
    )
    return {record["event_id"] for record in records}
