"""Handler unit tests on the fake unit of work: no server, the same handlers as the service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mynaflow.contracts import deadlines
from mynaflow.contracts.envelope import RawCloudEvent, make_event
from mynaflow.contracts.notifier import (
    APOLOGY_BATCH_REFUSED_V1,
    APPROVE_APOLOGY_V1,
    DELIVERY_FAILED_V1,
    DELIVERY_LOGGED_V1,
    SEND_APOLOGY_V1,
    ApproveApology,
    SendApology,
)
from mynaflow.contracts.registry import CaseLike
from mynaflow.domain.clock import FakeClock
from mynaflow_testing.uow import FakeUnitOfWork
from notifier.adapters.config_files import load_routing, load_staff
from notifier.domain.content import WardInfo
from notifier.domain.records import Resident
from notifier.domain.retry import RetrySchedule
from notifier.service_layer.apology import handle_command
from notifier.service_layer.consume import handle_event
from notifier.service_layer.delivery import deliver_next
from notifier.service_layer.deps import NotifierDeps

from .fakes import FakeRepos, RecordingSender

pytestmark = pytest.mark.unit

START = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)  # 12:00 JST


def make_deps(
    uow: FakeUnitOfWork[FakeRepos], clock: FakeClock, sender: RecordingSender, unrouted: list[str]
) -> NotifierDeps:
    return NotifierDeps(
        uow=uow,
        senders={"email": sender, "webhook": sender},
        routing=load_routing(),
        staff=load_staff(),
        deliveries_topic="notifier.deliveries",
        ward=WardInfo("中区役所", "横浜市中区", "戸籍課", "045-000-0000"),
        letters_dir=Path("/nonexistent"),
        clock=clock,
        window=timedelta(minutes=10),
        retry=RetrySchedule(timedelta(seconds=1), timedelta(seconds=4), max_attempts=3, jitter=0),
        on_unrouted=unrouted.append,
    )


@pytest.fixture
def world() -> tuple[FakeUnitOfWork[FakeRepos], FakeClock, RecordingSender, list[str]]:
    return FakeUnitOfWork(FakeRepos()), FakeClock(START), RecordingSender(), []


def raw(event_type: str, data: Any, subject: str | None = None) -> RawCloudEvent:
    event = make_event(source="test", event_type=event_type, data=data, subject=subject)
    return RawCloudEvent.model_validate(event.model_dump(mode="json"))


def breach(key: str, *, stage: str = "breach", policy: str = "notice_sla") -> RawCloudEvent:
    data = deadlines.DeadlineEvent(
        key=key,
        policy=policy,
        stage=stage,
        role="desk_manager",
        due_at=START - timedelta(days=3),
        fired_at=START,
        subject=deadlines.DeadlineSubject(type="notice", ids={"notice_id": key}),
        audience=deadlines.DeadlineAudience(queue="card-records"),
    )
    return raw(deadlines.DEADLINE_BREACHED_V1, data, key)


async def test_a_breach_records_a_queued_delivery_once_whatever_is_redelivered(
    world: Any,
) -> None:
    uow, clock, sender, unrouted = world
    deps = make_deps(uow, clock, sender, unrouted)
    event = breach("notice:N-1")
    await handle_event(event, None, deps)
    await handle_event(event, None, deps)  # redelivered: the inbox refuses it
    uow.inbox.clear()  # a replay into a fresh inbox: the idempotency key refuses it
    await handle_event(event, None, deps)

    (delivery,) = uow.repos.deliveries.values()
    assert (delivery.recipient_id, delivery.channel, delivery.status) == (
        "M-RECORDS",
        "email",
        "queued",
    )
    (logged,) = uow.events_of_type(DELIVERY_LOGGED_V1)
    assert logged.data.status == "queued"
    assert logged.subject == "M-RECORDS"


async def test_events_in_the_window_fold_into_one_message_sent_after_it(world: Any) -> None:
    uow, clock, sender, unrouted = world
    counted: list[tuple[str, str, int]] = []
    deps = make_deps(uow, clock, sender, unrouted)
    deps.on_delivery_status = lambda *args: counted.append(args)
    for n in range(3):
        await handle_event(breach(f"notice:N-{n}"), None, deps)
    assert len(uow.repos.messages) == 1
    assert not await deliver_next(deps), "held for the window"
    clock.advance(timedelta(minutes=10))
    assert await deliver_next(deps)
    (outgoing,) = sender.sent
    assert "対象 3 件" in outgoing.rendered.text
    assert {d.status for d in uow.repos.deliveries.values()} == {"sent"}
    assert counted == [("email", "queued", 1)] * 3 + [("email", "sent", 3)]


async def test_a_send_failing_to_the_end_is_dead_with_delivery_failed_and_an_alert(
    world: Any,
) -> None:
    uow, clock, sender, unrouted = world
    sender.fail_first = 99
    deps = make_deps(uow, clock, sender, unrouted)
    await handle_event(breach("notice:N-1"), None, deps)
    clock.advance(timedelta(minutes=10))
    for _ in range(3):
        assert await deliver_next(deps)
        retrying = [
            e for e in uow.events_of_type(DELIVERY_LOGGED_V1) if e.data.status == "retrying"
        ]
        clock.advance(timedelta(seconds=5))
    assert [e.data.attempt for e in retrying] == [1, 2]
    assert retrying[0].data.next_attempt_at == START + timedelta(minutes=10, seconds=1)
    (failed,) = uow.events_of_type(DELIVERY_FAILED_V1)
    assert (failed.data.attempts, failed.data.error) == (3, "webhook_http_503")
    alerts = [d for d in uow.repos.deliveries.values() if d.template == "delivery_failed"]
    assert [(a.recipient_id, a.status) for a in alerts] == [("M-RECORDS", "queued")]


async def test_a_stage_for_a_resident_not_known_yet_is_held_not_dropped(world: Any) -> None:
    uow, clock, sender, unrouted = world
    deps = make_deps(uow, clock, sender, unrouted)
    data = deadlines.DeadlineEvent(
        key="chip-rewrite:C-1",
        policy="chip_rewrite_90d",
        stage="resident_30d",
        role="resident",
        due_at=START + timedelta(days=30),
        fired_at=START,
        subject=deadlines.DeadlineSubject(type="resident_card", ids={"card_id": "C-1"}),
        audience=deadlines.DeadlineAudience(resident_id="R-1"),
    )
    await handle_event(raw(deadlines.DEADLINE_STAGE_REACHED_V1, data), None, deps)
    (held,) = uow.repos.held.values()
    assert held.missing == "resident R-1"
    assert held.give_up_at == START + timedelta(minutes=5)
    assert uow.repos.deliveries == {}
    assert uow.committed


async def test_an_unrouted_event_is_counted_and_an_ignored_one_is_not(world: Any) -> None:
    uow, clock, sender, unrouted = world
    deps = make_deps(uow, clock, sender, unrouted)
    await handle_event(breach("x:1", stage="made_up", policy="made_up_policy"), None, deps)
    beat = deadlines.Heartbeat(instance="w", fired_at=START)
    await handle_event(raw(deadlines.DEADLINE_HEARTBEAT_V1, beat), None, deps)
    assert unrouted == [deadlines.DEADLINE_BREACHED_V1]
    assert uow.repos.deliveries == {}


async def test_the_requester_cannot_release_their_own_apology_batch(world: Any) -> None:
    uow, clock, sender, unrouted = world
    deps = make_deps(uow, clock, sender, unrouted)
    case = CaseLike(
        kind="record_update_required",
        case_id="notice:N-1",
        resident_id="R-1",
        household_id="H-1",
        card_id=None,
        notice_id="N-1",
        queue="card-records",
        state="open",
        opened_at=START,
        due_at=None,
        closed_at=None,
        overdue=True,
    )
    await handle_command(
        raw(SEND_APOLOGY_V1, SendApology(batch_id="B-1", requested_by="S-1", cases=[case])), deps
    )
    await handle_command(
        raw(APPROVE_APOLOGY_V1, ApproveApology(batch_id="B-1", staff_id="S-1")), deps
    )
    (refused,) = uow.events_of_type(APOLOGY_BATCH_REFUSED_V1)
    assert refused.data.reason == "same_staff"
    assert uow.repos.batches["B-1"].status == "draft"
    assert uow.repos.deliveries == {}


def surface_stage(assignee: str) -> RawCloudEvent:
    data = deadlines.DeadlineEvent(
        key="surface-chip:C-1",
        policy="surface_chip_same_day",
        stage="chip_pending",
        role="assignee",
        due_at=START + timedelta(hours=3),
        fired_at=START,
        subject=deadlines.DeadlineSubject(type="resident_card", ids={"card_id": "C-1"}),
        audience=deadlines.DeadlineAudience(queue="card-counter", assignee=assignee),
    )
    return raw(deadlines.DEADLINE_STAGE_REACHED_V1, data)


async def test_an_assignee_who_left_the_queue_is_never_reminded(world: Any) -> None:
    uow, clock, sender, unrouted = world
    deps = make_deps(uow, clock, sender, unrouted)
    uow.repos.queue_members["card-counter"] = ["S-2"]  # S-1 has left
    await handle_event(surface_stage("S-1"), None, deps)
    assert {d.recipient_id for d in uow.repos.deliveries.values()} == {"M-ISSUANCE"}

    uow.repos.queue_members["card-counter"] = ["S-1", "S-2"]
    await handle_event(surface_stage("S-1"), None, deps)
    assert "S-1" in {d.recipient_id for d in uow.repos.deliveries.values()}


async def test_a_resident_email_due_at_night_waits_for_eight_jst(world: Any) -> None:
    uow, _, sender, unrouted = world
    clock = FakeClock(datetime(2026, 12, 3, 12, 30, tzinfo=UTC))  # 21:30 JST
    deps = make_deps(uow, clock, sender, unrouted)
    uow.repos.residents_by_id["R-1"] = Resident(
        "R-1", "H-1", name="髙橋 﨑子", address="横浜市中区1-1", email="r1@example.test"
    )
    data = deadlines.DeadlineEvent(
        key="card-renewal:C-1",
        policy="card_renewal",
        stage="resident_30d",
        role="resident",
        due_at=START + timedelta(days=30),
        fired_at=clock.now(),
        subject=deadlines.DeadlineSubject(type="resident_card", ids={"card_id": "C-1"}),
        audience=deadlines.DeadlineAudience(resident_id="R-1"),
    )
    await handle_event(raw(deadlines.DEADLINE_STAGE_REACHED_V1, data), None, deps)
    (email,) = [m for m in uow.repos.messages.values() if m.channel == "email"]
    assert email.send_after == datetime(2026, 12, 3, 23, 0, tzinfo=UTC)  # 08:00 JST
    assert email.aggregation_key is None, "a resident's email is never merged"
