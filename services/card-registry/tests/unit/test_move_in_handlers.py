"""Move-in cases on the fake unit of work: deadlines requested and cleared, four eyes, Case 2."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from card_registry.domain.move_in import CaseStatus
from mynaflow.contracts import registry as r
from mynaflow.contracts import resident
from mynaflow.contracts.registry import CardState
from mynaflow.domain.time import JST, end_of_jst_day
from mynaflow_testing.memory.card_registry import Registry

pytestmark = pytest.mark.unit


async def test_a_move_in_with_a_card_requests_the_90_day_deadline_even_when_past_due(
    reg: Registry,
) -> None:
    reg.clock.set(datetime(2026, 12, 3, tzinfo=UTC))  # long after 2022-06-13
    await reg.move_in(card_presented=False)
    [(kind, request)] = reg.requests()
    assert kind == "schedule"
    assert (request.key, request.policy, request.due_on) == (
        "chip-rewrite:C-1",
        "chip_rewrite_90d",
        date(2022, 6, 13),
    )
    assert request.due_instant() == end_of_jst_day(date(2022, 6, 13))
    assert request.subject.model_dump() == {
        "type": "resident_card",
        "ids": {"card_id": "C-1", "resident_id": "R-1"},
    }
    assert (request.audience.resident_id, request.audience.queue) == ("R-1", "card-counter")


async def test_a_move_in_without_a_card_opens_no_case(reg: Registry) -> None:
    await reg.move_in(card_id=None)
    assert reg.requests() == []
    assert await reg.repos.residents.get("R-1") is not None


async def test_four_eyes_rejects_the_rewriter_then_a_second_staff_member_clears_the_deadline(
    reg: Registry,
) -> None:
    await reg.join("S-1", "S-2")
    await reg.move_in()
    await reg.command(r.RecordSurfacePrint(staff_id="S-1", card_id="C-1"))
    await reg.command(r.RecordChipRewrite(staff_id="S-1", card_id="C-1"))
    await reg.command(r.VerifyChipRewrite(staff_id="S-1", card_id="C-1"))
    card = await reg.repos.cards.get("C-1")
    assert card is not None
    assert card.case is not None
    assert card.case.status is CaseStatus.OPEN
    await reg.command(r.VerifyChipRewrite(staff_id="S-2", card_id="C-1"))
    assert reg.outcomes()[-4:] == [
        ("record-surface-print", "accepted", None),
        ("record-chip-rewrite", "accepted", None),
        ("verify-chip-rewrite", "rejected", "four_eyes_same_staff"),
        ("verify-chip-rewrite", "accepted", None),
    ]
    [verified] = reg.emitted(r.CHIP_REWRITE_VERIFIED_V1)
    assert (verified.rewritten_by, verified.verified_by) == ("S-1", "S-2")
    clears = [(d.key, d.reason, d.resolved_at) for kind, d in reg.requests() if kind == "clear"]
    now = reg.clock.now()
    assert clears == [
        ("surface-chip:C-1", "chip_rewritten", now),
        ("chip-rewrite:C-1", "chip_rewrite_verified", now),
    ]


async def test_a_verification_before_any_rewrite_is_rejected(reg: Registry) -> None:
    await reg.join("S-1", "S-2")
    await reg.move_in()
    await reg.command(r.VerifyChipRewrite(staff_id="S-2", card_id="C-1"))
    assert reg.outcomes()[-1] == ("verify-chip-rewrite", "rejected", "verification_before_rewrite")
    assert reg.emitted(r.CHIP_REWRITE_VERIFIED_V1) == []


async def test_a_surface_print_requests_the_same_day_deadline_naming_the_printer(
    reg: Registry,
) -> None:
    await reg.join("S-1")
    await reg.move_in()
    await reg.command(r.RecordSurfacePrint(staff_id="S-1", card_id="C-1"))
    (_, surface) = reg.requests()[-1]
    assert (surface.key, surface.policy, surface.due_on, surface.audience.assignee) == (
        "surface-chip:C-1",
        "surface_chip_same_day",
        date(2022, 3, 15),
        "S-1",
    )


async def test_case_2_the_same_day_breach_is_a_mismatch_and_the_90_day_breach_expires_the_card(
    reg: Registry,
) -> None:
    await reg.join("S-1")
    await reg.move_in()
    await reg.command(r.RecordSurfacePrint(staff_id="S-1", card_id="C-1"))
    await reg.breach("surface-chip:C-1", end_of_jst_day(date(2022, 3, 15)))
    await reg.breach("surface-chip:C-1", end_of_jst_day(date(2022, 3, 15)))  # a repeat: once
    [mismatch] = reg.emitted(r.SURFACE_CHIP_MISMATCH_V1)
    assert (mismatch.card_id, mismatch.surface_printed_by) == ("C-1", "S-1")
    assert mismatch.queue == "card-counter"  # its desk manager is told, not a default one
    due = end_of_jst_day(date(2022, 6, 13))
    await reg.breach("chip-rewrite:C-1", due)
    [expired] = reg.emitted(r.CARD_EXPIRED_V1)
    assert (expired.state, expired.reason, expired.at) == (
        CardState.EXPIRED,
        "chip_rewrite_overdue",
        due,
    )


async def test_a_breach_after_the_verification_changes_nothing(reg: Registry) -> None:
    await reg.join("S-1", "S-2")
    await reg.move_in()
    for command in (
        r.RecordSurfacePrint(staff_id="S-1", card_id="C-1"),
        r.RecordChipRewrite(staff_id="S-1", card_id="C-1"),
        r.VerifyChipRewrite(staff_id="S-2", card_id="C-1"),
    ):
        await reg.command(command)
    await reg.breach("surface-chip:C-1", end_of_jst_day(date(2022, 3, 15)))
    await reg.breach("chip-rewrite:C-1", end_of_jst_day(date(2022, 6, 13)))
    assert reg.emitted(r.SURFACE_CHIP_MISMATCH_V1) == []
    assert reg.emitted(r.CARD_EXPIRED_V1) == []


async def test_a_surface_print_performed_before_expiry_is_accepted_when_recorded_after(
    reg: Registry,
) -> None:
    await reg.join("S-1")
    await reg.move_in()
    await reg.breach("chip-rewrite:C-1", end_of_jst_day(date(2022, 6, 13)))
    reg.clock.set(datetime(2022, 7, 1, tzinfo=UTC))
    performed = datetime(2022, 6, 1, 10, 0, tzinfo=JST)
    await reg.command(r.RecordSurfacePrint(staff_id="S-1", card_id="C-1", performed_at=performed))
    await reg.command(r.RecordSurfacePrint(staff_id="S-1", card_id="C-1"))
    assert reg.outcomes()[-2:] == [
        ("record-surface-print", "accepted", None),
        ("record-surface-print", "rejected", "card_expired"),
    ]


async def test_moving_out_before_the_rewrite_expires_the_card_and_clears_the_deadline(
    reg: Registry,
) -> None:
    await reg.move_in()
    moved_out = resident.ResidentMovedOut(
        resident_id="R-1",
        household_id="H-1",
        moved_out_on=date(2022, 4, 1),
        notified_on=date(2022, 3, 30),
    )
    await reg.move(moved_out, resident.MOVED_OUT_V1)
    [expired] = reg.emitted(r.CARD_EXPIRED_V1)
    assert expired.reason == "moved_out_before_rewrite"
    (kind, clear) = reg.requests()[-1]
    assert (kind, clear.key, clear.reason) == (
        "clear",
        "chip-rewrite:C-1",
        "moved_out_before_rewrite",
    )
    assert clear.resolved_at == datetime(2022, 4, 1, tzinfo=JST)


async def test_every_registry_event_is_in_the_history_of_its_card_and_resident(
    reg: Registry,
) -> None:
    await reg.join("S-1")
    await reg.move_in()
    await reg.command(r.RecordSurfacePrint(staff_id="S-1", card_id="C-1"))
    card_lines = {(h.action, h.outcome) for h in reg.history if h.entity_id == "C-1"}
    assert card_lines == {("move-in-case-opened", "received"), ("record-surface-print", "accepted")}
    accepted = next(h for h in reg.history if h.outcome == "accepted" and h.entity_id == "C-1")
    assert (accepted.staff_id, accepted.performed_at) == ("S-1", reg.clock.now())
    assert accepted.recorded_at == reg.clock.now()
