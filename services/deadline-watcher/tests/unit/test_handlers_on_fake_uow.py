"""The request handler and firing on the fake unit of work (no server), from parsed messages to
the events they commit: each stage decided once, nothing emitted twice, poison refused before
any transaction. The same behaviour against PostgreSQL and Kafka is in tests/service/."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from deadline_watcher.domain.policies import load_policies
from deadline_watcher.entrypoints.subscribers import parse_request
from deadline_watcher.service_layer.deps import WatcherDeps
from deadline_watcher.service_layer.firing import emit_digest_if_due, emit_heartbeat, fire_due
from deadline_watcher.service_layer.requests import handle_requests
from mynaflow.contracts.deadlines import ClearDeadline
from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.domain.clock import FakeClock
from mynaflow.domain.time import JST
from mynaflow.messaging.errors import PoisonMessage
from mynaflow_testing.memory.deadline_watcher import (
    MemoryWatcher,
    on_the_wire,
    schedule_request,
)

pytestmark = pytest.mark.unit

# A Tuesday, 08:00 JST: before the digest time, on a business day.
T0 = datetime(2025, 5, 13, 8, tzinfo=JST).astimezone(UTC)
REMINDER = {"name": "reminder", "offset": "-1min", "role": "assignee"}
BREACH = {"name": "breach", "role": "desk_manager"}
POLICIES = load_policies(json.dumps({"pair": {"stages": [REMINDER, BREACH]}}))


@pytest.fixture
def memory() -> MemoryWatcher:
    return MemoryWatcher()


def replica(memory: MemoryWatcher, instance: str = "one") -> WatcherDeps:
    return memory.deps(policies=POLICIES, clock=FakeClock(T0), instance=instance)


@pytest.fixture
def deps(memory: MemoryWatcher) -> WatcherDeps:
    return replica(memory)


def at(deps: WatcherDeps, instant: datetime) -> None:
    assert isinstance(deps.clock, FakeClock)
    deps.clock.set(instant)


def schedule(key: str, due_at: datetime, policy: str = "pair") -> RawCloudEvent:
    return on_the_wire(schedule_request(key, due_at, policy))


def clear(key: str) -> RawCloudEvent:
    return on_the_wire(ClearDeadline(key=key, reason="done"))


async def arrive(deps: WatcherDeps, *events: RawCloudEvent) -> None:
    """The subscriber's work: parse the batch, then hand it to the handler."""
    await handle_requests([parse_request(event, deps.policies) for event in events], deps)


async def test_a_schedule_is_stored_announced_and_wakes_every_replica(
    memory: MemoryWatcher, deps: WatcherDeps
) -> None:
    await arrive(deps, schedule("k1", T0 + timedelta(hours=1)))
    assert memory.published_types() == [("k1", "scheduled")]
    assert memory.deadlines.rows["k1"].generation == 1
    assert memory.deadlines.notified == ["wake"]  # other replicas, through NOTIFY
    assert deps.wake.is_set()  # this replica's loop
    assert memory.uow.commits == 1


async def test_a_redelivered_request_changes_nothing(
    memory: MemoryWatcher, deps: WatcherDeps
) -> None:
    event = schedule("k1", T0 + timedelta(hours=1))
    await arrive(deps, event)
    await arrive(deps, event)
    assert memory.published_types() == [("k1", "scheduled")]
    assert memory.deadlines.rows["k1"].generation == 1
    assert memory.uow.commits == 1


async def test_both_copies_of_a_republished_request_in_one_batch_apply_once(
    memory: MemoryWatcher, deps: WatcherDeps
) -> None:
    # A relay that republished its rows puts both copies (same event ids) in one batch; the
    # second copy of the first schedule must not undo the reschedule between them.
    first, moved = schedule("k1", T0 + timedelta(hours=1)), schedule("k1", T0 + timedelta(hours=5))
    await arrive(deps, first, moved, first, moved)
    assert memory.deadlines.rows["k1"].due_at == T0 + timedelta(hours=5)
    assert memory.published_types() == [("k1", "scheduled"), ("k1", "scheduled")]


async def test_a_clear_for_a_key_never_scheduled_is_not_poison(
    memory: MemoryWatcher, deps: WatcherDeps
) -> None:
    await arrive(deps, clear("never-scheduled"))
    assert memory.published_types() == []
    assert memory.deadlines.rows == {}


def sent(event: RawCloudEvent, at_time: datetime) -> RawCloudEvent:
    """The event as its producer stamped it (CloudEvent `time`)."""
    return event.model_copy(update={"time": at_time})


async def test_a_clear_that_overtook_its_schedule_keeps_the_work_resolved(
    memory: MemoryWatcher, deps: WatcherDeps
) -> None:
    due = T0 + timedelta(minutes=10)
    # The producer scheduled at T0 and cleared at T0+1min; the clear arrives first.
    await arrive(deps, sent(clear("k1"), T0 + timedelta(minutes=1)))
    await arrive(deps, sent(schedule("k1", due), T0))
    assert memory.deadlines.rows == {}
    at(deps, due + timedelta(days=3))
    assert await fire_due(deps) == 0
    assert memory.published_types() == []  # no breach, no escalation of resolved work
    # A schedule sent after the clear is a real reschedule: it opens the deadline again.
    await arrive(deps, sent(schedule("k1", due + timedelta(days=5)), T0 + timedelta(minutes=2)))
    assert memory.published_types() == [("k1", "scheduled")]
    assert memory.deadlines.rows["k1"].is_open


