"""Stages fire in order at their computed times; a clear stops what follows; a reschedule moves
the stages (real Kafka, real PostgreSQL, real time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mynaflow.domain.time import JST
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.harness.deadline_watcher import Deployment, of_type, request, stage_events

pytestmark = pytest.mark.service

# The loop wakes at a stage's own time; this much slack covers a loaded 2-core CI machine and is
# still far below the 60 s after which a stage counts as late.
ON_TIME = timedelta(seconds=3)


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_ladder_fires_every_stage_once_in_order_at_its_time(deployment: Deployment) -> None:
    watcher = await deployment.start_watcher()
    due = datetime.now(UTC) + timedelta(seconds=6)
    await deployment.schedule(request("q1", "quick", due_at=due))

    events = await deployment.events_until(
        lambda es: any(e["data"].get("stage") == "escalate" for e in stage_events(es, "q1"))
    )

    (scheduled,) = of_type(events, "scheduled", "q1")
    assert [s["stage"] for s in scheduled["data"]["stages"]] == [
        "first",
        "second",
        "third",
        "breach",
        "escalate",
    ]
    fired = stage_events(events, "q1")
    assert [e["data"]["stage"] for e in fired] == ["first", "second", "third", "breach", "escalate"]
    assert [e["type"].split(".")[-2] for e in fired].count("breached") == 1
    for event in fired:
        data = event["data"]
        at, fired_at = parse(data["at"]), parse(data["fired_at"])
        assert (
            at - parse(data["due_at"])
            == {
                "first": timedelta(seconds=-3),
                "second": timedelta(seconds=-2),
                "third": timedelta(seconds=-1),
                "breach": timedelta(0),
                "escalate": timedelta(seconds=1),
            }[data["stage"]]
        )
        # Fired at its time: never before, and within a few seconds after (a busy CI machine).
        assert timedelta(0) <= fired_at - at < ON_TIME, data
        assert data["late"] is False
        assert (data["repetition"], data["generation"]) == (0, 1)
        assert data["subject"] == {"type": "test", "ids": {"key": "q1"}}
        assert data["audience"]["queue"] == "records"
    report = await deployment.report(watcher, include_cleared="true")
    (row,) = report["deadlines"]
    assert [(s["stage"], s["status"]) for s in row["stages"]] == [
        ("first", "fired"),
        ("second", "fired"),
        ("third", "fired"),
        ("breach", "fired"),
        ("escalate", "fired"),
    ]


async def test_calendar_day_and_business_day_stages_fire_at_their_computed_instants(
    deployment: Deployment,
) -> None:
    stage_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=6)
    today = stage_at.astimezone(JST).date()
    # Today is a business day for this ward whatever the weekday (an extra open day), so "one
    # business day before" the next business day is today.
    ward = {"ward_open_days": today.isoformat()}  # a setting of the watcher, as WARD_OPEN_DAYS
    calendar = MynaflowSettings(ward_open_days=today.isoformat()).business_calendar()
    clock = stage_at.astimezone(JST).timetz()
    calendar_due = stage_at + timedelta(days=1)
    business_due = datetime.combine(calendar.add_business_days(today, 1), clock)
    await deployment.start_watcher(**ward)
    await deployment.schedule(
        request("cal", "calendar_day", due_at=calendar_due),
        request("biz", "business_day", due_at=business_due),
    )
    events = await deployment.events_until(
        lambda es: bool(stage_events(es, "cal")) and bool(stage_events(es, "biz"))
    )
    for key, stage in (("cal", "day_before"), ("biz", "business_day_before")):
        (fired,) = stage_events(events, key)
        data = fired["data"]
        assert data["stage"] == stage
        assert parse(data["at"]) == stage_at
        assert timedelta(0) <= parse(data["fired_at"]) - stage_at < ON_TIME
        (scheduled,) = of_type(events, "scheduled", key)
        assert [s["stage"] for s in scheduled["data"]["stages"]] == [stage, "breach"]
    assert parse(of_type(events, "scheduled", "biz")[0]["data"]["due_at"]) == business_due
