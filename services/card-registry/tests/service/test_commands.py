"""Commands through the real topics: parked until their move-in, rejected when it never comes,
applied once when redelivered."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from mynaflow.contracts import registry as r
from mynaflow_testing.harness.card_registry import RegistryRun, answers, moved_in_event
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.service


async def joined(registry: RegistryRun, *staff: str) -> None:
    for staff_id in staff:
        event = r.command_event(r.StaffJoinedQueue(staff_id=staff_id, queue="card-counter"))
        await registry.commands(event)
        assert (await registry.answer_to(event))["type"] == r.COMMAND_ACCEPTED_V1


async def test_a_command_arriving_before_its_move_in_is_applied_once_the_move_in_arrives(
    registry: RegistryRun,
) -> None:
    await joined(registry, "S-1")
    command = r.command_event(r.RecordSurfacePrint(staff_id="S-1", card_id="C-early"))
    await registry.commands(command)
    pool = await registry.pool()

    async def parked() -> list[str]:
        rows = await pool.fetch("SELECT waiting_for FROM pending_commands")
        return [row["waiting_for"] for row in rows]

    assert await wait_for(parked, what="the command parked") == ["card:C-early"]
    await registry.moves(moved_in_event("R-early", "C-early", notified_on=date(2026, 12, 1)))
    answer = await registry.answer_to(command)
    assert answer["type"] == r.COMMAND_ACCEPTED_V1
    requests = await registry.requests_until(
        lambda es: {e["subject"] for e in es} >= {"chip-rewrite:C-early", "surface-chip:C-early"}
    )
    assert {e["subject"] for e in requests} == {"chip-rewrite:C-early", "surface-chip:C-early"}
    assert await parked() == []


async def test_a_command_for_a_card_never_seen_is_rejected_after_the_wait(
    registry: RegistryRun,
) -> None:
    await joined(registry, "S-1")
    command = r.command_event(r.RecordChipRewrite(staff_id="S-1", card_id="C-none"))
    await registry.commands(command)
    answer = await registry.answer_to(command)
    assert (answer["type"], answer["data"]["reason"]) == (r.COMMAND_REJECTED_V1, "unknown_card")
    # The wait is measured from first arrival, not cut short.
    answered_at = datetime.fromisoformat(answer["time"])
    assert (answered_at - command.time).total_seconds() >= 2.0


async def test_a_redelivered_command_applies_once(registry: RegistryRun) -> None:
    await joined(registry, "S-1", "S-2")
    await registry.moves(moved_in_event("R-2", "C-2", notified_on=date(2026, 12, 1)))
    rewrite = r.command_event(r.RecordChipRewrite(staff_id="S-1", card_id="C-2"))
    marker = r.command_event(r.VerifyChipRewrite(staff_id="S-2", card_id="C-2"))
    # Same key, so one partition: the marker is read after both copies of the rewrite.
    await registry.commands(rewrite, rewrite, marker)
    events = await registry.events_until(lambda es: bool(answers(es, marker.id)))
    assert [a["type"] for a in answers(events, rewrite.id)] == [r.COMMAND_ACCEPTED_V1]
    assert [a["type"] for a in answers(events, marker.id)] == [r.COMMAND_ACCEPTED_V1]
    pool = await registry.pool()
    lines = await pool.fetch(
        "SELECT action, outcome FROM history WHERE entity_type = 'card' AND entity_id = 'C-2'"
        " AND action = 'record-chip-rewrite'"
    )
    assert [(row["action"], row["outcome"]) for row in lines] == [
        ("record-chip-rewrite", "accepted")
    ]
