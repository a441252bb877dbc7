"""A replica whose clock runs fast must not fire early: it measures its clock against the
database's (an injected fast FakeClock here, on the fake unit of work) and refuses to fire while
it runs ahead by more than the tolerance; once its clock is right, the work fires with the usual
catch-up rules."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from deadline_watcher.domain.clock_skew import measured_skew, refuses_to_fire
from deadline_watcher.domain.policies import load_policies
from deadline_watcher.entrypoints.subscribers import parse_request
from deadline_watcher.service_layer.deps import WatcherDeps
from deadline_watcher.service_layer.loop import WatcherLoop
from deadline_watcher.service_layer.requests import handle_requests
from mynaflow.domain.clock import FakeClock
from mynaflow.domain.time import JST
from mynaflow_testing.memory.deadline_watcher import (
    MemoryWatcher,
    on_the_wire,
    schedule_request,
)
from prometheus_client import REGISTRY

pytestmark = pytest.mark.unit

# A Tuesday, 10:00 JST: after the digest time, so no digest is due in these tests.
T0 = datetime(2025, 5, 13, 10, tzinfo=JST).astimezone(UTC)
POLICIES = load_policies(
    json.dumps(
        {
            "pair": {
                "stages": [
                    {"name": "reminder", "offset": "-1min", "role": "assignee"},
                    {"name": "breach", "role": "desk_manager"},
                ]
            }
        }
    )
)
FAST = timedelta(minutes=10)


def deps_with_clocks(memory: MemoryWatcher, process: FakeClock, database: FakeClock) -> WatcherDeps:
    memory.reads.database_clock = database
    return memory.deps(
        policies=POLICIES,
        clock=process,
        instance="fast-replica",
        clock_skew_tolerance=timedelta(seconds=2),
        clock_skew_check=timedelta(seconds=30),
    )


async def schedule(deps: WatcherDeps, key: str, due_at: datetime) -> None:
    event = on_the_wire(schedule_request(key, due_at))
    await handle_requests([parse_request(event, deps.policies)], deps)


def refused_gauge() -> float | None:
    return REGISTRY.get_sample_value("mynaflow_deadline_firing_refused")


async def test_a_replica_whose_clock_runs_fast_fires_nothing_until_its_clock_is_right(
    caplog: pytest.LogCaptureFixture,
) -> None:
    memory = MemoryWatcher()
    database = FakeClock(T0)
    process = FakeClock(T0)
    deps = deps_with_clocks(memory, process, database)
    await schedule(deps, "k1", T0 + timedelta(minutes=5))
    process.set(T0 + FAST)  # the replica's clock jumps ten minutes fast: k1 looks due
    loop = WatcherLoop(deps, asyncio.Event())

    with caplog.at_level(logging.ERROR):
        sleep_s = await loop.cycle()
    assert memory.published_types() == [("k1", "scheduled")]  # no reminder, no breach, no beat
    assert sleep_s == 30.0
    assert refused_gauge() == 1.0
    assert loop.clock_guard.skew == FAST
    assert any("refusing to fire" in r.getMessage() for r in caplog.records)

    database.set(T0 + timedelta(minutes=4, seconds=10))  # the reminder is due by the database
    process.set(database.now() + timedelta(seconds=1))  # clock corrected, within tolerance
    await loop.cycle()
    assert refused_gauge() == 0.0
    assert ("k1", "stage-reached") in memory.published_types()
    assert ("k1", "breached") not in memory.published_types()  # due at +5 min: not yet


async def test_a_replica_within_the_tolerance_fires_as_before() -> None:
    memory = MemoryWatcher()
    database = FakeClock(T0)
    process = FakeClock(T0 + timedelta(seconds=1))
    deps = deps_with_clocks(memory, process, database)
    await schedule(deps, "k1", T0)
    assert await WatcherLoop(deps, asyncio.Event()).cycle() > 0
    assert ("k1", "breached") in memory.published_types()


def test_the_skew_splits_the_round_trip_and_only_a_fast_clock_is_refused() -> None:
    sent = T0
    received = T0 + timedelta(seconds=4)  # a slow answer is not skew
    assert measured_skew(sent, T0 + timedelta(seconds=2), received) == timedelta(0)
    assert measured_skew(sent, T0 - timedelta(seconds=58), received) == timedelta(minutes=1)
    tolerance = timedelta(seconds=2)
    assert refuses_to_fire(timedelta(seconds=3), tolerance)
    assert not refuses_to_fire(timedelta(seconds=2), tolerance)
    assert not refuses_to_fire(-timedelta(minutes=5), tolerance)  # slow: late, caught up
