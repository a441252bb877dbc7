"""Two replicas over 10,000 deadlines due within the same few seconds fire every stage exactly
once: counted on the topic and in the table."""

from __future__ import annotations

import collections
from datetime import UTC, datetime, timedelta

import pytest
from mynaflow.contracts.deadlines import ScheduleDeadline, schedule_request_event
from mynaflow_testing.harness.deadline_watcher import Deployment, request
from mynaflow_testing.waiting import wait_for

pytestmark = [pytest.mark.service, pytest.mark.slow]

COUNT = 10_000
STAGES_PER_DEADLINE = 2  # "reminder" at -2 s and the breach (policy `one_stage`)
LEAD_S = 25  # time to publish and store 10,000 requests before the first stage is due


async def test_two_replicas_fire_every_stage_of_10000_deadlines_exactly_once(
    deployment: Deployment,
) -> None:
    first = await deployment.start_watcher(claim_batch_size=200)
    second = await deployment.start_watcher(claim_batch_size=200)
    assert first.deps.instance != second.deps.instance
    due = datetime.now(UTC) + timedelta(seconds=LEAD_S)
    requests: list[ScheduleDeadline] = [
        request(f"r{i}", "one_stage", due_at=due + timedelta(milliseconds=i % 3000))
        for i in range(COUNT)
    ]
    for start in range(0, COUNT, 2000):
        chunk = requests[start : start + 2000]
        await deployment.send([schedule_request_event(r, source="test") for r in chunk])

    expected = COUNT * STAGES_PER_DEADLINE
    events = await deployment.events_until(
        lambda es: (
            sum(e["type"].endswith((".stage-reached.v1", ".breached.v1")) for e in es) >= expected
        ),
        timeout_s=240,
    )
    pool = await deployment.pool()
    # Give a duplicate every chance to show up: both loops have looked again since.
    await wait_for(
        lambda: pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"),
        until=lambda pending: pending == 0,
        timeout=60,
        what="outbox drained",
    )
    events = await deployment.all_events()
    fired = [e for e in events if e["type"].endswith((".stage-reached.v1", ".breached.v1"))]
    identities = collections.Counter(
        (e["data"]["key"], e["data"]["generation"], e["data"]["stage"], e["data"]["repetition"])
        for e in fired
    )
    assert len(identities) == expected
    assert max(identities.values()) == 1, identities.most_common(3)
    assert sum(e["type"].endswith(".breached.v1") for e in fired) == COUNT

    rows = await pool.fetch(
        "SELECT status, decided_by, count(*) AS n FROM stage_firings GROUP BY status, decided_by"
    )
    assert {r["status"] for r in rows} == {"fired"}
    assert sum(r["n"] for r in rows) == expected
    # Both replicas took a share of the work.
    assert {r["decided_by"] for r in rows} == {first.deps.instance, second.deps.instance}
    assert await pool.fetchval("SELECT count(*) FROM deadlines WHERE next_fire_at IS NOT NULL") == 0
