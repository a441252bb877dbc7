"""Many outbox rows (and inbox claims) in one statement, in the caller's transaction.

The platform offers `add_to_outbox` (one statement per event). Firing 100,000 stages at once,
or ingesting a backlog, spends most of its time in those round trips, so the watcher writes a
batch of events with one `INSERT … SELECT FROM unnest(…)`: the same rows `add_to_outbox` writes
(event id, topic, key, CloudEvents JSON payload, content-type header), in the given order, so the
relay publishes them in that order. It belongs in `mynaflow.messaging.outbox` as
`add_many_to_outbox`; until the platform has it, it lives here. The same goes for
`claim_inbox_many`, the batch form of `mynaflow.messaging.inbox.claim_inbox`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from mynaflow.contracts.envelope import CLOUDEVENTS_CONTENT_TYPE, CloudEvent, encode_event
from mynaflow.messaging.inbox import require_transaction

if TYPE_CHECKING:
    from mynaflow.storage.pool import DbConnection

_HEADERS = {"content-type": CLOUDEVENTS_CONTENT_TYPE}


async def add_events_to_outbox(
    conn: DbConnection, *, topic: str, events: Sequence[tuple[str | None, CloudEvent[Any]]]
) -> None:
    """Queue `(key, event)` pairs for `topic`, in order, with one statement."""
    require_transaction(conn, "add_events_to_outbox")
    if not events:
        return
    await conn.execute(
        """
        INSERT INTO outbox (event_id, topic, key, payload, headers)
        SELECT event_id, $1, key, payload, $5::jsonb
        FROM unnest($2::uuid[], $3::text[], $4::bytea[]) WITH ORDINALITY
            AS e(event_id, key, payload, position)
        ORDER BY position
        """,
        topic,
        [UUID(event.id) for _, event in events],
        [key for key, _ in events],
        [encode_event(event) for _, event in events],
        _HEADERS,
    )


async def claim_inbox_many(
    conn: DbConnection, event_ids: Sequence[str], *, consumer: str
) -> set[str]:
    """Record the ids for `consumer`; returns those new (the others were applied before)."""
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
        list(event_ids),
    )
    return {record["event_id"] for record in records}
