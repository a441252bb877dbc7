"""Case 2 replayed exactly, with the real deadline-watcher running.

A household of two moves in on 2022-03-15; the surfaces are printed that morning and the chips
are never rewritten. The registry requests the same-day and the 90-day deadlines (long past by
now); the watcher's catch-up fires each breach once, late; the registry reports the surface/chip
mismatch of that day and expires both cards at the end of 2022-06-13 JST.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from mynaflow.contracts import registry as r
from mynaflow.contracts.resident import MOVED_IN_V1, ResidentMovedIn, resident_event
from mynaflow.domain.time import JST
from mynaflow_testing.harness.card_registry import RegistryRun, of_type
from mynaflow_testing.harness.deadline_watcher import Deployment
from mynaflow_testing.harness.deadline_watcher import of_type as deadline_events

pytestmark = pytest.mark.service

NOTIFIED_ON = date(2022, 3, 15)
PRINTED_AT = datetime(2022, 3, 15, 10, 5, tzinfo=JST)
END_OF_JUNE_13 = datetime(2022, 6, 13, 14, 59, 59, 999_999, tzinfo=UTC)
END_OF_MARCH_15 = datetime(2022, 3, 15, 14, 59, 59, 999_999, tzinfo=UTC)
FAMILY = {"R-0042": "C-0042-1", "R-0043": "C-0043-1"}


def moved_in(resident_id: str, card_id: str) -> ResidentMovedIn:
    return ResidentMovedIn(
        resident_id=resident_id,
        household_id="H-0042",
        notified_on=NOTIFIED_ON,
        moved_in_on=date(2022, 3, 12),
        name="中区 家族",
        address="横浜市中区日本大通35",
        birth_date=date(1985, 7, 1),
        card_id=card_id,
        card_presented=True,
    )


async def test_case_2_a_mismatch_the_same_day_and_both_cards_expired_after_the_90th_day(
    registry: RegistryRun, watcher: Deployment
) -> None:
    join = r.command_event(
        r.StaffJoinedQueue(
            staff_id="S-101", queue="card-counter", performed_at=datetime(2022, 3, 1, tzinfo=JST)
        )
    )
    await registry.commands(join)
    assert (await registry.answer_to(join))["type"] == r.COMMAND_ACCEPTED_V1
    await registry.moves(
        *(resident_event(moved_in(rid, cid), event_type=MOVED_IN_V1) for rid, cid in FAMILY.items())
    )
    prints = [
        r.command_event(
            r.RecordSurfacePrint(staff_id="S-101", card_id=cid, performed_at=PRINTED_AT)
        )
        for cid in FAMILY.values()
    ]
    await registry.commands(*prints)

    events = await registry.events_until(
        lambda es: (
            len(of_type(es, "surface-chip-mismatch")) == 2 and len(of_type(es, "card-expired")) == 2
        ),
        timeout_s=120,
    )
    for command in prints:
        assert (await registry.answer_to(command))["type"] == r.COMMAND_ACCEPTED_V1
    mismatches = {e["data"]["card_id"]: e["data"] for e in of_type(events, "surface-chip-mismatch")}
    assert set(mismatches) == set(FAMILY.values())
    for mismatch in mismatches.values():
        assert mismatch["surface_printed_by"] == "S-101"
        assert datetime.fromisoformat(mismatch["surface_printed_at"]) == PRINTED_AT
        assert mismatch["household_id"] == "H-0042"
    expired = {e["data"]["card_id"]: e["data"] for e in of_type(events, "card-expired")}
    assert set(expired) == set(FAMILY.values())
    for data in expired.values():
        assert (data["reason"], data["state"]) == ("chip_rewrite_overdue", "expired")
        assert datetime.fromisoformat(data["at"]) == END_OF_JUNE_13

    deadlines = await watcher.all_events()
    for card_id in FAMILY.values():
        (scheduled,) = deadline_events(deadlines, "scheduled", f"chip-rewrite:{card_id}")
        assert datetime.fromisoformat(scheduled["data"]["due_at"]) == END_OF_JUNE_13
        assert scheduled["data"]["subject"]["ids"]["card_id"] == card_id
        (breach,) = deadline_events(deadlines, "breached", f"chip-rewrite:{card_id}")
        assert breach["data"]["late"] is True
        (same_day,) = deadline_events(deadlines, "breached", f"surface-chip:{card_id}")
        assert datetime.fromisoformat(same_day["data"]["due_at"]) == END_OF_MARCH_15
        assert same_day["data"]["audience"]["assignee"] == "S-101"
