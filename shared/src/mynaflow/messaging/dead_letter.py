"""Dead letters: a poison message is recorded, announced on the service's dead-letter topic, and
then the partition moves on.

Individual numbers are redacted before anything is stored or queued: payload, key, reason and
error text alike (a validation error quotes the offending input). One row per source coordinate:
a redelivered poison message (the offset was not committed before a crash) adds nothing, so the
dead-letter topic carries one event per poison message.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from mynaflow.contracts.dead_letter import DeadLetteredMessage, message_dead_lettered_type
from mynaflow.contracts.envelope import CloudEvent, make_event, utc_now
from mynaflow.contracts.topics import dead_letter_topic_for, topic_name
from mynaflow.domain.personal_number import (
    redact_kafka_key,
    redact_payload_bytes,
    redact_text,
)
from mynaflow.messaging.inbox import require_transaction
from mynaflow.messaging.outbox import add_to_outbox

if TYPE_CHECKING:
    import asyncpg

    from mynaflow.messaging.records import RawRecord
    from mynaflow.storage.pool import DbConnection


@dataclass(frozen=True)
class _Coordinates:
    topic: str
    partition: int
    offset: int

    def subject(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True)
class _Redacted:
    key: str | None
    payload: bytes
    reason: str
    error: str
    count: int


def _redact(key: bytes | str | None, payload: bytes, reason: str, error: str) -> _Redacted:
    """Remove individual numbers from every field that will be stored or published.

    Structurally: escaped spellings, JSON values and the key in every encoding (see
    `mynaflow.domain.personal_number`).
    """
    safe_key, in_key = redact_kafka_key(key)
    safe_payload, in_payload = redact_payload_bytes(payload)
    safe_reason, in_reason = redact_text(reason)
    safe_error, in_error = redact_text(error)
    total = in_key + in_payload + in_reason + in_error
    return _Redacted(safe_key, safe_payload, safe_reason, safe_error, total)


def _dead_lettered_event(service: str, at: _Coordinates, redacted: _Redacted) -> CloudEvent[Any]:
    data = DeadLetteredMessage(
        source_topic=at.topic,
        partition=at.partition,
        offset=at.offset,
        key=redacted.key,
        reason=redacted.reason,
        error=redacted.error,
        original_base64=base64.b64encode(redacted.payload).decode("ascii"),
        redactions=redacted.count,
        dead_lettered_at=utc_now(),
    )
    return make_event(
        source=service,
        event_type=message_dead_lettered_type(service),
        subject=redacted.key or at.subject(),
        data=data,
    )


async def _insert_row(
    conn: DbConnection,
    *,
    service: str,
    at: _Coordinates,
    redacted: _Redacted,
    event: CloudEvent[Any],
) -> bool:
    """False if these coordinates were dead-lettered before (that row is left as it was)."""
    inserted = await conn.fetchval(
        """
        INSERT INTO dead_letters
            (service, source_topic, partition, "offset", key, payload, reason, error,
             redactions, event_id, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (source_topic, partition, "offset") DO NOTHING
        RETURNING true
        """,
        service,
        at.topic,
        at.partition,
        at.offset,
        redacted.key,
        redacted.payload,
        redacted.reason,
        redacted.error,
        redacted.count,
        UUID(event.id),
        event.data.dead_lettered_at,
    )
    return inserted is True


async def record_dead_letter(
    conn: DbConnection,
    *,
    service: str,
    source_topic: str,
    partition: int,
    offset: int,
    key: bytes | str | None,
    payload: bytes,
    reason: str,
    error: str,
    topic_prefix: str = "",
) -> bool:
    """Store a poison message and queue its dead-letter event, in the caller's transaction.

    Returns False (and queues nothing) when these coordinates were dead-lettered before.
    """
    require_transaction(conn, "record_dead_letter")
    redacted = _redact(key, payload, reason, error)
    at = _Coordinates(source_topic, partition, offset)
    event = _dead_lettered_event(service, at, redacted)
    if not await _insert_row(conn, service=service, at=at, redacted=redacted, event=event):
        return False
    topic = topic_name(dead_letter_topic_for(service), topic_prefix)
    await add_to_outbox(conn, topic=topic, key=event.subject, event=event)
    return True


class DeadLetterSink:
    """Where a service's poison messages go: its `dead_letters` table and dead-letter topic.

    Each record is written in its own transaction on the service's pool; the outbox relay then
    publishes it to `<prefix><service>.dead-letter`. `topic_prefix` is also the prefix the
    service's subscribers read under.
    """

    def __init__(self, pool: asyncpg.Pool[Any], *, service: str, topic_prefix: str = "") -> None:
        self.pool = pool
        self.service = service
        self.topic_prefix = topic_prefix

    async def record(self, record: RawRecord, *, reason: str, error: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await record_dead_letter(
                conn,
                service=self.service,
                source_topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                payload=record.value,
                reason=reason,
                error=error,
                topic_prefix=self.topic_prefix,
            )
