"""`registry.commands` (staff actions, to card-registry) and `registry.events` (from it).

Commands are CloudEvents of type `jp.mynaflow.registry.<action>.v1`. Each names its work item,
card or queue in `subject` (and is keyed by it), and carries `staff_id` and `performed_at`, when
the staff member acted (default: the event's `time`, so past work can be replayed with its real
dates). Every command is answered by exactly one `command-accepted` or `command-rejected` on
`registry.events`, under the command's own subject, with the command's id.

Events are `jp.mynaflow.registry.<event>.v1`; each names its card, notice, resident or queue in
`subject` and in `data`, and is keyed by that id. No event holds an individual number
(個人番号): free text (a resolution note) is redacted before it is written.

Example, a staff member verifying a chip rewrite (what `mynaflow staff verify-chip-rewrite`
publishes):

    command = command_event(VerifyChipRewrite(staff_id="S-102", card_id="C-7781"))
    # publish encode_event(command) to registry.commands with key command_key(command.data)
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from mynaflow.contracts.envelope import CloudEvent, EventData, make_event
from mynaflow.contracts.redaction import RedactedText

SOURCE = "card-registry"
COMMAND_PREFIX = "jp.mynaflow.registry."

# --- commands: registry.commands ----------------------------------------------------------------
ASSIGN_NOTICE_V1 = "jp.mynaflow.registry.assign-notice.v1"
RESOLVE_NOTICE_V1 = "jp.mynaflow.registry.resolve-notice.v1"
RECORD_SURFACE_PRINT_V1 = "jp.mynaflow.registry.record-surface-print.v1"
RECORD_CHIP_REWRITE_V1 = "jp.mynaflow.registry.record-chip-rewrite.v1"
VERIFY_CHIP_REWRITE_V1 = "jp.mynaflow.registry.verify-chip-rewrite.v1"
RECORD_CARD_DELIVERED_V1 = "jp.mynaflow.registry.record-card-delivered.v1"
SEND_PICKUP_NOTICE_V1 = "jp.mynaflow.registry.send-pickup-notice.v1"
RECORD_CARD_HANDOVER_V1 = "jp.mynaflow.registry.record-card-handover.v1"
STAFF_JOINED_QUEUE_V1 = "jp.mynaflow.registry.staff-joined-queue.v1"
STAFF_LEFT_QUEUE_V1 = "jp.mynaflow.registry.staff-left-queue.v1"

# --- events: registry.events --------------------------------------------------------------------
COMMAND_ACCEPTED_V1 = "jp.mynaflow.registry.command-accepted.v1"
COMMAND_REJECTED_V1 = "jp.mynaflow.registry.command-rejected.v1"
WORK_ITEM_OPENED_V1 = "jp.mynaflow.registry.work-item-opened.v1"
NOTICE_ASSIGNED_V1 = "jp.mynaflow.registry.notice-assigned.v1"
NOTICE_RESOLVED_V1 = "jp.mynaflow.registry.notice-resolved.v1"
SURFACE_CHIP_MISMATCH_V1 = "jp.mynaflow.registry.surface-chip-mismatch.v1"
CHIP_REWRITE_VERIFIED_V1 = "jp.mynaflow.registry.chip-rewrite-verified.v1"
CARD_EXPIRED_V1 = "jp.mynaflow.registry.card-expired.v1"
QUEUE_MEMBERSHIP_CHANGED_V1 = "jp.mynaflow.registry.queue-membership-changed.v1"
QUEUE_ORPHANED_V1 = "jp.mynaflow.registry.queue-orphaned.v1"
QUEUE_STAFFED_V1 = "jp.mynaflow.registry.queue-staffed.v1"
CARD_HELD_V1 = "jp.mynaflow.registry.card-held.v1"
CARD_DELIVERED_V1 = "jp.mynaflow.registry.card-delivered.v1"
PICKUP_NOTICE_SENT_V1 = "jp.mynaflow.registry.pickup-notice-sent.v1"
PICKUP_RE_NOTICE_SENT_V1 = "jp.mynaflow.registry.pickup-re-notice-sent.v1"
CARD_HANDED_OVER_V1 = "jp.mynaflow.registry.card-handed-over.v1"
CARD_DESTROYED_V1 = "jp.mynaflow.registry.card-destroyed.v1"

EVENT_TYPES = (
    COMMAND_ACCEPTED_V1,
    COMMAND_REJECTED_V1,
    WORK_ITEM_OPENED_V1,
    NOTICE_ASSIGNED_V1,
    NOTICE_RESOLVED_V1,
    SURFACE_CHIP_MISMATCH_V1,
    CHIP_REWRITE_VERIFIED_V1,
    CARD_EXPIRED_V1,
    QUEUE_MEMBERSHIP_CHANGED_V1,
    QUEUE_ORPHANED_V1,
    QUEUE_STAFFED_V1,
    CARD_HELD_V1,
    CARD_DELIVERED_V1,
    PICKUP_NOTICE_SENT_V1,
    PICKUP_RE_NOTICE_SENT_V1,
    CARD_HANDED_OVER_V1,
    CARD_DESTROYED_V1,
)


class CardState(StrEnum):
    """The card lifecycle (docs/domain.md, "Card lifecycle")."""

    HELD = "held"  # 発行保留: on hold until the ward updates the record
    DELIVERED = "delivered"  # arrived at the ward
    PICKUP_NOTICE_SENT = "pickup_notice_sent"  # 交付通知書 sent
    PICKUP_RE_NOTICE_SENT = "pickup_re_notice_sent"  # 再通知 sent
    HANDED_OVER = "handed_over"  # in the holder's hands (also: a card brought by a move-in)
    DESTROYED = "destroyed"  # 廃棄: never picked up
    EXPIRED = "expired"  # 失効


class RejectionReason(StrEnum):
    """Machine-readable reasons on `command-rejected`."""

    UNKNOWN_STAFF = "unknown_staff"
    UNKNOWN_CARD = "unknown_card"
    UNKNOWN_NOTICE = "unknown_notice"
    UNKNOWN_RESIDENT = "unknown_resident"
    FOUR_EYES_SAME_STAFF = "four_eyes_same_staff"
    NOT_REWRITTEN = "verification_before_rewrite"
    NO_OPEN_CASE = "no_open_move_in_case"
    ALREADY_RESOLVED = "already_resolved"
    INVALID_TRANSITION = "invalid_transition"
    CARD_EXPIRED = "card_expired"
    NOT_A_MEMBER = "not_a_member"
    ALREADY_A_MEMBER = "already_a_member"
    INVALID_COMMAND = "invalid_command"


# --- command payloads ---------------------------------------------------------------------------
class RegistryCommand(EventData):
    """Fields every command has. `performed_at` null means the event's `time`."""

    staff_id: str = Field(min_length=1)
    performed_at: AwareDatetime | None = None

    def kafka_key(self) -> str:
        raise NotImplementedError


