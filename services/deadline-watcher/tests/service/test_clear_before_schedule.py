"""A clear that overtakes its schedule, through the `deadlines.requests` topic: the late schedule
(sent before the clear, by CloudEvent `time`) opens nothing, while a schedule sent after the
clear is a real reschedule and runs its ladder (docs/deadline-watcher.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mynaflow.contracts.deadlines import ClearDeadline, clear_request_event, schedule_request_event
from mynaflow.contracts.envelope import CloudEvent
from mynaflow_testing.harness.deadline_watcher import Deployment, of_type, request

pytestmark = pytest.mark.service


async def test_a_schedule_sent_before_the_clear_does_not_reopen_resolved_work(
    deployment: Deployment,
) -> None:
    await deployment.start_watcher()
    now = datetime.now(UTC)
    due = now + timedelta(seconds=3)

    def clear_sent(key: str, at: datetime) -> CloudEvent[Any]:
        event = clear_request_event(ClearDeadline(key=key, reason="resolved"), source="test")
        return event.model_copy(update={"time": at})

    def schedule_sent(key: str, at: datetime) -> CloudEvent[Any]:
        event = schedule_request_event(request(key, "slow_escalation", due_at=due), source="test")
        return event.model_copy(update={"time": at})

    await deployment.send(
        [
            clear_sent("overtaken", now),  # arrives first, though sent last
            schedule_sent("overtaken", now - timedelta(minutes=1)),
            clear_sent("rescheduled", now - timedelta(minutes=1)),
            schedule_sent("rescheduled", now),  # sent after the clear: opens again
            schedule_sent("control", now),
        ]
    )
    events = await deployment.events_until(
        lambda es: (
            bool(of_type(es, "breached", "control"))
            and bool(of_type(es, "breached", "rescheduled"))
        )
    )
    assert [e["type"] for e in events if e["data"].get("key") == "overtaken"] == []
    assert len(of_type(events, "scheduled", "rescheduled")) == 1
    pool = await deployment.pool()
    rows = await pool.fetch("SELECT key FROM deadlines ORDER BY key")
    assert [row["key"] for row in rows] == ["control", "rescheduled"]
    cleared = await pool.fetch("SELECT key FROM deadline_clears ORDER BY key")
    assert [row["key"] for row in cleared] == ["overtaken", "rescheduled"]
