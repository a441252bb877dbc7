"""Payloads of `notifier.commands` (to the notifier) and `notifier.deliveries` (from it).

`notifier.commands` carries the staff's bulk apology letters (お詫び文): a `send-apology` command
drafts a batch (one letter per affected household), and a *second* staff member releases it
with `approve-apology`; the notifier refuses a release by the staff member who asked for it.
Kafka key and `subject`: the batch id.

`notifier.deliveries` is the delivery log: one `delivery-logged` event per attempt and status
change of each (event, recipient, channel), `delivery-failed` when a delivery is finally given
up, and the apology batches' progress. Kafka key and `subject`: the recipient id (so one
recipient's log stays in order), or the batch id for batch events.

No personal data travels here: residents appear by id only, never by name, address, email or
phone; an `error` is the kind of failure, never the address that failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from mynaflow.contracts.envelope import CloudEvent, EventData, make_event
from mynaflow.contracts.redaction import RedactedText
from mynaflow.contracts.registry import CaseLike

SOURCE = "notifier"
# Commands are published by the operator CLI.
CLI_SOURCE = "mynaflow-cli"

# --- event types -------------------------------------------------------------------------------
SEND_APOLOGY_V1 = "jp.mynaflow.notifier.send-apology.v1"
APPROVE_APOLOGY_V1 = "jp.mynaflow.notifier.approve-apology.v1"
COMMAND_TYPES = (SEND_APOLOGY_V1, APPROVE_APOLOGY_V1)

DELIVERY_LOGGED_V1 = "jp.mynaflow.notifier.delivery-logged.v1"
DELIVERY_FAILED_V1 = "jp.mynaflow.notifier.delivery-failed.v1"
APOLOGY_BATCH_DRAFTED_V1 = "jp.mynaflow.notifier.apology-batch-drafted.v1"
APOLOGY_BATCH_RELEASED_V1 = "jp.mynaflow.notifier.apology-batch-released.v1"
APOLOGY_BATCH_REFUSED_V1 = "jp.mynaflow.notifier.apology-batch-refused.v1"
APOLOGY_BATCH_COMPLETED_V1 = "jp.mynaflow.notifier.apology-batch-completed.v1"
EVENT_TYPES = (
    DELIVERY_LOGGED_V1,
    DELIVERY_FAILED_V1,
    APOLOGY_BATCH_DRAFTED_V1,
    APOLOGY_BATCH_RELEASED_V1,
    APOLOGY_BATCH_REFUSED_V1,
    APOLOGY_BATCH_COMPLETED_V1,
)

Channel = Literal["letter", "email", "sms", "webhook"]
CHANNELS: tuple[Channel, ...] = ("letter", "email", "sms", "webhook")
DeliveryStatus = Literal["queued", "sent", "retrying", "dead", "undeliverable_moved"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = (
    "queued",
    "sent",
    "retrying",
    "dead",
    "undeliverable_moved",
)
RecipientKind = Literal["resident", "staff"]
RefusalReason = Literal["same_staff", "unknown_batch", "already_released"]


# --- commands: notifier.commands ----------------------------------------------------------------
class SendApology(EventData):
    """`jp.mynaflow.notifier.send-apology.v1`: draft apology letters for these cases.

    `cases` is the `--json` of `mynaflow cases like ...`. The notifier groups them by household
    (one letter each) and keeps the batch as a draft until another staff member approves it.
    """

    batch_id: str = Field(min_length=1, max_length=100)
    requested_by: str = Field(min_length=1)
    cases: list[CaseLike] = Field(min_length=1)


class ApproveApology(EventData):
    """`jp.mynaflow.notifier.approve-apology.v1`: release a drafted batch for printing.

    Refused (`apology-batch-refused`) when `staff_id` is the one who requested the batch.
    """

    batch_id: str = Field(min_length=1, max_length=100)
    staff_id: str = Field(min_length=1)


# --- events: notifier.deliveries ----------------------------------------------------------------
class DeliveryRef(EventData):
    """Which delivery an event is about: one (source event, recipient, channel), named by its
    `idempotency_key` and sent at most once."""

    delivery_id: UUID
    idempotency_key: str
    source_event_id: str
    recipient_id: str
    recipient_kind: RecipientKind
    channel: Channel
    template: str


class DeliveryLogged(DeliveryRef):
    """`jp.mynaflow.notifier.delivery-logged.v1`: one status of one delivery.

    `attempt` counts send attempts so far (0 while `queued`); `retrying` carries
    `next_attempt_at`; `error` says what kind of failure it was. `events` is how many source
    events the message covers (more than 1 when aggregated).
    """

    status: DeliveryStatus
    attempt: int = 0
    events: int = 1
    next_attempt_at: datetime | None = None
    error: RedactedText | None = None
    batch_id: str | None = None
    logged_at: datetime


class DeliveryFailed(DeliveryRef):
    """`jp.mynaflow.notifier.delivery-failed.v1`: a delivery was given up after its last attempt.

    The desk manager is alerted separately (a delivery of its own, template `delivery_failed`).
    """

    attempts: int
    error: RedactedText
    failed_at: datetime


class ApologyBatchDrafted(EventData):
    """`jp.mynaflow.notifier.apology-batch-drafted.v1`: a batch is waiting for its approval."""

    batch_id: str
    requested_by: str
    cases: int
    households: int
    drafted_at: datetime


class ApologyBatchReleased(EventData):
    """`jp.mynaflow.notifier.apology-batch-released.v1`: a second staff member released it."""

    batch_id: str
    requested_by: str
    released_by: str
    letters: int
    released_at: datetime


class ApologyBatchRefused(EventData):
    """`jp.mynaflow.notifier.apology-batch-refused.v1`: an approval that changed nothing.

    `same_staff`: the requester tried to release their own batch (the two-person rule);
    `unknown_batch`: no such draft; `already_released`: released before.
    """

    batch_id: str
    staff_id: str
    reason: RefusalReason
    message: RedactedText
    refused_at: datetime


class ApologyBatchCompleted(EventData):
    """`jp.mynaflow.notifier.apology-batch-completed.v1`: every letter and the manifest written.

    `manual` counts letters flagged in the manifest for manual handling (a name with a
    character the letter font lacks, 外字). `manifest` is relative to the letters folder.
    """

    batch_id: str
    letters: int
    manual: int
    manifest: str
    completed_at: datetime


# --- helpers ------------------------------------------------------------------------------------
def command_event(command: SendApology | ApproveApology) -> CloudEvent[Any]:
    """The CloudEvent for a command; publish it to `notifier.commands` with key `batch_id`."""
    event_type = SEND_APOLOGY_V1 if isinstance(command, SendApology) else APPROVE_APOLOGY_V1
    return make_event(
        source=CLI_SOURCE, event_type=event_type, data=command, subject=command.batch_id
    )


COMMAND_MODELS: dict[str, type[EventData]] = {
    SEND_APOLOGY_V1: SendApology,
    APPROVE_APOLOGY_V1: ApproveApology,
}
EVENT_MODELS: dict[str, type[EventData]] = {
    DELIVERY_LOGGED_V1: DeliveryLogged,
    DELIVERY_FAILED_V1: DeliveryFailed,
    APOLOGY_BATCH_DRAFTED_V1: ApologyBatchDrafted,
    APOLOGY_BATCH_RELEASED_V1: ApologyBatchReleased,
    APOLOGY_BATCH_REFUSED_V1: ApologyBatchRefused,
    APOLOGY_BATCH_COMPLETED_V1: ApologyBatchCompleted,
}


def notifier_event(event_type: str, data: EventData, *, subject: str) -> CloudEvent[Any]:
    """A `notifier.deliveries` CloudEvent; publish it with Kafka key `subject`."""
    return make_event(source=SOURCE, event_type=event_type, data=data, subject=subject)