async def test_a_schedule_older_than_the_clear_in_the_same_batch_is_ignored(
    memory: MemoryWatcher, deps: WatcherDeps
) -> None:
    due = T0 + timedelta(minutes=10)
    await arrive(deps, schedule("k1", due))  # open, then cleared, then an old copy arrives
    cleared_at = T0 + timedelta(minutes=5)
    stale = sent(schedule("k1", due + timedelta(days=1)), T0 + timedelta(minutes=4))
    await arrive(deps, sent(clear("k1"), cleared_at), stale)
    assert not memory.deadlines.rows["k1"].is_open
    assert memory.published_types() == [("k1", "scheduled"), ("k1", "cleared")]
    assert memory.clears.latest_by_key == {"k1": cleared_at}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (schedule("k1", T0, policy="no_such_policy"), "unknown_policy"),
        (clear("k1").model_copy(update={"type": "jp.mynaflow.other.v1"}), "unknown_event_type"),
        (clear("k1").model_copy(update={"data": {"reason": "no key"}}), "schema_invalid"),
    ],
)
def test_a_request_that_can_never_apply_is_poison_before_any_transaction(
    raw: RawCloudEvent, reason: str
) -> None:
    with pytest.raises(PoisonMessage) as refused:
        parse_request(raw, POLICIES)
    assert refused.value.reason == reason


async def test_due_stages_fire_once_each_in_order(memory: MemoryWatcher, deps: WatcherDeps) -> None:
    due = T0 + timedelta(minutes=10)
    await arrive(deps, schedule("k1", due))
    at(deps, due - timedelta(seconds=30))
    assert await fire_due(deps) == 1
    assert await fire_due(deps) == 0  # nothing else due yet
    at(deps, due + timedelta(seconds=1))
    assert await fire_due(deps) == 1
    assert await fire_due(deps) == 0
    assert memory.published_types() == [
        ("k1", "scheduled"),
        ("k1", "stage-reached"),
        ("k1", "breached"),
    ]
    assert sorted(stage for _, _, stage, _ in memory.ledger.entries) == ["breach", "reminder"]


async def test_a_stage_another_replica_decided_is_never_emitted_again(
    memory: MemoryWatcher, deps: WatcherDeps
) -> None:
    due = T0 + timedelta(minutes=10)
    await arrive(deps, schedule("k1", due))
    stale = memory.deadlines.rows["k1"]
    at(deps, due - timedelta(seconds=30))
    await fire_due(deps)
    # A second replica that still sees the row as it was before the first one decided.
    memory.deadlines.rows["k1"] = stale
    other = replica(memory, instance="two")
    at(other, due - timedelta(seconds=20))
    assert await fire_due(other) == 1
    assert memory.published_types().count(("k1", "stage-reached")) == 1
    assert {entry.decided_by for entry in memory.ledger.entries.values()} == {"one"}


async def test_a_clear_after_the_due_time_states_the_breach_then_the_clear(
    memory: MemoryWatcher, deps: WatcherDeps
) -> None:
    due = T0 + timedelta(minutes=10)
    await arrive(deps, schedule("k1", due))
    at(deps, due + timedelta(minutes=1))  # due, but the loop has not looked yet
    await arrive(deps, clear("k1"))
    assert await fire_due(deps) == 0  # cleared: nothing left to fire
    assert memory.published_types() == [
        ("k1", "scheduled"),
        ("k1", "breached"),
        ("k1", "cleared"),
    ]


async def test_the_digest_goes_out_once_a_day_whatever_the_replicas(
    memory: MemoryWatcher, deps: WatcherDeps
) -> None:
    await arrive(deps, schedule("late", T0 - timedelta(days=3)))
    other = replica(memory, instance="two")
    digest_time = T0 + timedelta(minutes=31)  # 08:31 JST
    at(deps, digest_time)
    at(other, digest_time)
    assert await emit_digest_if_due(deps) is not None
    assert await emit_digest_if_due(other) is not None  # known to be out: nothing sent
    digests = [e for e in memory.uow.published if e.event.type.endswith("digest-due.v1")]
    assert len(digests) == 1
    assert digests[0].event.data.overdue_count == 1


async def test_a_heartbeat_says_how_much_is_pending(
    memory: MemoryWatcher, deps: WatcherDeps
) -> None:
    await arrive(deps, schedule("k1", T0 + timedelta(hours=1)))
    await emit_heartbeat(deps)
    (heartbeat,) = [e for e in memory.uow.published if e.event.type.endswith("heartbeat.v1")]
    assert (heartbeat.key, heartbeat.event.data.pending_deadlines) == ("heartbeat:one", 1)
