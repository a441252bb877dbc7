"""Catch-up against the real servers: a stage missed while the watcher was down fires once,
late; a backdated deadline fires only its most severe reminder plus the breach fact; a clear
within the settle delay suppresses the breach."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from mynaflow_testing.harness.deadline_watcher import Deployment, of_type, request, stage_events
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.service


async def test_a_stage_due_while_the_watcher_is_down_fires_once_after_restart_marked_late(
    deployment: Deployment,
) -> None:
    # `late` means "more than LATE_AFTER_S after its time": 2 s here instead of 60 s, so the
    # test need not wait a minute with the watcher down.
    watcher = await deployment.start_watcher(late_after_s=2.0)
    stage_at = datetime.now(UTC) + timedelta(seconds=3)
    due = stage_at + timedelta(seconds=2)
    await deployment.schedule(request("down1", "one_stage", due_at=due + timedelta(hours=1)))
    await deployment.schedule(request("down2", "one_stage", due_at=due))
    await deployment.events_until(lambda es: len(of_type(es, "scheduled")) == 2)
    assert await watcher.stop() == 0

    async def now() -> datetime:
        return datetime.now(UTC)

    # The watcher stays down over the reminder's time, and 2 s more, so it is missed and late.
    await wait_for(now, until=lambda t: t > stage_at + timedelta(seconds=2.5), timeout=15)
    await deployment.start_watcher(late_after_s=2.0)
    events = await deployment.events_until(lambda es: bool(of_type(es, "breached", "down2")))

    reminders = of_type(events, "stage-reached", "down2")
    assert len(reminders) == 1
    assert reminders[0]["data"]["late"] is True
    assert datetime.fromisoformat(reminders[0]["data"]["at"]) == due - timedelta(seconds=2)
    pool = await deployment.pool()
    assert await pool.fetchval("SELECT count(*) FROM stage_firings WHERE key = 'down2'") == 2
    assert of_type(events, "stage-reached", "down1") == []


async def test_a_restart_twice_over_the_same_stage_never_fires_it_twice(
    deployment: Deployment,
) -> None:
    first = await deployment.start_watcher()
    due = datetime.now(UTC) + timedelta(seconds=4)
    await deployment.schedule(request("twice", "one_stage", due_at=due))
    await deployment.events_until(lambda es: bool(of_type(es, "stage-reached", "twice")))
    assert await first.stop() == 0
    second = await deployment.start_watcher()
    await deployment.events_until(lambda es: bool(of_type(es, "breached", "twice")))
    assert await second.stop() == 0
    await deployment.start_watcher()
    marker = datetime.now(UTC) + timedelta(seconds=2)
    await deployment.schedule(request("marker", "one_stage", due_at=marker))
    events = await deployment.events_until(lambda es: bool(of_type(es, "breached", "marker")))
    ids = {e["id"] for e in stage_events(events, "twice")}
    assert len(ids) == 2  # one reminder, one breach, whatever was republished
    assert (
        len({(e["data"]["stage"], e["data"]["repetition"]) for e in stage_events(events, "twice")})
        == 2
    )


async def test_a_backdated_deadline_fires_only_the_most_severe_reminder_and_the_breach(
    deployment: Deployment,
) -> None:
    watcher = await deployment.start_watcher(catchup_settle_s=1.0)
    # Case 2: a move-in notified 2022-03-15; the chip rewrite was due by 2022-06-13.
    await deployment.schedule(request("case2", "chip_rewrite_90d", due_on=date(2022, 6, 13)))
    events = await deployment.events_until(
        lambda es: (
            bool(of_type(es, "breached", "case2")) and bool(of_type(es, "stage-reached", "case2"))
        )
    )
    reminders = of_type(events, "stage-reached", "case2")
    assert [(e["data"]["stage"], e["data"]["role"], e["data"]["late"]) for e in reminders] == [
        ("section_chief", "section_chief", True)
    ]
    (breached,) = of_type(events, "breached", "case2")
    assert breached["data"]["late"] is True
    assert breached["data"]["due_at"].startswith("2022-06-13T14:59:59")  # 23:59:59 JST
    report = await deployment.report(watcher, breached="true")
    (row,) = report["deadlines"]
    assert {s["stage"]: s["status"] for s in row["stages"]} == {
        "resident_60d": "skipped",
        "resident_30d": "skipped",
        "resident_14d": "skipped",
        "desk_manager_7d": "skipped",
        "breach": "fired",
        "section_chief": "fired",
    }


async def test_a_clear_within_the_settle_delay_suppresses_the_breach_of_a_replayed_deadline(
    deployment: Deployment,
) -> None:
    await deployment.start_watcher(catchup_settle_s=4.0)
    await deployment.schedule(request("replayed", "notice_sla", due_on=date(2022, 4, 1)))
    await deployment.clear("replayed", reason="resolved_in_replay")
    await deployment.schedule(
        request("marker", "one_stage", due_at=datetime.now(UTC) + timedelta(seconds=6))
    )
    events = await deployment.events_until(lambda es: bool(of_type(es, "breached", "marker")))
    assert of_type(events, "breached", "replayed") == []
    assert of_type(events, "stage-reached", "replayed") == []
    assert len(of_type(events, "cleared", "replayed")) == 1


async def test_a_clear_after_an_unnoticed_due_time_still_emits_the_breach_once(
    deployment: Deployment,
) -> None:
    watcher = await deployment.start_watcher()
    due = datetime.now(UTC) + timedelta(seconds=3)
    await deployment.schedule(request("unnoticed", "one_stage", due_at=due + timedelta(hours=2)))
    await deployment.schedule(request("unnoticed", "one_stage", due_at=due))
    await deployment.events_until(lambda es: len(of_type(es, "scheduled", "unnoticed")) == 2)
    assert await watcher.stop() == 0

    async def now() -> datetime:
        return datetime.now(UTC)

    await wait_for(now, until=lambda t: t > due + timedelta(seconds=1), timeout=15)
    # The clear is published before the watcher comes back, so it is applied before the loop
    # looks at the deadline: the breach is a fact all the same.
    await deployment.clear("unnoticed", reason="resolved_late")
    await deployment.start_watcher()
    events = await deployment.events_until(lambda es: bool(of_type(es, "cleared", "unnoticed")))
    assert len(of_type(events, "breached", "unnoticed")) == 1
    assert of_type(events, "cleared", "unnoticed")[0]["data"]["met"] is False
