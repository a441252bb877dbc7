"""The real console script, killed with SIGKILL while a stage is due, stays down for more than
a minute, and is started again: the stage fires once, marked late (the default 60 s rule)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.harness.deadline_watcher import (
    of_type,
    request,
    stage_events,
    watcher_as_process,
)
from mynaflow_testing.waiting import wait_for

pytestmark = [pytest.mark.service, pytest.mark.slow]

POLICIES = {
    "kill_test": {
        "stages": [
            {"name": "reminder", "offset": "-2s", "role": "assignee"},
            {"name": "breach", "role": "desk_manager"},
        ]
    }
}


async def test_a_stage_due_while_the_process_is_killed_fires_once_late_after_restart(
    kafka_settings: MynaflowSettings, own_database_url: str, tmp_path: Path
) -> None:
    key = f"killed-{uuid.uuid4().hex[:6]}"
    async with watcher_as_process(
        kafka_settings, own_database_url, tmp_path / "deadline-watcher.log", POLICIES
    ) as (process, deployment):
        await process.start_ready(timeout_s=60)
        due = datetime.now(UTC) + timedelta(seconds=6)
        await deployment.schedule(request(key, "kill_test", due_at=due))
        await deployment.events_until(lambda es: bool(of_type(es, "scheduled", key)))
        process.kill()  # no drain, no commit, no flush

        async def now() -> datetime:
            return datetime.now(UTC)

        # Down over the reminder's time and the breach, and more than 60 s past both.
        await wait_for(now, until=lambda t: t > due + timedelta(seconds=62), timeout=120)
        await process.start_ready(timeout_s=60)
        events = await deployment.events_until(lambda es: bool(of_type(es, "breached", key)))
        fired = [(e["data"]["stage"], e["data"]["late"]) for e in stage_events(events, key)]
        assert sorted(fired) == [("breach", True), ("reminder", True)]
        pool = await deployment.pool()
        rows = await pool.fetch("SELECT stage, status, late FROM stage_firings WHERE key = $1", key)
        assert sorted((r["stage"], r["status"], r["late"]) for r in rows) == [
            ("breach", "fired", True),
            ("reminder", "fired", True),
        ]
        assert await process.terminate(timeout_s=15) == 0
