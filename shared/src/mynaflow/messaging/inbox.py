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
) -> list[bool]:
    """Claim many ids in one statement: one flag per given id, in order.

    True only for the first copy of an id not applied before. A later copy in the same batch
    is False like any redelivery: a relay that republished an event can put both copies in one
    batch, and applying both would replay it (a schedule, clear, schedule, clear sequence would
    reopen a resolved deadline).
    """
    require_transaction(conn, "claim_inbox_many")
    ids = [str(event_id) for event_id in event_ids]
    if not ids:
        return []
    records = await conn.fetch(
        """
        INSERT INTO inbox (consumer, event_id)
        SELECT $1, event_id FROM unnest($2::text[]) AS e(event_id)
        ON CONFLICT (consumer, event_id) DO NOTHING
        RETURNING event_id
        """,
        consumer,
        list(dict.fromkeys(ids)),  # each id once: the statement may insert a row only once
    )
    return first_copies_of(ids, {record["event_id"] for record in records})


def first_copies_of(ids: Sequence[str], new: set[str]) -> list[bool]:
    """Per id: whether it is new and its first copy in `ids` (later copies are redeliveries)."""
    seen: set[str] = set()
    flags: list[bool] = []
    for event_id in ids:
        flags.append(event_id in new and event_id not in seen)
        seen.add(event_id)
    return flags
