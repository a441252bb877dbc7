"""Stages fire in order at their computed times; a clear stops what follows; a reschedule moves
the stages (real Kafka, real PostgreSQL, real time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from deadline_watcher.testing.harness import Deployment, of_type, request, stage_events

pytestmark = pytest.mark.service


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
        # Fired at its time (not before, and well within a second or two after).
        assert timedelta(0) <= fired_at - at < timedelta(seconds=2), data
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
