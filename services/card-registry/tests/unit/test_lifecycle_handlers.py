"""Card lifecycle commands on the fake unit of work: each transition, valid and invalid."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from mynaflow.contracts import registry as r
from mynaflow.contracts.registry import CardState
from mynaflow.contracts.resident import REGISTERED_V1, ResidentUpserted
from mynaflow.domain.time import end_of_jst_day
from mynaflow_testing.memory.card_registry import Registry

pytestmark = pytest.mark.unit


async def registered(reg: Registry, birth_date: date = date(2008, 2, 29)) -> None:
    await reg.join("S-1")
    resident = ResidentUpserted(
        resident_id="R-7",
        household_id="H-7",
        name="髙橋 﨑子",
        address="横浜市中区山下町1",
        birth_date=birth_date,
    )
    await reg.move(resident, REGISTERED_V1)


def delivered() -> r.RecordCardDelivered:
    return r.RecordCardDelivered(
        staff_id="S-1",
        card_id="C-7",
        resident_id="R-7",
        application_date=date(2025, 3, 3),
        issued_on=date(2025, 4, 25),
    )


async def state_of(reg: Registry, card_id: str = "C-7") -> CardState | None:
    card = await reg.repos.cards.get(card_id)
    return card.state if card else None


async def test_delivered_notice_re_notice_then_destroyed_when_the_period_ends(
    reg: Registry,
) -> None:
    await registered(reg)
    await reg.command(delivered())
    await reg.command(r.SendPickupNotice(staff_id="S-1", card_id="C-7"))
    reg.clock.advance(timedelta(days=91))
    await reg.command(r.SendPickupNotice(staff_id="S-1", card_id="C-7"))
    pickups = [d for kind, d in reg.requests() if d.key == "card-pickup:C-7"]
    # A year after the 2025-03-03 application is later than re-notice + 60 days.
    assert [(d.policy, d.due_on) for d in pickups] == [
        ("card_pickup", date(2022, 6, 13)),
        ("card_pickup", date(2026, 3, 3)),
    ]
    await reg.breach("card-pickup:C-7", end_of_jst_day(date(2026, 3, 3)))
    types = [e.event.type for e in reg.uow.published if e.event.subject == "card:C-7"]
    assert [t for t in types if t not in (r.COMMAND_ACCEPTED_V1,)] == [
        r.CARD_DELIVERED_V1,
        r.PICKUP_NOTICE_SENT_V1,
        r.PICKUP_RE_NOTICE_SENT_V1,
        r.CARD_DESTROYED_V1,
    ]
    assert await state_of(reg) is CardState.DESTROYED


async def test_a_pickup_breach_after_the_first_notice_destroys_nothing(reg: Registry) -> None:
    await registered(reg)
    await reg.command(delivered())
    await reg.command(r.SendPickupNotice(staff_id="S-1", card_id="C-7"))
    await reg.breach("card-pickup:C-7", datetime(2022, 6, 13, tzinfo=UTC))
    assert await state_of(reg) is CardState.PICKUP_NOTICE_SENT


async def test_handover_computes_validity_from_the_birth_date_and_requests_renewals(
    reg: Registry,
) -> None:
    await registered(reg)  # 17 at application on 2025-03-03: a minor, 5 birthdays
    await reg.command(delivered())
    await reg.command(r.RecordCardHandover(staff_id="S-1", card_id="C-7"))
    [handed] = reg.emitted(r.CARD_HANDED_OVER_V1)
    assert (handed.card_valid_until, handed.certificate_valid_until) == (
        date(2030, 2, 28),
        date(2030, 2, 28),
    )
    requests = {(kind, d.key, getattr(d, "policy", None)) for kind, d in reg.requests()}
    assert requests == {
        ("clear", "card-pickup:C-7", None),
        ("schedule", "card-renewal:C-7", "card_renewal"),
        ("schedule", "certificate-renewal:C-7", "card_renewal"),
    }


NOTICE = r.SendPickupNotice(staff_id="S-1", card_id="C-7")
HANDOVER = r.RecordCardHandover(staff_id="S-1", card_id="C-7")


@pytest.mark.parametrize(
    ("setup", "command", "state"),
    [
        ([], delivered(), CardState.DELIVERED),
        ([HANDOVER], NOTICE, CardState.HANDED_OVER),
        ([NOTICE, NOTICE], NOTICE, CardState.PICKUP_RE_NOTICE_SENT),
        ([HANDOVER], HANDOVER, CardState.HANDED_OVER),
    ],
    ids=["delivered-twice", "notice-after-handover", "third-notice", "handed-over-twice"],
)
async def test_an_invalid_transition_is_rejected_with_a_reason_and_changes_nothing(
    reg: Registry, setup: list[r.RegistryCommand], command: r.RegistryCommand, state: CardState
) -> None:
    await registered(reg)
    await reg.command(delivered())
    for step in setup:
        await reg.command(step)
    published = len(reg.uow.published)
    await reg.command(command)
    assert reg.outcomes()[-1][1:] == ("rejected", "invalid_transition")
    assert len(reg.uow.published) == published + 1  # the rejection, nothing else
    assert await state_of(reg) is state


async def test_a_delivery_for_an_unknown_resident_waits_then_is_rejected(reg: Registry) -> None:
    await reg.join("S-1")
    await reg.command(delivered())
    reg.clock.advance(timedelta(seconds=61))
    await reg.sweep()
    assert reg.outcomes()[-1] == ("record-card-delivered", "rejected", "unknown_resident")
    assert await state_of(reg) is None


async def test_a_pickup_notice_recorded_before_the_delivery_is_applied_when_it_arrives(
    reg: Registry,
) -> None:
    await registered(reg)
    await reg.command(r.SendPickupNotice(staff_id="S-1", card_id="C-7"))
    await reg.command(delivered())
    assert reg.outcomes()[-2:] == [
        ("record-card-delivered", "accepted", None),
        ("send-pickup-notice", "accepted", None),
    ]
    assert await state_of(reg) is CardState.PICKUP_NOTICE_SENT
