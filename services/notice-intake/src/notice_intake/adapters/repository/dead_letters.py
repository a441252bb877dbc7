"""Bytes that are not JSON at all: a dead letter besides their quarantine receipt."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from mynaflow.contracts.jlis import QuarantineReason
from mynaflow.messaging.dead_letter import record_dead_letter

from notice_intake.domain.messages import RawNoticeMessage

if TYPE_CHECKING:
    from mynaflow.storage.pool import DbConnection


class DeadLetters(Protocol):
    async def record_unreadable(
        self, message: RawNoticeMessage, reason: QuarantineReason, *, service: str, prefix: str
    ) -> None:
        """Record `message` and queue it for `<prefix>intake.dead-letter` (redacted)."""
        ...


class SqlDeadLetters:
    """The platform's `dead_letters` table and outbox, in the unit's transaction."""

    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def record_unreadable(
        self, message: RawNoticeMessage, reason: QuarantineReason, *, service: str, prefix: str
    ) -> None:
        await record_dead_letter(
            self._conn,
            service=service,
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            payload=message.value,
            reason=reason.code,
            error=reason.message,
            topic_prefix=prefix,
        )
