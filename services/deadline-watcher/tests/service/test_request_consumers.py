"""One watcher process runs `REQUEST_CONSUMERS` consumers of `deadlines.requests` in the service's
group (so a batch's Python overlaps another batch's transaction): each takes partitions of its
own, and every request is applied exactly once, as with replicas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from deadline_watcher.app import SERVICE_NAME
from mynaflow.contracts.deadlines import schedule_request_event
from mynaflow_testing.faults import stable_member_count
from mynaflow_testing.harness.deadline_watcher import Deployment, of_type, request
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.service

COUNT = 600  # keys over every partition of deadlines.requests


async def test_three_request_consumers_in_one_process_apply_every_request_once(
    deployment: Deployment,
) -> None:
    await deployment.start_watcher(request_consumers=3)
    group = f"{deployment.settings.topic_prefix}{SERVICE_NAME}"
    await wait_for(
        lambda: stable_member_count(deployment.settings, group),
        until=lambda members: members == 3,
        timeout=60,
        what="three request consumers in the group",
    )
    due = datetime.now(UTC) + timedelta(hours=1)
    events = [
        schedule_request_event(request(f"c{i}", "one_stage", due_at=due), source="test")
        for i in range(COUNT)
    ]
    await deployment.send(events)
    await deployment.send(events[:100])  # redelivered copies: found in the inbox, no effect

    scheduled = of_type(
        await deployment.events_until(lambda es: len(of_type(es, "scheduled")) >= COUNT),
        "scheduled",
    )
    pool = await deployment.pool()
    assert await pool.fetchval("SELECT count(*) FROM deadlines") == COUNT
    assert await pool.fetchval("SELECT max(generation) FROM deadlines") == 1
    assert sorted(e["data"]["key"] for e in scheduled) == sorted(f"c{i}" for i in range(COUNT))
    assert await stable_member_count(deployment.settings, group) == 3


async def test_one_request_consumer_by_default(deployment: Deployment) -> None:
    await deployment.start_watcher()
    group = f"{deployment.settings.topic_prefix}{SERVICE_NAME}"
    await wait_for(
        lambda: stable_member_count(deployment.settings, group),
        until=lambda members: members >= 1,
        timeout=60,
        what="the request consumer in the group",
    )
    assert await stable_member_count(deployment.settings, group) == 1
