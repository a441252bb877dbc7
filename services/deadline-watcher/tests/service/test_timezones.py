"""A `due_on` date ends at 23:59:59 JST whatever the server's time zone: the real console script
runs in a subprocess under TZ=UTC and TZ=America/New_York, against the real Kafka and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from mynaflow.domain.time import JST, to_jst_date
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.harness.deadline_watcher import (
    Deployment,
    of_type,
    request,
    stage_events,
    watcher_as_process,
)

pytestmark = pytest.mark.service

ZONES = ["UTC", "America/New_York"]


def utc_offset_in(zone: str) -> str:
    """What a child process with TZ=zone believes its offset is (proves TZ is honoured)."""
    result = subprocess.run(
        [sys.executable, "-c", "import time; print(time.strftime('%z'))"],
        env={**os.environ, "TZ": zone},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@pytest_asyncio.fixture(params=ZONES)
async def watcher_process(
    request: pytest.FixtureRequest,
    kafka_settings: MynaflowSettings,
    own_database_url: str,
    tmp_path: Path,
) -> AsyncIterator[tuple[str, Deployment, str]]:
    zone: str = request.param
    now_jst = datetime.now(JST) + timedelta(seconds=15)
    # A same-day stage some seconds ahead (after start-up), written as a JST wall-clock time.
    policies = {
        "same_day": {
            "stages": [
                {
                    "name": "soon",
                    "offset": "0d",
                    "at": now_jst.strftime("%H:%M:%S"),
                    "role": "queue",
                },
                {"name": "breach", "role": "desk_manager"},
            ]
        }
    }
    async with watcher_as_process(
        kafka_settings,
        own_database_url,
        tmp_path / "deadline-watcher.log",
        policies,
        extra_env={"TZ": zone},
    ) as (process, deployment):
        await process.start_ready(timeout_s=60)
        yield zone, deployment, process.url
        assert await process.terminate(timeout_s=15) == 0


async def test_a_due_on_date_ends_at_23_59_59_jst_in_any_server_time_zone(
    watcher_process: tuple[str, Deployment, str],
) -> None:
    zone, deployment, url = watcher_process
    assert utc_offset_in(zone) == datetime.now(ZoneInfo(zone)).strftime("%z")
    suffix = uuid.uuid4().hex[:6]
    sla_key, today_key = f"tz-sla-{suffix}", f"tz-today-{suffix}"
    today = to_jst_date(datetime.now(UTC) + timedelta(seconds=10))
    # Issued 2025-12-26 with 5 business days: due 2026-01-09 (year-end closure; docs/domain.md).
    await deployment.schedule(
        request(sla_key, "notice_sla", due_on=date(2026, 1, 9)),
        request(today_key, "same_day", due_on=today),
    )
    events = await deployment.events_until(
        lambda es: (
            bool(of_type(es, "scheduled", sla_key))
            and any(e["data"]["stage"] == "soon" for e in stage_events(es, today_key))
        )
    )

    sla = of_type(events, "scheduled", sla_key)[0]["data"]
    assert datetime.fromisoformat(sla["due_at"]) == datetime(
        2026, 1, 9, 23, 59, 59, 999_999, tzinfo=JST
    )
    assert sla["due_at"].startswith("2026-01-09T14:59:59.999999")  # as UTC on the wire
    stage_times = {s["stage"]: datetime.fromisoformat(s["at"]) for s in sla["stages"]}
    assert stage_times["due_tomorrow"] == datetime(2026, 1, 8, 9, tzinfo=JST)
    # +2 business days from Fri 9 Jan: Mon 12 Jan is 成人の日, so Wed 14 Jan.
    assert stage_times["escalate"] == datetime(2026, 1, 14, 9, tzinfo=JST)

    (fired,) = [e["data"] for e in stage_events(events, today_key)]
    at = datetime.fromisoformat(fired["at"])
    assert at.astimezone(JST).date() == today
    assert at.astimezone(JST).time().replace(microsecond=0) == at.astimezone(JST).time()
    assert abs(at - datetime.now(UTC)) < timedelta(seconds=60)  # that JST wall time, today
    assert datetime.fromisoformat(fired["fired_at"]) >= at  # never early
    today_due = datetime.fromisoformat(of_type(events, "scheduled", today_key)[0]["data"]["due_at"])
    assert today_due.astimezone(JST).time() >= time(23, 59, 59)

    async with httpx.AsyncClient(base_url=url) as client:
        report = (await client.get("/deadlines", params={"due_within": "400d"})).json()
    rows = {row["key"]: row for row in report["deadlines"]}
    assert datetime.fromisoformat(rows[sla_key]["due_at"]) == datetime(
        2026, 1, 9, 23, 59, 59, 999_999, tzinfo=JST
    )