class WorkItemCommand(RegistryCommand):
    """Names one work item: by `notice_id`; by `receipt_id` for an item without a notice id;
    by `work_item_id` for a content-conflict triage item (which shares its notice id)."""

    notice_id: str | None = None
    receipt_id: UUID | None = None
    work_item_id: UUID | None = None

    @model_validator(mode="after")
    def _names_one_item(self) -> WorkItemCommand:
        named = [self.notice_id, self.receipt_id, self.work_item_id]
        if sum(value is not None for value in named) != 1:
            raise ValueError("give exactly one of notice_id, receipt_id or work_item_id")
        return self

    def item_key(self) -> str:
        """The work item's key: `notice:<id>`, `receipt:<id>` or `conflict:<id>`.

        The same string is the `notice_sla` deadline key notice-intake scheduled for it.
        """
        if self.notice_id is not None:
            return f"notice:{self.notice_id}"
        if self.receipt_id is not None:
            return f"receipt:{self.receipt_id}"
        return f"conflict:{self.work_item_id}"

    def kafka_key(self) -> str:
        return self.item_key()


class AssignNotice(WorkItemCommand):
    """`assign-notice`: `assignee` (default: the staff member) takes the work item."""

    assignee: str | None = None


class ResolveNotice(WorkItemCommand):
    """`resolve-notice`: the work is done. `note` is free text; it is redacted when stored."""

    resolution: RedactedText = Field(
        min_length=1, examples=["record_updated", "reapplication_requested"]
    )
    note: RedactedText = ""


