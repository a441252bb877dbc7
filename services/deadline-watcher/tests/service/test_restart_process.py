"""The real console script, killed with SIGKILL while a stage is due, stays down for more than
a minute, and is started again: the stage fires once, marked late (the default 60 s rule)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.harness.deadline_watcher import (
    Deployment,
    delete_topics,
    deployment_settings,
    of_type,
    request,
    stage_events,
)
from mynaflow_testing.ports import free_port
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


async def start_process(env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deadline_watcher.main", env=env
    )

    async def ready() -> bool:
        if process.returncode is not None:
            raise AssertionError(f"deadline-watcher exited with {process.returncode}")
        try:
            async with httpx.AsyncClient() as client:
                answer = await client.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            return answer.status_code == 200
        except httpx.HTTPError:
            return False

    await wait_for(ready, timeout=60, what="deadline-watcher ready")
    return process


async def test_a_stage_due_while_the_process_is_killed_fires_once_late_after_restart(
    kafka_settings: MynaflowSettings, own_database_url: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.kafka_bootstrap_servers,
        "DATABASE_URL": own_database_url,
        "TOPIC_PREFIX": kafka_settings.topic_prefix,
        "HTTP_PORT": str(port),
        "DEADLINE_POLICIES": json.dumps(POLICIES),
        "LOG_LEVEL": "WARNING",
    }
    deployment = Deployment(
        deployment_settings(kafka_settings, own_database_url), "deadline_watcher"
    )
    key = f"killed-{uuid.uuid4().hex[:6]}"
    process = await start_process(env, port)
    try:
        due = datetime.now(UTC) + timedelta(seconds=6)
        await deployment.schedule(request(key, "kill_test", due_at=due))
        await deployment.events_until(lambda es: bool(of_type(es, "scheduled", key)))
        process.send_signal(signal.SIGKILL)  # no drain, no commit, no flush
        await process.wait()

        async def now() -> datetime:
            return datetime.now(UTC)

        # Down over the reminder's time and the breach, and more than 60 s past both.
        await wait_for(now, until=lambda t: t > due + timedelta(seconds=62), timeout=120)
        process = await start_process(env, port)
        events = await deployment.events_until(lambda es: bool(of_type(es, "breached", key)))
        fired = [(e["data"]["stage"], e["data"]["late"]) for e in stage_events(events, key)]
        assert sorted(fired) == [("breach", True), ("reminder", True)]
        pool = await deployment.pool()
        rows = await pool.fetch("SELECT stage, status, late FROM stage_firings WHERE key = $1", key)
        assert sorted((r["stage"], r["status"], r["late"]) for r in rows) == [
            ("breach", "fired", True),
            ("reminder", "fired", True),
        ]
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await deployment.close()
        await delete_topics(kafka_settings.kafka_bootstrap_servers, kafka_settings.topic_prefix)
