"""The contract events notice-intake emits, built from domain values (pure: no I/O).

Each event's subject is its Kafka key: the aggregate the event is about (the notice, the
deadline, the municipality's sequence), which keeps that aggregate's events in order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mynaflow.contracts.deadlines import ScheduleDeadline, schedule_request_event
from mynaflow.contracts.envelope import CloudEvent, make_event
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

from notice_intake.domain.sequence_gaps import Gap


def receipt_event(receipt: NoticeAcknowledged) -> CloudEvent[Any]:
    """Keyed by the notice id, or by the receipt id when no notice id could be read."""
    key = receipt.kafka_key()
    return make_event(source=SOURCE, event_type=NOTICE_ACKNOWLEDGED_V1, data=receipt, subject=key)


def deadline_request_event(request: ScheduleDeadline) -> CloudEvent[Any]:
    """A `notice_sla` schedule request, keyed by the deadline key."""
    return schedule_request_event(request, source=SOURCE)


def gap_detected_event(municipality_code: str, gap: Gap, at: datetime) -> CloudEvent[Any]:
    data = SequenceGapDetected(
        gap_id=gap.gap_id,
        municipality_code=municipality_code,
        first_missing=gap.first_missing,
        last_missing=gap.last_missing,
        missing_count=gap.missing_count,
        first_seen_missing_at=gap.first_seen_missing_at,
        detected_at=at,
    )
    return _gap_event(SEQUENCE_GAP_DETECTED_V1, municipality_code, data)


def gap_closed_event(municipality_code: str, gap: Gap) -> CloudEvent[Any]:
    assert gap.closed_at is not None, "only a closed gap is announced as closed"
    data = SequenceGapClosed(
        gap_id=gap.gap_id,
        municipality_code=municipality_code,
        first_missing=gap.first_missing,
        last_missing=gap.last_missing,
        first_seen_missing_at=gap.first_seen_missing_at,
        closed_at=gap.closed_at,
    )
    return _gap_event(SEQUENCE_GAP_CLOSED_V1, municipality_code, data)


def _gap_event(
    event_type: str, municipality_code: str, data: SequenceGapDetected | SequenceGapClosed
) -> CloudEvent[Any]:
    """Keyed by the municipality: its gaps' events stay in order."""
    key = gap_event_key(municipality_code)
    return make_event(source=SOURCE, event_type=event_type, data=data, subject=key)
