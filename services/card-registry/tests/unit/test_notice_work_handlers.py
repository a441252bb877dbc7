"""Notice work items and queue ownership on the fake unit of work (Case 1)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from mynaflow.contracts import registry as r
from mynaflow.contracts.intake import NoticeAcknowledged, ReceiptStatus
from mynaflow.contracts.jlis import QuarantineReason
from mynaflow_testing.memory.card_registry import Registry

pytestmark = pytest.mark.unit


def receipt(
    notice_id: str | None = "N-1",
    *,
    status: ReceiptStatus = ReceiptStatus.ACCEPTED,
    queue: str = "card-records",
    receipt_id: UUID | None = None,
    **fields: object,
) -> NoticeAcknowledged:
    values: dict[str, object] = {
        "receipt_id": receipt_id or uuid4(),
        "notice_id": notice_id,
        "status": status,
        "kind": "record_update_required",
        "issued_at": datetime(2022, 3, 10, 1, tzinfo=UTC),
        "application_id": None,
        "resident_ref": "R-1",
        "sequence": None,
        "details": None,
        "owner_queue": queue,
        "received_at": datetime(2022, 3, 10, 2, tzinfo=UTC),
        "sla_due_on": date(2022, 3, 15),
        **fields,
    }
    return NoticeAcknowledged.model_validate(values)


async def test_accepted_and_quarantined_receipts_open_work_and_a_plain_duplicate_adds_nothing(
    reg: Registry,
) -> None:
    first = receipt("N-1")
    await reg.receipt(first)
    await reg.receipt(first.model_copy(update={"status": ReceiptStatus.DUPLICATE}))
    unreadable = receipt(None, status=ReceiptStatus.QUARANTINED, queue="triage")
    await reg.receipt(unreadable)
    opened = {item.work_item_id for item in reg.emitted(r.WORK_ITEM_OPENED_V1)}
    assert opened == {"notice:N-1", f"receipt:{unreadable.receipt_id}"}


async def test_a_content_conflict_opens_its_triage_item_and_resolving_it_clears_conflict(
    reg: Registry,
) -> None:
    await reg.join("S-1", queue="triage")
    first = receipt("N-1")
    await reg.receipt(first)
    item_id = uuid4()
    conflict = first.model_copy(
        update={
            "status": ReceiptStatus.DUPLICATE,
            "owner_queue": "triage",
            "work_item_id": item_id,
            "reasons": [QuarantineReason(code="content_conflict", message="differs")],
        }
    )
    await reg.receipt(conflict)
    await reg.command(r.ResolveNotice(staff_id="S-1", work_item_id=item_id, resolution="same"))
    [(_, clear)] = reg.requests()
    assert (clear.key, clear.reason) == (f"conflict:{item_id}", "notice_resolved")
    notice = await reg.repos.work_items.get("notice:N-1")
    assert notice is not None
    assert notice.is_open


async def test_resolving_emits_notice_resolved_and_clears_as_of_performed_at_with_a_redacted_note(
    reg: Registry,
) -> None:
    await reg.join("S-1")
    await reg.receipt(receipt("N-1"))
    performed = datetime(2022, 3, 14, 5, tzinfo=UTC)
    note = "本人確認 1234 5678 9018 済"  # a valid individual number: must not survive
    await reg.command(
        r.ResolveNotice(
            staff_id="S-1",
            notice_id="N-1",
            resolution="record_updated",
            note=note,
            performed_at=performed,
        )
    )
    [resolved] = reg.emitted(r.NOTICE_RESOLVED_V1)
    assert "1234" not in resolved.note
    assert "REDACTED" in resolved.note
    [(_, clear)] = reg.requests()
    assert (clear.key, clear.reason, clear.resolved_at) == (
        "notice:N-1",
        "notice_resolved",
        performed,
    )


async def test_resolving_an_already_resolved_or_unknown_notice_is_rejected_with_a_reason(
    reg: Registry,
) -> None:
    await reg.join("S-1")
    await reg.receipt(receipt("N-1"))
    for _ in range(2):
        await reg.command(r.ResolveNotice(staff_id="S-1", notice_id="N-1", resolution="done"))
    await reg.command(r.ResolveNotice(staff_id="S-1", notice_id="N-404", resolution="done"))
    reg.clock.advance(timedelta(seconds=61))
    await reg.sweep()
    assert reg.outcomes()[1:] == [
        ("resolve-notice", "accepted", None),
        ("resolve-notice", "rejected", "already_resolved"),
        ("resolve-notice", "rejected", "unknown_notice"),
    ]


async def test_assigning_names_the_assignee_and_the_queue(reg: Registry) -> None:
    await reg.join("S-1", "S-2", queue="card-records")
    await reg.receipt(receipt("N-1"))
    await reg.command(r.AssignNotice(staff_id="S-1", notice_id="N-1", assignee="S-2"))
    [assigned] = reg.emitted(r.NOTICE_ASSIGNED_V1)
    assert (assigned.assignee, assigned.queue, assigned.assigned_by) == (
        "S-2",
        "card-records",
        "S-1",
    )


async def test_case_1_work_arriving_after_the_last_member_left_orphans_the_queue_once(
    reg: Registry,
) -> None:
    await reg.join("S-77", queue="card-records")
    await reg.command(r.StaffLeftQueue(staff_id="S-77", queue="card-records"))
    assert reg.emitted(r.QUEUE_ORPHANED_V1) == []  # nothing open when she left
    for n in range(48):
        await reg.receipt(receipt(f"N-{n:02}"))
    [orphaned] = reg.emitted(r.QUEUE_ORPHANED_V1)
    assert (orphaned.queue, orphaned.reason, orphaned.open_items) == (
        "card-records",
        "work_arrived_unstaffed",
        1,
    )
    assert len(reg.emitted(r.WORK_ITEM_OPENED_V1)) == 48
    await reg.join("S-201", queue="card-records")
    [staffed] = reg.emitted(r.QUEUE_STAFFED_V1)
    assert staffed.members == ["S-201"]


async def test_the_last_member_leaving_open_work_orphans_the_queue_and_members_are_always_whole(
    reg: Registry,
) -> None:
    await reg.join("S-1", "S-2", queue="card-records")
    await reg.receipt(receipt("N-1"))
    await reg.command(r.StaffLeftQueue(staff_id="S-1", queue="card-records"))
    await reg.command(r.StaffLeftQueue(staff_id="S-2", queue="card-records"))
    changes = [
        (c.change, c.staff_id, c.members) for c in reg.emitted(r.QUEUE_MEMBERSHIP_CHANGED_V1)
    ]
    assert changes == [
        ("joined", "S-1", ["S-1"]),
        ("joined", "S-2", ["S-1", "S-2"]),
        ("left", "S-1", ["S-2"]),
        ("left", "S-2", []),
    ]
    [orphaned] = reg.emitted(r.QUEUE_ORPHANED_V1)
    assert (orphaned.reason, orphaned.open_items) == ("last_member_left", 1)


async def test_a_record_update_notice_holds_the_applicants_card(reg: Registry) -> None:
    await reg.receipt(receipt("N-1", application_id="AP-1"))
    [held] = reg.emitted(r.CARD_HELD_V1)
    assert (held.card_id, held.resident_id, held.state) == ("AP-1", "R-1", r.CardState.HELD)


async def test_an_item_without_a_notice_id_is_resolved_by_its_receipt_id(reg: Registry) -> None:
    await reg.join("S-1", queue="triage")
    unreadable = receipt(None, status=ReceiptStatus.QUARANTINED, queue="triage")
    await reg.receipt(unreadable)
    await reg.command(
        r.ResolveNotice(staff_id="S-1", receipt_id=unreadable.receipt_id, resolution="discarded")
    )
    [(_, clear)] = reg.requests()
    assert (clear.key, clear.reason) == (f"receipt:{unreadable.receipt_id}", "notice_resolved")
    [resolved] = reg.emitted(r.NOTICE_RESOLVED_V1)
    assert (resolved.work_item_id, resolved.notice_id) == (f"receipt:{unreadable.receipt_id}", None)
