"""The loop sleeps until the next due time or a wake-up (no busy polling); heartbeats every
interval; the digest once a day whatever the replicas; due work is found through the index."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from mynaflow.domain.time import to_jst_date
from mynaflow_testing.harness.deadline_watcher import Deployment, of_type, request
from mynaflow_testing.waiting import wait_for
from prometheus_client import REGISTRY

pytestmark = pytest.mark.service


def loop_cycles() -> float:
    return REGISTRY.get_sample_value("mynaflow_deadline_loop_cycles_total") or 0.0


async def test_an_idle_watcher_sleeps_and_a_new_request_wakes_it_at_once(
    deployment: Deployment,
) -> None:
    watcher = await deployment.start_watcher()
    pool = await deployment.pool()

    async def now() -> datetime:
        return datetime.now(UTC)

    # Let the start-up cycle finish, then watch an idle period of 3 s.
    await deployment.events_until(lambda es: bool(of_type(es, "heartbeat")))
    before = loop_cycles()
    idle_until = datetime.now(UTC) + timedelta(seconds=3)
    await wait_for(now, until=lambda t: t > idle_until, timeout=10)
    assert loop_cycles() - before <= 1  # asleep until the next heartbeat, a minute away

    due = datetime.now(UTC) + timedelta(seconds=3)
    await deployment.schedule(request("wake", "one_stage", due_at=due))
    events = await deployment.events_until(lambda es: bool(of_type(es, "breached", "wake")))
    reminder = of_type(events, "stage-reached", "wake")[0]["data"]
    lag = datetime.fromisoformat(reminder["fired_at"]) - datetime.fromisoformat(reminder["at"])
    # Woken by the request, not by the next heartbeat a minute away.
    assert timedelta(0) <= lag < timedelta(seconds=3)
    assert await pool.fetchval("SELECT count(*) FROM stage_firings") == 2
    assert watcher.deps.wake_channel.endswith("_deadline_wake")


async def test_heartbeats_come_every_interval_from_each_replica(deployment: Deployment) -> None:
    first = await deployment.start_watcher(heartbeat_interval_s=1.0)
    second = await deployment.start_watcher(heartbeat_interval_s=1.0)
    events = await deployment.events_until(
        lambda es: all(
            sum(e["data"]["instance"] == w.deps.instance for e in of_type(es, "heartbeat")) >= 3
            for w in (first, second)
        )
    )
    beats = [
        datetime.fromisoformat(e["data"]["fired_at"])
        for e in of_type(events, "heartbeat")
        if e["data"]["instance"] == first.deps.instance
    ]
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    assert all(timedelta(seconds=0.9) <= gap < timedelta(seconds=5) for gap in gaps), gaps


async def test_the_digest_is_due_once_a_day_even_with_two_replicas(
    deployment: Deployment,
) -> None:
    today = to_jst_date(datetime.now(UTC))
    options = {"digest_time": "00:00", "heartbeat_interval_s": 0.5, "catchup_settle_s": 0.2}
    # First, with today closed (no digest yet), a notice from 2022 is scheduled and breaches.
    seeding = await deployment.start_watcher(ward_closures=today.isoformat(), **options)
    await deployment.schedule(request("overdue-1", "notice_sla", due_on=date(2022, 3, 15)))
    await deployment.events_until(lambda es: bool(of_type(es, "breached", "overdue-1")))
    assert await seeding.stop() == 0
    # Then today is a business day (a ward's extra open day) and its digest time has passed.
    options["ward_open_days"] = today.isoformat()
    first = await deployment.start_watcher(**options)
    second = await deployment.start_watcher(**options)
    events = await deployment.events_until(
        lambda es: all(
            sum(e["data"]["instance"] == w.deps.instance for e in of_type(es, "heartbeat")) >= 4
            for w in (first, second)
        )
    )
    (digest,) = of_type(events, "digest-due")
    data = digest["data"]
    assert data["digest_on"] == today.isoformat()
    assert data["overdue_count"] == 1
    assert data["overdue"][0]["key"] == "overdue-1"
    assert data["overdue"][0]["overdue_days"] > 365
    assert data["overdue"][0]["audience"]["queue"] == "records"
    pool = await deployment.pool()
    assert await pool.fetchval("SELECT count(*) FROM digests") == 1


async def test_due_work_is_found_through_the_partial_index_not_a_scan(
    deployment: Deployment,
) -> None:
    await deployment.start_watcher()
    pool = await deployment.pool()
    await pool.execute(
        """
        INSERT INTO deadlines (key, generation, policy, due_at, subject, audience, status,
                               scheduled_at, next_fire_at)
        SELECT 'bulk' || i, 1, 'one_stage', now() + interval '30 days', '{}', '{}',
               CASE WHEN i % 10 = 0 THEN 'open' ELSE 'cleared' END, now(),
               CASE WHEN i % 10 = 0 THEN now() + interval '30 days' END
        FROM generate_series(1, 50000) AS i
        """
    )
    await pool.execute("ANALYZE deadlines")
    plans = {}
    for name, sql in {
        "claim": "SELECT key FROM deadlines WHERE next_fire_at <= now() "
        "ORDER BY next_fire_at LIMIT 500 FOR UPDATE SKIP LOCKED",
        "next": "SELECT next_fire_at FROM deadlines WHERE next_fire_at IS NOT NULL "
        "ORDER BY next_fire_at LIMIT 1",
    }.items():
        async with pool.acquire() as conn, conn.transaction():
            plans[name] = json.dumps(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}"))
    for name, plan in plans.items():
        assert "deadlines_next_fire_idx" in plan, (name, plan)
        assert "Seq Scan" not in plan, (name, plan)
