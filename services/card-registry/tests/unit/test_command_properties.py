"""Properties of command handling over random sequences: one answer per command, and a rejected
command changes nothing (no state, no deadline request, no event but its rejection)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mynaflow.contracts import registry as r
from mynaflow.contracts.resident import REGISTERED_V1, ResidentUpserted
from mynaflow.domain.clock import FakeClock
from mynaflow_testing.memory.card_registry import Registry

pytestmark = pytest.mark.unit

STAFF = st.sampled_from(["S-1", "S-2"])
CARD = st.sampled_from(["C-1", "C-7"])


def delivered(staff: str, card: str) -> r.RecordCardDelivered:
    return r.RecordCardDelivered(
        staff_id=staff,
        card_id=card,
        resident_id="R-1",
        application_date=date(2025, 3, 3),
        issued_on=date(2025, 4, 25),
    )


COMMANDS = st.one_of(
    st.builds(lambda s, c: r.RecordSurfacePrint(staff_id=s, card_id=c), STAFF, CARD),
    st.builds(lambda s, c: r.RecordChipRewrite(staff_id=s, card_id=c), STAFF, CARD),
    st.builds(lambda s, c: r.VerifyChipRewrite(staff_id=s, card_id=c), STAFF, CARD),
    st.builds(delivered, STAFF, CARD),
    st.builds(lambda s, c: r.SendPickupNotice(staff_id=s, card_id=c), STAFF, CARD),
    st.builds(lambda s, c: r.RecordCardHandover(staff_id=s, card_id=c), STAFF, CARD),
)


async def replay(commands: list[r.RegistryCommand]) -> None:
    reg = Registry(FakeClock(datetime(2022, 3, 15, 1, tzinfo=UTC)))
    await reg.join("S-1", "S-2")
    resident = ResidentUpserted(
        resident_id="R-1", household_id="H-1", name="n", address="a", birth_date=date(1990, 1, 1)
    )
    await reg.move(resident, REGISTERED_V1)
    await reg.move_in("C-1")
    for command in commands:
        reg.clock.advance(timedelta(minutes=1))
        cards_before = dict(reg.cards)
        published_before = len(reg.uow.published)
        answered_before = len(reg.outcomes())
        await reg.command(command)
        outcomes = reg.outcomes()
        # C-7 is unknown until delivered: a command for it is parked, then answered when the
        # delivery arrives (so one command may bring several answers).
        if len(outcomes) == answered_before:
            assert isinstance(command, r.CardCommand)
            assert command.card_id == "C-7"
            continue
        if not isinstance(command, r.RecordCardDelivered):
            assert len(outcomes) == answered_before + 1
        if len(outcomes) == answered_before + 1 and outcomes[-1][1] == "rejected":
            assert reg.cards == cards_before
            assert len(reg.uow.published) == published_before + 1


@settings(max_examples=60, deadline=None)
@given(st.lists(COMMANDS, max_size=12))
def test_each_command_is_answered_once_and_a_rejection_changes_nothing(
    commands: list[r.RegistryCommand],
) -> None:
    asyncio.run(replay(commands))
