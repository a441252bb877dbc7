"""Fault 2: two deadline-watcher replicas (real processes, one consumer group, one database);
one is killed with SIGKILL three times while the stages fall due, each time after at least 20 %
further progress, and started again.

The load: one deadline per notice of the run (as many as fault 1 sends), under a two-stage test
policy (a reminder 2 s before the due time, then the breach), due times spread over the run so
that stages keep falling due while the replica dies and comes back.

Invariants (sets): the stage identities (key, generation, stage, repetition) on
`deadlines.events` = the expected ones, each with exactly one event id (no stage fired twice; a
re-published copy of the same event is counted apart, consumers dedupe it); one breach each.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from mynaflow.contracts.deadlines import schedule_request_event
from mynaflow.contracts.envelope import CLOUDEVENTS_CONTENT_TYPE, encode_event
from mynaflow_testing.faults import (
    OutRecord,
    Tally,
    TopicFollower,
    assert_each_once,
    error_lines,
    events_by_identity,
    print_counts,
    produce_records,
    stage_identity,
)
from mynaflow_testing.harness.deadline_watcher import request
from mynaflow_testing.processes import Fleet, ServiceProcess

pytestmark = pytest.mark.faults

KILLS = 3
FURTHER_PROGRESS = 0.20
POLICY = "fault_two_stages"
POLICIES = {
    POLICY: {
        "stages": [
            {"name": "reminder", "offset": "-2s", "role": "assignee"},
            {"name": "breach", "role": "desk_manager"},
        ]
    }
}
STAGES = ("reminder", "breach")


def lead_and_spread_s(count: int) -> tuple[float, float]:
    """Time to publish and store the requests before the first stage falls due, and the span
    the due times are spread over (long enough for three kills and restarts)."""
    return 15.0 + count / 1000, 40.0 + count / 1000


def schedule_records(run: str, count: int) -> list[OutRecord]:
    lead_s, spread_s = lead_and_spread_s(count)
    first_due = datetime.now(UTC) + timedelta(seconds=lead_s)
    records = []
    for n in range(count):
        due = first_due + timedelta(seconds=spread_s * n / count)
        event = schedule_request_event(request(f"{run}-{n:05d}", POLICY, due_at=due), source="test")
        records.append(
            OutRecord(
                (event.subject or "").encode(),
                encode_event(event),
                (("content-type", CLOUDEVENTS_CONTENT_TYPE.encode()),),
            )
        )
    return records


async def test_kill_9_of_one_of_two_watcher_replicas_three_times_fires_every_stage_once(
    kafka_bootstrap: str, topic_prefix: str, fault_database_url: str, fleet: Fleet, volume: int
) -> None:
    replicas = [
        fleet.launch(
            "deadline-watcher",
            name=f"deadline-watcher-{n}",
            database_url=fault_database_url,
            kafka_bootstrap=kafka_bootstrap,
            topic_prefix=topic_prefix,
            extra_env={"DEADLINE_POLICIES": json.dumps(POLICIES), "CLAIM_BATCH_SIZE": "200"},
        )
        for n in (1, 2)
    ]
    for replica in replicas:
        replica.start()
    await asyncio.gather(*(replica.wait_ready() for replica in replicas))
    events_topic = f"{topic_prefix}deadlines.events"
    follower = TopicFollower(kafka_bootstrap, events_topic)
    await follower.start()
    try:
        run = f"fw{topic_prefix.rstrip('.')}"
        records = schedule_records(run, volume)
        await produce_records(kafka_bootstrap, f"{topic_prefix}deadlines.requests", records)
        expected = {(f"{run}-{n:05d}", 1, stage, 0) for n in range(volume) for stage in STAGES}

        fired = Tally(follower, events_topic, stage_identity).__len__

        step = math.ceil(FURTHER_PROGRESS * len(expected))
        at_kills = await kill_one_replica_after_each_step(replicas[0], follower, fired, step)
        print_counts("fault 2", {"stages expected": len(expected), "fired at kills": at_kills})
        assert at_kills[-1] < len(expected), "the last kill came after every stage had fired"
        _, spread_s = lead_and_spread_s(volume)
        await follower.wait_until(
            lambda: fired() >= len(expected),
            timeout_s=spread_s + 180,
            what=f"{len(expected)} stages fired (last: {fired()})",
        )
        await assert_replicas_stop_cleanly(replicas)
        await follower.wait_caught_up(kafka_bootstrap)
        found, republished = events_by_identity(follower.events(events_topic), stage_identity)
        assert_each_once(
            "fault 2: watcher replica SIGKILL x3", "stages", expected, found, republished
        )
    finally:
        await follower.stop()


async def kill_one_replica_after_each_step(
    replica: ServiceProcess, follower: TopicFollower, fired: Callable[[], int], step: int
) -> list[int]:
    """SIGKILL `replica` once `step` more stages fired than at the last kill; restart it."""
    at_kills: list[int] = []
    last = 0
    for _ in range(KILLS):
        target = last + step
        await follower.wait_until(
            lambda: fired() >= target,  # noqa: B023 (awaited within this iteration)
            timeout_s=300,
            what=f"{target} stages fired",
        )
        replica.kill()
        last = fired()
        at_kills.append(last)
        await replica.start_ready()
    return at_kills


async def assert_replicas_stop_cleanly(replicas: list[ServiceProcess]) -> None:
    codes = await asyncio.gather(*(replica.terminate() for replica in replicas))
    for replica in replicas:
        errors = error_lines(replica.log_text())
        print_counts(f"{replica.log_path.stem} log", {"error lines": len(errors)})
        for line in errors[:5]:
            print(f"  {line[:400]}", flush=True)
    assert codes == [0, 0]
