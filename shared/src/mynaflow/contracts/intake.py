"""`intake.receipts`: what notice-intake says about every raw J-LIS notice, and sequence gaps.

Three event types share the topic (all CloudEvents, structured JSON):

- `jp.mynaflow.intake.notice-acknowledged.v1` (`NoticeAcknowledged`): one per consumed message.
  Kafka key and CloudEvent subject: the notice id, or the receipt id when no notice id could be
  read. A duplicate notice id repeats the ORIGINAL receipt id with status `duplicate`.
- `jp.mynaflow.intake.sequence-gap-detected.v1` (`SequenceGapDetected`): a sequence number of a
  municipality has been missing longer than the grace period. Reported once per gap.
- `jp.mynaflow.intake.sequence-gap-closed.v1` (`SequenceGapClosed`): every number of a reported
  gap has arrived since.
  Gap events are keyed (and subjected) `municipality:<code>`, which keeps one municipality's gap
  events in order.

Every field is redacted: no individual number (個人番号) is ever in these events.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import Field

from mynaflow.contracts.envelope import EventData
from mynaflow.contracts.jlis import ParsedNotice, QuarantineReason
from mynaflow.contracts.redaction import RedactedJsonObject, RedactedText

NOTICE_ACKNOWLEDGED_V1 = "jp.mynaflow.intake.notice-acknowledged.v1"
SEQUENCE_GAP_DETECTED_V1 = "jp.mynaflow.intake.sequence-gap-detected.v1"
SEQUENCE_GAP_CLOSED_V1 = "jp.mynaflow.intake.sequence-gap-closed.v1"
EVENT_TYPES = (NOTICE_ACKNOWLEDGED_V1, SEQUENCE_GAP_DETECTED_V1, SEQUENCE_GAP_CLOSED_V1)

SOURCE = "notice-intake"
# Reason code on a duplicate whose content differs from the original's.
CONTENT_CONFLICT = "content_conflict"


class ReceiptStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"


class MessageCoordinates(EventData):
    """Where the acknowledged message was read: enough to find it again in Kafka."""

    topic: str
    partition: int
    offset: int


class NoticeAcknowledged(EventData):
    """`jp.mynaflow.intake.notice-acknowledged.v1`: the receipt for one consumed message.

    Notice fields are those that could be read and validated, as received (individual numbers
    redacted); a field that was missing or invalid is null and a reason says why. This way no
    consumer needs intake's tables.

    - `sla_due_on`: the JST date by whose end the owner queue must act; null for kinds with no
      SLA. Known kinds count business days from `issued_at`; quarantined input counts one
      business day from `received_at`.
    - For a duplicate, `receipt_id`, `received_at` of the original are repeated; `owner_queue`
      and `sla_due_on` are the original's, except on a `content_conflict`, which is a new triage
      work item (`work_item_id`) due one business day after it arrived.
    """

    receipt_id: UUID
    # Fields read from J-LIS's input are redacted again at this boundary (the parser did it
    # first): a receipt is stored and published, and must never carry an individual number.
    notice_id: RedactedText | None
    status: ReceiptStatus
    kind: RedactedText | None
    municipality_code: RedactedText | None = None
    issued_at: datetime | None
    application_id: RedactedText | None
    resident_ref: RedactedText | None
    sequence: int | None
    details: RedactedJsonObject | None
    owner_queue: str
    received_at: datetime
    sla_due_on: date | None
    reasons: list[QuarantineReason] = Field(default_factory=list)
    work_item_id: UUID | None = None
    source: MessageCoordinates | None = None

    def kafka_key(self) -> str:
        """The Kafka key and CloudEvent subject: the notice id, else the receipt id."""
        return self.notice_id if self.notice_id is not None else str(self.receipt_id)

    @classmethod
    def of_parsed(
        cls,
        parsed: ParsedNotice,
        *,
        receipt_id: UUID,
        status: ReceiptStatus,
        owner_queue: str,
        received_at: datetime,
        sla_due_on: date | None,
        reasons: list[QuarantineReason],
        source: MessageCoordinates,
    ) -> NoticeAcknowledged:
        """The receipt of one parsed message, its notice fields taken from `parsed.fields`.

        What `parse_raw_notice` returned is redacted already (it says so: `redacted_by_parser`),
        so those fields are not redacted a second time: the parser's redaction was a third of
        intake's CPU per notice. Anything else (a `ParsedNotice` built or copied by hand) is
        validated, and so redacted, in full. The other values are typed (mypy checks every
        call) and carry no free text: reasons are `QuarantineReason`s, redacted when built.
        """
        fields = parsed.fields
        values: dict[str, Any] = {
            "receipt_id": receipt_id,
            "notice_id": fields.notice_id,
            "status": status,
            "kind": fields.kind,
            "municipality_code": fields.municipality_code,
            "issued_at": fields.issued_at,
            "application_id": fields.application_id,
            "resident_ref": fields.resident_ref,
            "sequence": fields.sequence,
            "details": fields.details,
            "owner_queue": owner_queue,
            "received_at": received_at,
            "sla_due_on": sla_due_on,
            "reasons": reasons,
            "source": source,
        }
        if parsed.redacted_by_parser:
            return cls.model_construct(**values)
        return cls(**values)


class SequenceGapDetected(EventData):
    """`jp.mynaflow.intake.sequence-gap-detected.v1`: sequence numbers first..last are missing.

    `first_seen_missing_at` is when a higher (or lower) number first arrived around the hole.
    """

    gap_id: UUID
    municipality_code: str
    first_missing: int
    last_missing: int
    missing_count: int
    first_seen_missing_at: datetime
    detected_at: datetime


class SequenceGapClosed(EventData):
    """`jp.mynaflow.intake.sequence-gap-closed.v1`: every number of a reported gap arrived."""

    gap_id: UUID
    municipality_code: str
    first_missing: int
    last_missing: int
    first_seen_missing_at: datetime
    closed_at: datetime


def gap_event_key(municipality_code: str) -> str:
    """Kafka key and subject of gap events: one municipality's gap events stay in order."""
    return f"municipality:{municipality_code}"
