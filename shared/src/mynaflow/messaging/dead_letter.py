"""Dead letters: a poison message is recorded, announced on the service's dead-letter topic, and
then the partition moves on.

Individual numbers are redacted before anything is stored or queued: payload, key, reason and
error text alike (a validation error quotes the offending input). One row per source record,
identified by its coordinates and a hash of its redacted key and bytes: a redelivered poison
message (the offset was not committed before a crash) adds nothing, so the dead-letter topic
carries one event per poison message; a *different* record at a position already dead-lettered
(the topic was recreated, or its data lost) is still recorded, and logged as an error.

The stored row keeps the full redacted bytes and key (as bytes: a key may hold a NUL, which
PostgreSQL's text refuses), so it can be replayed. The event embeds at most
`EVENT_PREVIEW_BYTES` of them, with their length and SHA-256, so that it always fits in a Kafka
record however large the poison message was.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import struct
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


log = logging.getLogger(__name__)

# How much of the redacted original a dead-letter event embeds. Kafka refuses records over
# about 1 MB (`max.request.size`, `message.max.bytes`), and base64 adds a third: a 900 kB poison
# message would make an event no relay could ever publish. The stored row keeps everything.
EVENT_PREVIEW_BYTES = 16 * 1024


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

    @property
    def key_bytes(self) -> bytes | None:
        return None if self.key is None else self.key.encode("utf-8")

    def record_sha256(self) -> bytes:
        return record_sha256(self.key_bytes, self.payload)


def record_sha256(key: bytes | None, payload: bytes) -> bytes:
    """What tells two records at one position apart (the platform's V2 migration computes the same).

    The key's length comes first (-1 for none), so that key and payload cannot trade bytes.
    """
    length = -1 if key is None else len(key)
    return hashlib.sha256(struct.pack(">i", length) + (key or b"") + payload).digest()


def printable_key(key: str | None) -> str | None:
    """A key as an event subject and outbox key can carry it: control characters escaped.

    A NUL byte cannot be stored in PostgreSQL's text, and other control characters only confuse
    whoever reads the subject.
    """
    if key is None:
        return None
    return "".join(char if char.isprintable() else _escaped(char) for char in key)


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _preview(payload: bytes) -> bytes:
    """At most `EVENT_PREVIEW_BYTES` of the redacted payload, redacted again after the cut.

    A cut can turn a longer digit run (never a number, so never redacted) into twelve digits at
    the end of the preview; redacting again makes sure none is left.
    """
    if len(payload) <= EVENT_PREVIEW_BYTES:
        return payload
    return redact_payload_bytes(payload[:EVENT_PREVIEW_BYTES])[0]


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
    return _Redacted(safe_key, safe_payload, _storable(safe_reason), _storable(safe_error), total)


def _storable(text: str) -> str:
    # An error may quote the record's bytes, NUL included, which PostgreSQL's text refuses: the
    # dead letter would then never be stored, and its partition would stop.
    return text.replace("\x00", "\\x00")


def _dead_lettered_event(service: str, at: _Coordinates, redacted: _Redacted) -> CloudEvent[Any]:
    preview = _preview(redacted.payload)
    key = printable_key(redacted.key)
    data = DeadLetteredMessage(
        source_topic=at.topic,
        partition=at.partition,
        offset=at.offset,
        key=key,
        reason=redacted.reason,
        error=redacted.error,
        original_base64=base64.b64encode(preview).decode("ascii"),
        original_length=len(redacted.payload),
        original_sha256=hashlib.sha256(redacted.payload).hexdigest(),
        original_truncated=len(preview) < len(redacted.payload),
        redactions=redacted.count,
        dead_lettered_at=utc_now(),
    )
    return make_event(
        source=service,
        event_type=message_dead_lettered_type(service),
        subject=key or at.subject(),
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
    """False if this record was dead-lettered before (that row is left as it was)."""
    inserted = await conn.fetchval(
        """
        INSERT INTO dead_letters
            (service, source_topic, partition, "offset", key, payload, reason, error,
             redactions, event_id, created_at, record_sha256)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (source_topic, partition, "offset", record_sha256) DO NOTHING
        RETURNING true
        """,
        service,
        at.topic,
        at.partition,
        at.offset,
        redacted.key_bytes,
        redacted.payload,
        redacted.reason,
        redacted.error,
        redacted.count,
        UUID(event.id),
        event.data.dead_lettered_at,
        redacted.record_sha256(),
    )
    return inserted is True


async def _warn_if_position_reused(
    conn: DbConnection, *, at: _Coordinates, redacted: _Redacted
) -> None:
    """Log an error when another record was dead-lettered at this same position before.

    Offsets only repeat when the topic was recreated, its data lost, or the consumers moved to
    another cluster: every notice since then must be checked (see docs/operations.md).
    """
    others = await conn.fetchval(
        """
        SELECT count(*) FROM dead_letters
        WHERE source_topic = $1 AND partition = $2 AND "offset" = $3 AND record_sha256 <> $4
        """,
        at.topic,
        at.partition,
        at.offset,
        redacted.record_sha256(),
    )
    if others:
        log.error(
            "dead letter at a position already dead-lettered with other content: offsets went "
            "backwards (topic recreated, data lost, or another cluster)",
            extra={"topic": at.topic, "partition": at.partition, "offset": at.offset},
        )


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

    Returns False (and queues nothing) when this record (same coordinates, same redacted key
    and bytes) was dead-lettered before.
    """
    require_transaction(conn, "record_dead_letter")
    redacted = _redact(key, payload, reason, error)
    at = _Coordinates(source_topic, partition, offset)
    event = _dead_lettered_event(service, at, redacted)
    if not await _insert_row(conn, service=service, at=at, redacted=redacted, event=event):
        return False
    await _warn_if_position_reused(conn, at=at, redacted=redacted)
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
