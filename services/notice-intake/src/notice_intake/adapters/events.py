"""Events notice-intake emits, written to the outbox in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mynaflow.contracts.deadlines import ScheduleDeadline, schedule_request_event
from mynaflow.contracts.envelope import make_event
from mynaflow.contracts.intake import (
    NOTICE_ACKNOWLEDGED_V1,
    SEQUENCE_GAP_CLOSED_V1,
    SEQUENCE_GAP_DETECTED_V1,
    SOURCE,
    NoticeAcknowledged,
    SequenceGapClosed,
    SequenceGapDetected,
    gap_event_key,
)
from mynaflow.contracts.jlis import QuarantineReason
from mynaflow.contracts.topics import DEADLINES_REQUESTS, INTAKE_RECEIPTS, topic_name
from mynaflow.messaging.dead_letter import record_dead_letter
from mynaflow.messaging.outbox import add_many_to_outbox, add_to_outbox

from notice_intake.domain.messages import RawNoticeMessage
from notice_intake.domain.sequence_gaps import Gap

if TYPE_CHECKING:
    from mynaflow.storage.pool import DbConnection

SERVICE_NAME = "notice-intake"


@dataclass(frozen=True)
class IntakeTopics:
    """Physical topic names under the deployment's prefix."""

    prefix: str = ""

    @property
    def receipts(self) -> str:
        return topic_name(INTAKE_RECEIPTS, self.prefix)

    @property
    def deadline_requests(self) -> str:
        return topic_name(DEADLINES_REQUESTS, self.prefix)


async def emit_receipts(
    conn: DbConnection, topics: IntakeTopics, receipts: Sequence[NoticeAcknowledged]
) -> None:
    """One receipt event per message, in message order, in one statement."""
    events = [
        (
            r.kafka_key(),
            make_event(
                source=SOURCE, event_type=NOTICE_ACKNOWLEDGED_V1, data=r, subject=r.kafka_key()
            ),
        )
        for r in receipts
    ]
    await add_many_to_outbox(conn, topic=topics.receipts, events=events)


async def request_deadlines(
    conn: DbConnection, topics: IntakeTopics, requests: Sequence[ScheduleDeadline]
) -> None:
    """`notice_sla` schedule requests, keyed by the deadline key, in one statement."""
    events = [(r.key, schedule_request_event(r, source=SOURCE)) for r in requests]
    await add_many_to_outbox(conn, topic=topics.deadline_requests, events=events)


async def emit_gap_detected(
    conn: DbConnection, topics: IntakeTopics, municipality_code: str, gap: Gap, at: datetime
) -> None:
    data = SequenceGapDetected(
        gap_id=gap.gap_id,
        municipality_code=municipality_code,
        first_missing=gap.first_missing,
        last_missing=gap.last_missing,
        missing_count=gap.missing_count,
        first_seen_missing_at=gap.first_seen_missing_at,
        detected_at=at,
    )
    await _emit_gap_event(conn, topics, SEQUENCE_GAP_DETECTED_V1, municipality_code, data)


async def emit_gap_closed(
    conn: DbConnection, topics: IntakeTopics, municipality_code: str, gap: Gap
) -> None:
    assert gap.closed_at is not None, "only a closed gap is announced as closed"
    data = SequenceGapClosed(
        gap_id=gap.gap_id,
        municipality_code=municipality_code,
        first_missing=gap.first_missing,
        last_missing=gap.last_missing,
        first_seen_missing_at=gap.first_seen_missing_at,
        closed_at=gap.closed_at,
    )
    await _emit_gap_event(conn, topics, SEQUENCE_GAP_CLOSED_V1, municipality_code, data)


async def _emit_gap_event(
    conn: DbConnection,
    topics: IntakeTopics,
    event_type: str,
    municipality_code: str,
    data: SequenceGapDetected | SequenceGapClosed,
) -> None:
    key = gap_event_key(municipality_code)
    event = make_event(source=SOURCE, event_type=event_type, data=data, subject=key)
    await add_to_outbox(conn, topic=topics.receipts, key=key, event=event)


async def dead_letter_unreadable(
    conn: DbConnection, topics: IntakeTopics, message: RawNoticeMessage, reason: QuarantineReason
) -> None:
    """Bytes that are not JSON at all also go to `intake.dead-letter` (redacted by the platform)."""
    await record_dead_letter(
        conn,
        service=SERVICE_NAME,
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        payload=message.value,
        reason=reason.code,
        error=reason.message,
        topic_prefix=topics.prefix,
    )
