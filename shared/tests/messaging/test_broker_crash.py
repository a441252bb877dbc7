"""Service test: a consumer killed with SIGKILL after real progress, three times, loses nothing.

docs/architecture.md, Delivery guarantees: after `kill -9` a restart resumes with no loss. The
consumer is a real process (`crash_consumer.py`) that kills itself between its database commit
and its offset commit. The invariant is stated as sets: the applied ids equal the published ids,
with no duplicate, although each crashed event was delivered twice (the inbox absorbs the
redelivery).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import pytest
from mynaflow.contracts.topics import REGISTRY_COMMANDS
from mynaflow.messaging.topics_admin import committed_offsets
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.kafka_helpers import produce
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.service

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
StartConsumer: TypeAlias = Callable[..., Awaitable[subprocess.Popen[bytes]]]
Consumers: TypeAlias = tuple[list[subprocess.Popen[bytes]], StartConsumer]
EVENTS = 600
KILLS = 3
CONSUMER_SCRIPT = Path(__file__).with_name("crash_consumer.py")


@pytest.fixture
def start_consumer(
    kafka_settings: MynaflowSettings, database_url: str, platform_pool: Pool, tmp_path: Path
) -> Iterator[Consumers]:
    processes: list[subprocess.Popen[bytes]] = []

    async def start(crash_after_applied: int = 0) -> subprocess.Popen[bytes]:
        schema = await platform_pool.fetchval("SELECT current_schema()")
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.kafka_bootstrap_servers,
            "DATABASE_URL": database_url,
            "TOPIC_PREFIX": kafka_settings.topic_prefix,
            "CRASH_TEST_SCHEMA": schema,
            "CRASH_AFTER_APPLIED": str(crash_after_applied),
        }
        log = (tmp_path / f"consumer-{len(processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, str(CONSUMER_SCRIPT)], env=env, stdout=log, stderr=log
        )
        processes.append(process)
        return process

    yield processes, start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


async def _returncode(process: subprocess.Popen[bytes]) -> int | None:
    return process.poll()


async def count(pool: Pool, table: str) -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM {table}"))


async def test_sigkill_after_progress_three_times_loses_nothing_and_applies_once(
    kafka_settings: MynaflowSettings,
    platform_pool: Pool,
    start_consumer: Consumers,
) -> None:
    await platform_pool.execute(
        """
        CREATE TABLE deliveries (event_id text NOT NULL);
        CREATE TABLE applied (event_id text NOT NULL, n integer NOT NULL);
        """
    )
    processes, start = start_consumer
    topic = kafka_settings.topic_prefix + REGISTRY_COMMANDS.name
    events: list[dict[str, Any]] = [{"id": str(uuid.uuid4()), "n": n} for n in range(EVENTS)]
    for key in range(12):  # twelve aggregates spread over the partitions
        await produce(
            kafka_settings, topic, [json.dumps(e) for e in events[key::12]], key=f"agg-{key}"
        )

    for kill in range(1, KILLS + 1):
        process = await start(crash_after_applied=kill * EVENTS // (KILLS + 1))
        await wait_for(
            lambda process=process: _returncode(process),  # type: ignore[misc]
            until=lambda code: code is not None,
            timeout=60,
            what=f"consumer to crash itself ({kill})",
        )
        assert process.returncode == -signal.SIGKILL

    await start()
    await wait_for(
        lambda: count(platform_pool, "applied"),
        until=lambda applied: applied >= EVENTS,
        timeout=60,
        what="all events applied",
    )

    async def committed_total() -> int:
        committed = await committed_offsets(kafka_settings, kafka_settings.topic_prefix + "crash")
        return sum(committed.get(topic, {}).values())

    await wait_for(committed_total, until=lambda total: total == EVENTS, what="all committed")
    applied = await platform_pool.fetch("SELECT event_id FROM applied")
    assert sorted(row["event_id"] for row in applied) == sorted(e["id"] for e in events)
    assert await count(platform_pool, "deliveries") >= EVENTS + KILLS  # crashed ones twice
    assert len(processes) == KILLS + 1