class CardCommand(RegistryCommand):
    card_id: str = Field(min_length=1)

    def kafka_key(self) -> str:
        return f"card:{self.card_id}"


class RecordSurfacePrint(CardCommand):
    """`record-surface-print`: the new address was printed on the card's surface (券面記載)."""


class RecordChipRewrite(CardCommand):
    """`record-chip-rewrite`: the address in the IC chip was rewritten (継続利用の手続)."""


class VerifyChipRewrite(CardCommand):
    """`verify-chip-rewrite`: a second staff member checked the rewrite (four eyes)."""


class RecordCardDelivered(CardCommand):
    """`record-card-delivered`: a finished card arrived at the ward for `resident_id`."""

    resident_id: str = Field(min_length=1)
    application_date: date
    issued_on: date


class SendPickupNotice(CardCommand):
    """`send-pickup-notice`: the pickup notice (交付通知書) was sent; the second one is the
    re-notice (再通知)."""


class RecordCardHandover(CardCommand):
    """`record-card-handover`: the card was handed to its holder (交付)."""


class QueueCommand(RegistryCommand):
    """`staff_id` is the member who joins or leaves; `queue` the queue."""

    queue: str = Field(min_length=1)

    def kafka_key(self) -> str:
        return f"queue:{self.queue}"


class StaffJoinedQueue(QueueCommand):
    """`staff-joined-queue`. A staff id is known to the registry once it has joined a queue."""


class StaffLeftQueue(QueueCommand):
    """`staff-left-queue`. Reminders for the queue never go to a member who left."""


COMMAND_MODELS: dict[str, type[RegistryCommand]] = {
    ASSIGN_NOTICE_V1: AssignNotice,
    RESOLVE_NOTICE_V1: ResolveNotice,
    RECORD_SURFACE_PRINT_V1: RecordSurfacePrint,
    RECORD_CHIP_REWRITE_V1: RecordChipRewrite,
    VERIFY_CHIP_REWRITE_V1: VerifyChipRewrite,
    RECORD_CARD_DELIVERED_V1: RecordCardDelivered,
    SEND_PICKUP_NOTICE_V1: SendPickupNotice,
    RECORD_CARD_HANDOVER_V1: RecordCardHandover,
    STAFF_JOINED_QUEUE_V1: StaffJoinedQueue,
    STAFF_LEFT_QUEUE_V1: StaffLeftQueue,
}
COMMAND_TYPES = tuple(COMMAND_MODELS)
COMMAND_TYPE_OF: dict[type[RegistryCommand], str] = {
    model: event_type for event_type, model in COMMAND_MODELS.items()
}


def action_of(command_type: str) -> str:
    """`jp.mynaflow.registry.verify-chip-rewrite.v1` -> `verify-chip-rewrite`."""
    return command_type.removeprefix(COMMAND_PREFIX).rsplit(".", 1)[0]


def command_event(
    command: RegistryCommand, *, source: str = "mynaflow-cli", time: datetime | None = None
) -> CloudEvent[Any]:
    """The CloudEvent for a command; publish it with Kafka key `command.kafka_key()`."""
    event = make_event(
        source=source,
        event_type=COMMAND_TYPE_OF[type(command)],
        data=command,
        subject=command.kafka_key(),
    )
    return event if time is None else event.model_copy(update={"time": time})


