"""Pure builders of the events card-registry emits on `registry.events`.

Each names its card, work item or queue in `subject` (which is also the Kafka key) and in
`data`; `now` stamps the envelope so that tests with a fake clock get exact events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mynaflow.contracts import registry as contract
from mynaflow.contracts.envelope import CloudEvent
from mynaflow.contracts.registry import (
    CardStateChanged,
    ChipRewriteVerified,
    CommandOutcome,
    NoticeAssigned,
    NoticeResolved,
    QueueMembershipChanged,
    QueueOrphaned,
    QueueStaffed,
    RegistryCommand,
    RejectionReason,
    SurfaceChipMismatch,
    WorkItemFacts,
    WorkItemOpened,
    registry_event,
)

from card_registry.domain.lifecycle import Card
from card_registry.domain.queues import OrphanReason, Queue
from card_registry.domain.work_items import WorkItem


def card_subject(card_id: str) -> str:
    return f"card:{card_id}"


def queue_subject(queue: str) -> str:
    return f"queue:{queue}"


def _outcome(
    command_id: str, command_type: str, command: RegistryCommand, performed_at: datetime
) -> dict[str, Any]:
    return {
        "command_id": command_id,
        "command_type": command_type,
        "staff_id": command.staff_id,
        "performed_at": performed_at,
        "card_id": getattr(command, "card_id", None),
        "notice_id": getattr(command, "notice_id", None),
        "receipt_id": getattr(command, "receipt_id", None),
        "work_item_id": getattr(command, "work_item_id", None),
        "queue": getattr(command, "queue", None),
    }


def command_accepted(
    command_id: str,
    command_type: str,
    command: RegistryCommand,
    performed_at: datetime,
    now: datetime,
) -> CloudEvent[Any]:
    data = CommandOutcome(**_outcome(command_id, command_type, command, performed_at))
    subject = command.kafka_key()
    return registry_event(contract.COMMAND_ACCEPTED_V1, data, subject=subject, time=now)


def command_rejected(
    command_id: str,
    command_type: str,
    command: RegistryCommand,
    performed_at: datetime,
    reason: RejectionReason,
    message: str,
    now: datetime,
) -> CloudEvent[Any]:
    fields = _outcome(command_id, command_type, command, performed_at)
    data = CommandOutcome(**fields, reason=reason.value, message=message)
    subject = command.kafka_key()
    return registry_event(contract.COMMAND_REJECTED_V1, data, subject=subject, time=now)


def unreadable_command_rejected(
    command_id: str,
    command_type: str,
    subject: str | None,
    staff_id: str,
    performed_at: datetime,
    message: str,
    now: datetime,
) -> CloudEvent[Any]:
    """The answer to a command whose data does not validate: still answered, never applied."""
    data = CommandOutcome(
        command_id=command_id,
        command_type=command_type,
        staff_id=staff_id,
        performed_at=performed_at,
        reason=RejectionReason.INVALID_COMMAND.value,
        message=message,
    )
    return registry_event(
        contract.COMMAND_REJECTED_V1, data, subject=subject or command_id, time=now
    )


def work_item_opened(item: WorkItem, now: datetime) -> CloudEvent[Any]:
    facts = item.model_dump(include=set(WorkItemFacts.model_fields))
    data = WorkItemOpened(work_item_id=item.key, **facts)
    return registry_event(contract.WORK_ITEM_OPENED_V1, data, subject=item.key, time=now)


def notice_assigned(
    item: WorkItem, assigned_by: str, at: datetime, now: datetime
) -> CloudEvent[Any]:
    data = NoticeAssigned(
        work_item_id=item.key,
        notice_id=item.notice_id,
        receipt_id=item.receipt_id,
        queue=item.queue,
        assignee=item.assignee or assigned_by,
        assigned_by=assigned_by,
        assigned_at=at,
    )
    return registry_event(contract.NOTICE_ASSIGNED_V1, data, subject=item.key, time=now)


def notice_resolved(item: WorkItem, now: datetime) -> CloudEvent[Any]:
    assert item.resolved_at is not None
    assert item.resolved_by is not None
    data = NoticeResolved(
        work_item_id=item.key,
        notice_id=item.notice_id,
        receipt_id=item.receipt_id,
        queue=item.queue,
        kind=item.kind,
        resolution=item.resolution or "",
        note=item.note or "",
        resolved_by=item.resolved_by,
        resolved_at=item.resolved_at,
    )
    return registry_event(contract.NOTICE_RESOLVED_V1, data, subject=item.key, time=now)


def surface_chip_mismatch(card: Card, now: datetime, queue: str | None) -> CloudEvent[Any]:
    case = card.case
    assert case is not None
    assert case.surface_printed_at is not None
    data = SurfaceChipMismatch(
        card_id=card.card_id,
        resident_id=card.resident_id,
        household_id=card.household_id or "",
        surface_printed_by=case.surface_printed_by or "",
        surface_printed_at=case.surface_printed_at,
        detected_at=now,
        queue=queue,
    )
    subject = card_subject(card.card_id)
    return registry_event(contract.SURFACE_CHIP_MISMATCH_V1, data, subject=subject, time=now)


def chip_rewrite_verified(card: Card, now: datetime) -> CloudEvent[Any]:
    case = card.case
    assert case is not None
    assert case.rewritten_at is not None
    assert case.verified_at is not None
    data = ChipRewriteVerified(
        card_id=card.card_id,
        resident_id=card.resident_id,
        household_id=card.household_id or "",
        rewritten_by=case.rewritten_by or "",
        rewritten_at=case.rewritten_at,
        verified_by=case.verified_by or "",
        verified_at=case.verified_at,
    )
    subject = card_subject(card.card_id)
    return registry_event(contract.CHIP_REWRITE_VERIFIED_V1, data, subject=subject, time=now)


def card_state_changed(
    card: Card, now: datetime, *, by: str | None = None, reason: str | None = None
) -> CloudEvent[Any]:
    """The lifecycle event of the card's current state (`card-held` … `card-expired`)."""
    data = CardStateChanged(
        card_id=card.card_id,
        resident_id=card.resident_id,
        household_id=card.household_id,
        state=card.state,
        previous_state=card.previous_state,
        at=card.state_since,
        by=by,
        reason=reason,
        application_date=card.application_date,
        issued_on=card.issued_on,
        card_valid_until=card.card_valid_until,
        certificate_valid_until=card.certificate_valid_until,
    )
    event_type = contract.STATE_EVENT_TYPES[card.state]
    return registry_event(event_type, data, subject=card_subject(card.card_id), time=now)


def queue_membership_changed(
    queue: Queue, staff_id: str, joined: bool, at: datetime, now: datetime
) -> CloudEvent[Any]:
    data = QueueMembershipChanged(
        queue=queue.name,
        staff_id=staff_id,
        change="joined" if joined else "left",
        members=list(queue.members),
        at=at,
    )
    subject = queue_subject(queue.name)
    return registry_event(contract.QUEUE_MEMBERSHIP_CHANGED_V1, data, subject=subject, time=now)


def queue_orphaned(
    queue: Queue, reason: OrphanReason, open_items: int, at: datetime, now: datetime
) -> CloudEvent[Any]:
    data = QueueOrphaned(queue=queue.name, reason=reason, open_items=open_items, at=at)
    subject = queue_subject(queue.name)
    return registry_event(contract.QUEUE_ORPHANED_V1, data, subject=subject, time=now)


def queue_staffed(queue: Queue, at: datetime, now: datetime) -> CloudEvent[Any]:
    data = QueueStaffed(queue=queue.name, members=list(queue.members), at=at)
    subject = queue_subject(queue.name)
    return registry_event(contract.QUEUE_STAFFED_V1, data, subject=subject, time=now)
