"""Four eyes with the real watcher, and the card lifecycle through the real topics."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from mynaflow.contracts import registry as r
from mynaflow.contracts.resident import (
    MOVED_IN_V1,
    REGISTERED_V1,
    ResidentMovedIn,
    ResidentUpserted,
    resident_event,
)
from mynaflow.domain.time import JST, to_jst_date
from mynaflow_testing.harness.card_registry import RegistryRun, of_type
from mynaflow_testing.harness.deadline_watcher import Deployment
from mynaflow_testing.harness.deadline_watcher import of_type as deadline_events

pytestmark = pytest.mark.service


async def accepted(registry: RegistryRun, *commands: r.RegistryCommand) -> list[dict[str, Any]]:
    """Publish the commands in order (one key each) and return their answers."""
    events = [r.command_event(command) for command in commands]
    await registry.commands(*events)
    return [await registry.answer_to(event) for event in events]


async def test_four_eyes_a_rejection_then_a_second_staff_member_clears_the_deadline(
    registry: RegistryRun, watcher: Deployment
) -> None:
    for staff_id in ("S-1", "S-2"):
        await accepted(registry, r.StaffJoinedQueue(staff_id=staff_id, queue="card-counter"))
    today = to_jst_date(datetime.now(JST))
    move = ResidentMovedIn(
        resident_id="R-1",
        household_id="H-1",
        notified_on=today,
        moved_in_on=today - timedelta(days=2),
        name="中区 花子",
        address="横浜市中区日本大通35",
        birth_date=date(1990, 1, 1),
        card_id="C-1",
        card_presented=True,
    )
    await registry.moves(resident_event(move, event_type=MOVED_IN_V1))
    answers = await accepted(
        registry,
        r.RecordSurfacePrint(staff_id="S-1", card_id="C-1"),
        r.RecordChipRewrite(staff_id="S-1", card_id="C-1"),
        r.VerifyChipRewrite(staff_id="S-1", card_id="C-1"),
        r.VerifyChipRewrite(staff_id="S-2", card_id="C-1"),
    )
    outcomes = [(a["type"].split(".")[-2], a["data"]["reason"]) for a in answers]
    assert outcomes == [
        ("command-accepted", None),
        ("command-accepted", None),
        ("command-rejected", "four_eyes_same_staff"),
        ("command-accepted", None),
    ]
    events = await watcher.events_until(
        lambda es: bool(deadline_events(es, "cleared", "chip-rewrite:C-1"))
    )
    (cleared,) = deadline_events(events, "cleared", "chip-rewrite:C-1")
    assert (cleared["data"]["met"], cleared["data"]["reason"]) == (True, "chip_rewrite_verified")
    assert deadline_events(events, "breached", "chip-rewrite:C-1") == []
    registry_events = await registry.events_until(
        lambda es: bool(of_type(es, "chip-rewrite-verified"))
    )
    (verified,) = of_type(registry_events, "chip-rewrite-verified", "card:C-1")
    assert (verified["data"]["rewritten_by"], verified["data"]["verified_by"]) == ("S-1", "S-2")


async def test_each_lifecycle_transition_and_invalid_ones_through_the_topics(
    registry: RegistryRun,
) -> None:
    await accepted(registry, r.StaffJoinedQueue(staff_id="S-1", queue="card-counter"))
    resident = ResidentUpserted(
        resident_id="R-7",
        household_id="H-7",
        name="髙橋 﨑子",
        address="横浜市中区山下町1",
        birth_date=date(1990, 5, 5),
    )
    await registry.moves(resident_event(resident, event_type=REGISTERED_V1))
    at = datetime(2025, 5, 2, 10, tzinfo=JST)
    delivered = r.RecordCardDelivered(
        staff_id="S-1",
        card_id="C-7",
        resident_id="R-7",
        application_date=date(2025, 3, 3),
        issued_on=date(2025, 4, 25),
        performed_at=at,
    )

    def notice(days: int) -> r.SendPickupNotice:
        return r.SendPickupNotice(staff_id="S-1", card_id="C-7", performed_at=at + timedelta(days))

    handover = r.RecordCardHandover(staff_id="S-1", card_id="C-7", performed_at=at + timedelta(100))
    answers = await accepted(
        registry,
        delivered,
        delivered,  # delivered again: invalid
        notice(5),
        notice(95),
        handover,
        notice(101),  # a notice after handover: invalid
    )
    outcomes = [(a["type"].split(".")[-2], a["data"]["reason"]) for a in answers]
    assert outcomes == [
        ("command-accepted", None),
        ("command-rejected", "invalid_transition"),
        ("command-accepted", None),
        ("command-accepted", None),
        ("command-accepted", None),
        ("command-rejected", "invalid_transition"),
    ]
    events = await registry.events_until(lambda es: bool(of_type(es, "card-handed-over")))
    lifecycle = [
        (e["type"].split(".")[-2], e["data"]["state"])
        for e in events
        if e["subject"] == "card:C-7" and "state" in e["data"]
    ]
    assert lifecycle == [
        ("card-delivered", "delivered"),
        ("pickup-notice-sent", "pickup_notice_sent"),
        ("pickup-re-notice-sent", "pickup_re_notice_sent"),
        ("card-handed-over", "handed_over"),
    ]
    (handed,) = of_type(events, "card-handed-over")
    # 34 at application: the 10th birthday after the 2025-04-25 issue; the certificate the 5th.
    assert (handed["data"]["card_valid_until"], handed["data"]["certificate_valid_until"]) == (
        "2034-05-05",
        "2029-05-05",
    )
    history = await registry.get("/history", type="card", id="C-7")
    assert [
        (h["action"], h["outcome"]) for h in history if h["action"] == "record-card-delivered"
    ] == [
        ("record-card-delivered", "accepted"),
        ("record-card-delivered", "rejected:invalid_transition"),
    ]
