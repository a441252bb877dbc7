"""A clear stops every later stage; a reschedule starts a new generation with moved stages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mynaflow_testing.harness.deadline_watcher import Deployment, of_type, request, stage_events

pytestmark = pytest.mark.service


async def test_a_clear_stops_what_follows(deployment: Deployment) -> None:
    watcher = await deployment.start_watcher()
    due = datetime.now(UTC) + timedelta(seconds=5)
    await deployment.schedule(
        request("c1", "quick", due_at=due), request("c2", "quick", due_at=due)
    )
    await deployment.events_until(
        lambda es: any(e["data"].get("stage") == "first" for e in stage_events(es, "c1"))
    )
    await deployment.clear("c1", reason="notice_resolved")

    # c2 runs its whole ladder: by then c1 would have fired everything too.
    events = await deployment.events_until(
        lambda es: any(e["data"].get("stage") == "escalate" for e in stage_events(es, "c2"))
    )
    fired_c1 = [e["data"]["stage"] for e in stage_events(events, "c1")]
    assert "breach" not in fired_c1
    assert "escalate" not in fired_c1
    assert fired_c1[0] == "first"
    (cleared,) = of_type(events, "cleared", "c1")
    assert cleared["data"]["met"] is True
    assert cleared["data"]["reason"] == "notice_resolved"
    # The clear comes after the stages that fired before it, never before (same partition).
    assert events.index(cleared) > events.index(stage_events(events, "c1")[-1])

    report = await deployment.report(watcher, include_cleared="true", policy="quick")
    row = next(r for r in report["deadlines"] if r["key"] == "c1")
    assert row["status"] == "cleared"
    statuses = {s["stage"]: s["status"] for s in row["stages"]}
    assert statuses["breach"] == "cancelled"
    assert statuses["first"] == "fired"


async def test_a_clear_after_the_breach_is_not_met_and_stops_the_escalation(
    deployment: Deployment,
) -> None:
    watcher = await deployment.start_watcher()
    due = datetime.now(UTC) + timedelta(seconds=3)
    await deployment.schedule(request("late1", "slow_escalation", due_at=due))
    await deployment.events_until(lambda es: bool(of_type(es, "breached", "late1")))
    await deployment.clear("late1")
    events = await deployment.events_until(lambda es: bool(of_type(es, "cleared", "late1")))
    assert of_type(events, "cleared", "late1")[0]["data"]["met"] is False
    report = await deployment.report(watcher, include_cleared="true")
    (row,) = report["deadlines"]
    assert {s["stage"]: s["status"] for s in row["stages"]} == {
        "breach": "fired",
        "escalate": "cancelled",
    }
    pool = await deployment.pool()
    assert await pool.fetchval("SELECT next_fire_at FROM deadlines WHERE key = 'late1'") is None


async def test_a_reschedule_moves_the_stages_into_a_new_generation(deployment: Deployment) -> None:
    await deployment.start_watcher()
    now = datetime.now(UTC)
    first_due = now + timedelta(seconds=60)
    await deployment.schedule(request("r1", "quick", due_at=first_due))
    await deployment.events_until(lambda es: bool(of_type(es, "scheduled", "r1")))
    moved_due = now + timedelta(seconds=6)
    await deployment.schedule(request("r1", "quick", due_at=moved_due))

    events = await deployment.events_until(
        lambda es: any(e["data"].get("stage") == "escalate" for e in stage_events(es, "r1"))
    )
    scheduled = of_type(events, "scheduled", "r1")
    assert [e["data"]["generation"] for e in scheduled] == [1, 2]
    assert datetime.fromisoformat(scheduled[1]["data"]["due_at"]) == moved_due
    fired = stage_events(events, "r1")
    assert {e["data"]["generation"] for e in fired} == {2}
    assert [e["data"]["stage"] for e in fired] == ["first", "second", "third", "breach", "escalate"]
    for event in fired:
        at = datetime.fromisoformat(event["data"]["at"])
        assert moved_due - timedelta(seconds=3) <= at <= moved_due + timedelta(seconds=1)


async def test_the_same_request_twice_changes_nothing_and_a_cleared_key_scheduled_again_fires_again(
    deployment: Deployment,
) -> None:
    await deployment.start_watcher()
    due = datetime.now(UTC) + timedelta(seconds=5)
    await deployment.schedule(request("m1", "one_stage", due_at=due))
    await deployment.schedule(request("m1", "one_stage", due_at=due))  # a producer's retry
    events = await deployment.events_until(lambda es: bool(of_type(es, "breached", "m1")))
    assert len(of_type(events, "scheduled", "m1")) == 1
    await deployment.clear("m1")
    # The card moves in again later: the same key gets its reminders again (generation 2).
    again = datetime.now(UTC) + timedelta(seconds=4)
    await deployment.schedule(request("m1", "one_stage", due_at=again))
    events = await deployment.events_until(
        lambda es: any(e["data"]["generation"] == 2 for e in of_type(es, "breached", "m1"))
    )
    assert [e["data"]["generation"] for e in of_type(events, "breached", "m1")] == [1, 2]
    assert [e["data"]["generation"] for e in of_type(events, "stage-reached", "m1")] == [1, 2]
