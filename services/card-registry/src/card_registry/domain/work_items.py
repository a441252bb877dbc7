"""Notice work items (docs/domain.md, "Notice work").

Every accepted or quarantined receipt becomes one work item in its owner queue; a duplicate adds
nothing, except a duplicate with a content conflict, which is a triage item of its own. An item's
key is the deadline key notice-intake scheduled for it (`notice:<id>`, `receipt:<id>`,
`conflict:<work item id>`), so resolving the item clears exactly that deadline.
"""

from __future__ import annotations

from datetime import datetime

from mynaflow.contracts.intake import CONTENT_CONFLICT, NoticeAcknowledged, ReceiptStatus
from mynaflow.contracts.registry import RejectionReason, WorkItemFacts
from mynaflow.domain.personal_number import redact_text
from mynaflow.domain.time import end_of_jst_day

from card_registry.domain.rejections import Rejected

RECORD_UPDATE_REQUIRED = "record_update_required"


class WorkItem(WorkItemFacts):
    """A work item: the facts it opened with (the contract's), its key, and what staff did."""

    key: str
    assignee: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    note: str | None = None

    @property
    def due_at(self) -> datetime | None:
        return None if self.sla_due_on is None else end_of_jst_day(self.sla_due_on)

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def is_overdue(self, now: datetime) -> bool:
        """Open past its due time, or resolved after it."""
        due = self.due_at
        if due is None:
            return False
        return (self.resolved_at or now) > due


def item_key(receipt: NoticeAcknowledged) -> str:
    """The same key notice-intake schedules the `notice_sla` deadline under."""
    if receipt.work_item_id is not None and _is_conflict(receipt):
        return f"conflict:{receipt.work_item_id}"
    if receipt.notice_id is not None:
        return f"notice:{receipt.notice_id}"
    return f"receipt:{receipt.receipt_id}"


def _is_conflict(receipt: NoticeAcknowledged) -> bool:
    return any(reason.code == CONTENT_CONFLICT for reason in receipt.reasons)


def opens_work(receipt: NoticeAcknowledged) -> bool:
    """Accepted and quarantined receipts do; a plain duplicate does not, a conflict does."""
    if receipt.status is ReceiptStatus.DUPLICATE:
        return _is_conflict(receipt) and receipt.work_item_id is not None
    return True


def work_item_from_receipt(receipt: NoticeAcknowledged) -> WorkItem:
    """The item a receipt opens; `opened_at` is when J-LIS issued it, else when it arrived."""
    return WorkItem(
        key=item_key(receipt),
        notice_id=receipt.notice_id,
        receipt_id=receipt.receipt_id,
        kind=receipt.kind,
        queue=receipt.owner_queue,
        status=receipt.status.value,
        resident_id=receipt.resident_ref,
        application_id=receipt.application_id,
        opened_at=receipt.issued_at or receipt.received_at,
        sla_due_on=receipt.sla_due_on,
    )


def _require_open(item: WorkItem) -> None:
    if not item.is_open:
        raise Rejected(
            RejectionReason.ALREADY_RESOLVED,
            f"{item.key} was resolved by {item.resolved_by} at {item.resolved_at}",
        )


def assign(item: WorkItem, assignee: str) -> WorkItem:
    _require_open(item)
    return item.model_copy(update={"assignee": assignee})


def resolve(item: WorkItem, staff_id: str, at: datetime, resolution: str, note: str) -> WorkItem:
    """Done. The note is free text, so any individual number in it is redacted first."""
    _require_open(item)
    redacted, _count = redact_text(note)
    return item.model_copy(
        update={
            "resolved_at": at,
            "resolved_by": staff_id,
            "resolution": resolution,
            "note": redacted,
        }
    )
