"""Commands on the fake unit of work: one answer each, parked durably, applied once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from card_registry.service_layer.commands import handle_command
from mynaflow.contracts import registry as r
from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow_testing.memory.card_registry import Registry, as_received

pytestmark = pytest.mark.unit


async def test_a_command_before_its_move_in_is_parked_and_applied_when_the_move_in_arrives(
    reg: Registry,
) -> None:
    await reg.join("S-1")
    await reg.command(r.RecordSurfacePrint(staff_id="S-1", card_id="C-1"))
    assert reg.outcomes() == [("staff-joined-queue", "accepted", None)]
    assert [p.waiting_for for p in await reg.repos.pending.take_batch(10)] == ["card:C-1"]
    reg.clock.advance(timedelta(seconds=30))
    await reg.move_in()
    assert reg.outcomes()[-1] == ("record-surface-print", "accepted", None)
    assert await reg.repos.pending.take_batch(10) == []
    assert [kind for kind, _ in reg.requests()] == ["schedule", "schedule"]


async def test_an_unknown_card_is_rejected_by_the_sweep_after_60_seconds_not_before(
    reg: Registry,
) -> None:
    await reg.join("S-1")
    await reg.command(r.RecordChipRewrite(staff_id="S-1", card_id="C-404"))
    reg.clock.advance(timedelta(seconds=59))
    await reg.sweep()
    assert len(reg.outcomes()) == 1
    reg.clock.advance(timedelta(seconds=2))
    await reg.sweep()
    assert reg.outcomes()[-1] == ("record-chip-rewrite", "rejected", "unknown_card")
    assert await reg.repos.pending.take_batch(10) == []


async def test_a_staff_id_that_never_joined_a_queue_is_rejected_as_unknown_staff(
    reg: Registry,
) -> None:
    await reg.join("S-1")
    await reg.move_in()
    await reg.command(r.RecordChipRewrite(staff_id="S-1", card_id="C-1"))
    await reg.command(r.VerifyChipRewrite(staff_id="S-l", card_id="C-1"))  # a typo of S-1
    reg.clock.advance(timedelta(seconds=61))
    await reg.sweep()
    assert reg.outcomes()[-1] == ("verify-chip-rewrite", "rejected", "unknown_staff")
    assert reg.emitted(r.CHIP_REWRITE_VERIFIED_V1) == []


async def test_a_command_by_a_staff_member_who_joins_within_the_wait_is_applied(
    reg: Registry,
) -> None:
    await reg.move_in()
    await reg.command(r.RecordSurfacePrint(staff_id="S-9", card_id="C-1"))
    await reg.join("S-9")
    assert reg.outcomes() == [
        ("staff-joined-queue", "accepted", None),
        ("record-surface-print", "accepted", None),
    ]


async def test_a_redelivered_command_applies_once(reg: Registry) -> None:
    await reg.join("S-1")
    await reg.move_in()
    event = await reg.command(r.RecordSurfacePrint(staff_id="S-1", card_id="C-1"))
    await handle_command(event, reg.deps)
    assert reg.outcomes().count(("record-surface-print", "accepted", None)) == 1
    assert len([k for k, d in reg.requests() if d.key == "surface-chip:C-1"]) == 1


async def test_a_redelivered_parked_command_is_still_answered_once(reg: Registry) -> None:
    await reg.join("S-1")
    event = await reg.command(r.RecordSurfacePrint(staff_id="S-1", card_id="C-1"))
    await handle_command(event, reg.deps)
    await reg.move_in()
    reg.clock.advance(timedelta(seconds=120))
    await reg.sweep()
    assert reg.outcomes().count(("record-surface-print", "accepted", None)) == 1


async def test_a_command_whose_data_does_not_validate_is_rejected_not_dead_lettered(
    reg: Registry,
) -> None:
    command = r.command_event(r.ResolveNotice(staff_id="S-1", notice_id="N-1", resolution="done"))
    raw = as_received(command).model_dump(mode="json")
    raw["data"]["receipt_id"] = "6f1c2a4e-8d3b-4c1e-9a57-2b8e0d4f7a10"  # two items named
    await handle_command(RawCloudEvent.model_validate(raw), reg.deps)
    [rejected] = reg.emitted(r.COMMAND_REJECTED_V1)
    assert (rejected.reason, rejected.command_id, rejected.staff_id) == (
        "invalid_command",
        command.id,
        "S-1",
    )


async def test_performed_at_defaults_to_the_event_time(reg: Registry) -> None:
    await reg.join("S-1")
    [accepted] = reg.emitted(r.COMMAND_ACCEPTED_V1)
    assert accepted.performed_at == reg.clock.now()