# --- event payloads -----------------------------------------------------------------------------
class CommandOutcome(EventData):
    """`command-accepted` / `command-rejected`: the answer to one command (by its event id).

    `reason` (machine-readable, `RejectionReason`) and `message` (for people) are set on
    rejections only. Nothing of a rejected command was applied.
    """

    command_id: str
    command_type: str
    staff_id: str
    performed_at: datetime
    card_id: str | None = None
    notice_id: str | None = None
    receipt_id: UUID | None = None
    work_item_id: UUID | None = None
    queue: str | None = None
    reason: RedactedText | None = None
    message: RedactedText | None = None


class WorkItemFacts(EventData):
    """What a work item is from the receipt that opened it: `WorkItemOpened` carries these, and
    card-registry's `WorkItem` keeps them beside its assignment and resolution.

    `opened_at` is when the obligation began (the notice's `issued_at`, else when intake
    received it).
    """

    notice_id: str | None
    receipt_id: UUID
    kind: str | None
    queue: str
    status: str
    resident_id: str | None
    application_id: str | None
    opened_at: datetime
    sla_due_on: date | None


class WorkItemOpened(WorkItemFacts):
    """`work-item-opened`: a receipt became a work item in its owner queue.

    `work_item_id` is the item's key (`notice:<id>`, `receipt:<id>` or `conflict:<id>`), which
    is also its `notice_sla` deadline key.
    """

    work_item_id: str


class NoticeAssigned(EventData):
    """`notice-assigned`: `assignee` now works the item; `queue` is its owner queue."""

    work_item_id: str
    notice_id: str | None
    receipt_id: UUID
    queue: str
    assignee: str
    assigned_by: str
    assigned_at: datetime


class NoticeResolved(EventData):
    """`notice-resolved`: the item is done; `note` is redacted free text."""

    work_item_id: str
    notice_id: str | None
    receipt_id: UUID
    queue: str
    kind: str | None
    resolution: RedactedText
    note: RedactedText
    resolved_by: str
    resolved_at: datetime


class SurfaceChipMismatch(EventData):
    """`surface-chip-mismatch`: the surface was printed but the chip was not rewritten by the
    end of that JST day (Case 2). Emitted even when the card has expired since."""

    card_id: str
    resident_id: str
    household_id: str
    surface_printed_by: str
    surface_printed_at: datetime
    detected_at: datetime
    # The queue whose desk manager hears of it (with the staff member who printed).
    queue: str | None = None


class ChipRewriteVerified(EventData):
    """`chip-rewrite-verified`: a second staff member verified the rewrite; the case is done."""

    card_id: str
    resident_id: str
    household_id: str
    rewritten_by: str
    rewritten_at: datetime
    verified_by: str
    verified_at: datetime


class CardStateChanged(EventData):
    """The lifecycle events, one type per state (`card-held` … `card-expired`).

    `at` is when it happened (a command's `performed_at`, or a deadline's due time); `by` the
    staff member, null for what the registry did itself. `reason` says why on `card-expired`
    (`chip_rewrite_overdue`, `moved_out_before_rewrite`) and `card-destroyed`
    (`pickup_period_ended`). Validity dates are set from `card-handed-over` on.
    """

    card_id: str
    resident_id: str
    household_id: str | None
    state: CardState
    previous_state: CardState | None
    at: datetime
    by: str | None = None
    reason: RedactedText | None = None
    application_date: date | None = None
    issued_on: date | None = None
    card_valid_until: date | None = None
    certificate_valid_until: date | None = None


class QueueMembershipChanged(EventData):
    """`queue-membership-changed`: `members` is the queue's whole current membership."""

    queue: str
    staff_id: str
    change: Literal["joined", "left"]
    members: list[str]
    at: datetime


