"""What the receipt for one message says, and which deadline it asks for (pure).

The storage layer decides whether a notice id was seen before; these functions turn that fact
plus the parser's result into the receipt event data and the deadline request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from mynaflow.contracts.deadlines import DeadlineAudience, DeadlineSubject, ScheduleDeadline
from mynaflow.contracts.intake import (
    CONTENT_CONFLICT,
    MessageCoordinates,
    NoticeAcknowledged,
    ReceiptStatus,
)
from mynaflow.contracts.jlis import ParsedNotice, QuarantineReason

from notice_intake.domain.routing import BatchRoutes, Route

NOTICE_SLA_POLICY = "notice_sla"


@dataclass(frozen=True)
class OriginalReceipt:
    """The stored facts of a notice id's first receipt that a duplicate's receipt repeats."""

    receipt_id: UUID
    notice_id: str
    status: ReceiptStatus
    owner_queue: str
    sla_due_on: date | None
    received_at: datetime
    content_hash: str | None


def route_for(parsed: ParsedNotice, received_at: datetime, routes: BatchRoutes) -> Route:
    if parsed.notice is None:
        return routes.route_quarantined(received_at)
    return routes.route_notice(parsed.notice.kind, parsed.notice.issued_at)


def first_receipt(
    parsed: ParsedNotice,
    *,
    receipt_id: UUID,
    route: Route,
    received_at: datetime,
    source: MessageCoordinates,
) -> NoticeAcknowledged:
    """The receipt of a message whose notice id was never seen (or could not be read)."""
    status = ReceiptStatus.ACCEPTED if parsed.accepted else ReceiptStatus.QUARANTINED
    return _receipt(parsed, receipt_id, status, route, received_at, list(parsed.reasons), source)


def is_content_conflict(parsed: ParsedNotice, original: OriginalReceipt) -> bool:
    """Same notice id, different content: someone must look (a correction, or a J-LIS error)."""
    return parsed.content_hash != original.content_hash


def duplicate_receipt(
    parsed: ParsedNotice,
    original: OriginalReceipt,
    *,
    source: MessageCoordinates,
    conflict_route: Route | None = None,
    work_item_id: UUID | None = None,
) -> NoticeAcknowledged:
    """A second message with a known notice id: the original receipt id, status duplicate.

    Notice fields are this message's, as received. A conflict carries the triage work item and
    its route; a plain duplicate repeats the original's queue and due date.
    """
    reasons = list(parsed.reasons)
    route = Route(original.owner_queue, original.sla_due_on)
    if conflict_route is not None:
        route = conflict_route
        message = "same notice id as an earlier notice, different content; triage must compare"
        reasons.insert(0, QuarantineReason(code=CONTENT_CONFLICT, message=message))
    receipt = _receipt(
        parsed,
        original.receipt_id,
        ReceiptStatus.DUPLICATE,
        route,
        original.received_at,
        reasons,
        source,
    )
    return receipt.model_copy(update={"work_item_id": work_item_id})


def _receipt(
    parsed: ParsedNotice,
    receipt_id: UUID,
    status: ReceiptStatus,
    route: Route,
    received_at: datetime,
    reasons: list[QuarantineReason],
    source: MessageCoordinates,
) -> NoticeAcknowledged:
    return NoticeAcknowledged.of_parsed(
        parsed,
        receipt_id=receipt_id,
        status=status,
        owner_queue=route.owner_queue,
        received_at=received_at,
        sla_due_on=route.sla_due_on,
        reasons=reasons,
        source=source,
    )


def deadline_key(receipt: NoticeAcknowledged) -> str:
    """`notice:<id>` (card-registry clears it on resolution), else `receipt:<id>`.

    A content conflict is its own work item, so its deadline is `conflict:<work item id>` and
    never moves the original notice's deadline.
    """
    if receipt.work_item_id is not None:
        return f"conflict:{receipt.work_item_id}"
    if receipt.notice_id is not None:
        return f"notice:{receipt.notice_id}"
    return f"receipt:{receipt.receipt_id}"


def deadline_request(receipt: NoticeAcknowledged) -> ScheduleDeadline | None:
    """The `notice_sla` deadline for a receipt with an SLA; None when there is nothing to do.

    A plain duplicate asks for nothing: the original's deadline already stands.
    """
    if receipt.sla_due_on is None:
        return None
    if receipt.status is ReceiptStatus.DUPLICATE and receipt.work_item_id is None:
        return None
    return ScheduleDeadline(
        key=deadline_key(receipt),
        policy=NOTICE_SLA_POLICY,
        due_on=receipt.sla_due_on,
        subject=DeadlineSubject(type=_subject_type(receipt), ids=_subject_ids(receipt)),
        audience=DeadlineAudience(queue=receipt.owner_queue),
        starts_at=_obligation_start(receipt),
    )


def _subject_type(receipt: NoticeAcknowledged) -> str:
    return "notice_conflict" if receipt.work_item_id is not None else "notice"


def _subject_ids(receipt: NoticeAcknowledged) -> dict[str, str]:
    ids = {"receipt_id": str(receipt.receipt_id)}
    if receipt.notice_id is not None:
        ids["notice_id"] = receipt.notice_id
    if receipt.work_item_id is not None:
        ids["work_item_id"] = str(receipt.work_item_id)
    return ids


def _obligation_start(receipt: NoticeAcknowledged) -> datetime:
    if receipt.status is ReceiptStatus.ACCEPTED and receipt.issued_at is not None:
        return receipt.issued_at
    return receipt.received_at