class QueueOrphaned(EventData):
    """`queue-orphaned`: the queue has open work and no member. Once until staffed again."""

    queue: str
    reason: Literal["last_member_left", "work_arrived_unstaffed"]
    open_items: int
    at: datetime


class QueueStaffed(EventData):
    """`queue-staffed`: an orphaned queue has a member again."""

    queue: str
    members: list[str]
    at: datetime


EVENT_MODELS: dict[str, type[EventData]] = {
    COMMAND_ACCEPTED_V1: CommandOutcome,
    COMMAND_REJECTED_V1: CommandOutcome,
    WORK_ITEM_OPENED_V1: WorkItemOpened,
    NOTICE_ASSIGNED_V1: NoticeAssigned,
    NOTICE_RESOLVED_V1: NoticeResolved,
    SURFACE_CHIP_MISMATCH_V1: SurfaceChipMismatch,
    CHIP_REWRITE_VERIFIED_V1: ChipRewriteVerified,
    CARD_EXPIRED_V1: CardStateChanged,
    QUEUE_MEMBERSHIP_CHANGED_V1: QueueMembershipChanged,
    QUEUE_ORPHANED_V1: QueueOrphaned,
    QUEUE_STAFFED_V1: QueueStaffed,
    CARD_HELD_V1: CardStateChanged,
    CARD_DELIVERED_V1: CardStateChanged,
    PICKUP_NOTICE_SENT_V1: CardStateChanged,
    PICKUP_RE_NOTICE_SENT_V1: CardStateChanged,
    CARD_HANDED_OVER_V1: CardStateChanged,
    CARD_DESTROYED_V1: CardStateChanged,
}

# The lifecycle event type announcing each state.
STATE_EVENT_TYPES: dict[CardState, str] = {
    CardState.HELD: CARD_HELD_V1,
    CardState.DELIVERED: CARD_DELIVERED_V1,
    CardState.PICKUP_NOTICE_SENT: PICKUP_NOTICE_SENT_V1,
    CardState.PICKUP_RE_NOTICE_SENT: PICKUP_RE_NOTICE_SENT_V1,
    CardState.HANDED_OVER: CARD_HANDED_OVER_V1,
    CardState.DESTROYED: CARD_DESTROYED_V1,
    CardState.EXPIRED: CARD_EXPIRED_V1,
}


def registry_event(
    event_type: str, data: EventData, *, subject: str, time: datetime | None = None
) -> CloudEvent[Any]:
    """A `registry.events` CloudEvent; publish it with Kafka key `subject`."""
    event = make_event(source=SOURCE, event_type=event_type, data=data, subject=subject)
    return event if time is None else event.model_copy(update={"time": time})


# --- the "cases like" report (mynaflow cases like --json; the notifier's bulk-letter input) -----
class CaseKind(StrEnum):
    """What `cases like --kind` selects. Notice kinds (open set) are accepted as well."""

    CHIP_REWRITE = "chip_rewrite"  # move-in cases (Case 2)
    SURFACE_CHIP_MISMATCH = "surface_chip_mismatch"


class CaseLike(BaseModel):
    """One case of a "find every case like A's" report.

    `case_id` is the card id (move-in cases) or the work item key (notices). `opened_at` is when
    the obligation began, `due_at` when it fell due, `closed_at` when it was done (null while
    open); `overdue` is whether it is open past `due_at` or was closed after it.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: str
    case_id: str
    resident_id: str | None
    household_id: str | None
    card_id: str | None
    notice_id: str | None
    queue: str | None
    state: str
    opened_at: datetime
    due_at: datetime | None
    closed_at: datetime | None
    overdue: bool


class CasesLikeReport(BaseModel):
    """`GET /cases-like`: the cases of one kind, oldest first."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: str
    overdue_only: bool
    since: date | None
    generated_at: datetime
    cases: list[CaseLike]
