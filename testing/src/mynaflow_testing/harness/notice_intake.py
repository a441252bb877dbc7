"""Test support for notice-intake: run it (in a subprocess or in-process), feed it, read it.

Used by the service's own tests and by the cross-service tests in `tests/`.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from mynaflow.contracts.intake import NOTICE_ACKNOWLEDGED_V1
from mynaflow.messaging.topics_admin import kafka_client_options
from mynaflow.settings import MynaflowSettings
from notice_intake.app import definition
from notice_intake.settings import NoticeIntakeSettings

from mynaflow_testing.kafka_helpers import Records, consume_until
from mynaflow_testing.processes import ServiceProcess, service_process
from mynaflow_testing.service import RunningService, start_service

KeyedValue = tuple[bytes | None, bytes]


async def produce_raw(
    settings: MynaflowSettings, topic: str, items: Sequence[KeyedValue]
) -> list[tuple[int, int]]:
    """Publish (key, value) pairs in order with acks=all; returns (partition, offset) of each."""
    producer = AIOKafkaProducer(acks="all", linger_ms=5, **kafka_client_options(settings))
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in items]
        results = [await future for future in futures]
        return [(metadata.partition, metadata.offset) for metadata in results]
    finally:
        await producer.stop()


def decode_events(records: Records) -> list[dict[str, Any]]:
    return [json.loads(record.value) for record in records if record.value is not None]


def acknowledgements(records: Records) -> list[dict[str, Any]]:
    return [e for e in decode_events(records) if e.get("type") == NOTICE_ACKNOWLEDGED_V1]


async def read_until(
    settings: MynaflowSettings,
    topic: str,
    until: Callable[[list[dict[str, Any]]], bool],
    *,
    timeout_s: float = 60.0,
) -> list[dict[str, Any]]:
    """Read `topic` from the start until `until(decoded events)` holds."""
    records = await consume_until(
        settings, topic, lambda recs: until(decode_events(recs)), timeout_s=timeout_s
    )
    return decode_events(records)


# --- in-process ----------------------------------------------------------------------------------
InProcessIntake = RunningService[NoticeIntakeSettings]


def intake_settings(
    kafka_settings: MynaflowSettings, database_url: str, **overrides: Any
) -> NoticeIntakeSettings:
    """Settings of an in-process notice-intake: the test's Kafka, `database_url`, any free port."""
    values = kafka_settings.model_dump() | {"database_url": database_url, "http_port": 0}
    return NoticeIntakeSettings(**(values | overrides))


async def start_in_process(settings: NoticeIntakeSettings, *, schema: str) -> InProcessIntake:
    """Run notice-intake in this event loop on `schema`; fails loudly if it does not start."""
    return await start_service(definition(), settings, schema=schema)


# --- subprocess ----------------------------------------------------------------------------------
@dataclass
class IntakeProcess:
    """notice-intake's console script as a real process (a `ServiceProcess`), with a synchronous
    `terminate` for the tests that stop it so."""

    service: ServiceProcess

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.service.process

    def start(self) -> None:
        self.service.start()

    async def wait_ready(self, timeout_s: float = 90.0) -> None:
        await self.service.wait_ready(timeout_s)

    def kill(self) -> None:
        """SIGKILL: no drain, no commit, no flush."""
        self.service.kill()

    def terminate(self, timeout_s: float = 15.0) -> int:
        """SIGTERM, then the exit code (the process must exit within `timeout_s`)."""
        process = self.service.process
        assert process is not None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout_s)

    def log_text(self) -> str:
        return self.service.log_text()

    def log_tail(self, lines: int = 40) -> str:
        return self.service.log_tail(lines)


def intake_process(
    *,
    database_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    log_path: Path,
    extra_env: Mapping[str, str] | None = None,
) -> IntakeProcess:
    """A notice-intake on a free HTTP port, logging at DEBUG, not started yet."""
    service = service_process(
        "notice-intake",
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        log_path=log_path,
        extra_env={"LOG_LEVEL": "DEBUG"} | dict(extra_env or {}),
    )
    return IntakeProcess(service)


async def read_whole_topic(settings: MynaflowSettings, topic: str) -> list[KeyedValue]:
    """Every record a topic holds now (key, value), read up to its end offsets."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **kafka_client_options(settings),
    )
    await consumer.start()
    try:
        # Without a group the consumer takes every partition of the topic at start.
        partitions = list(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        records: list[KeyedValue] = []
        while not await _reached(consumer, ends):
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend((r.key, r.value or b"") for r in batch)
        return records
    finally:
        await consumer.stop()


async def _reached(consumer: Any, ends: Mapping[Any, int]) -> bool:
    positions = {tp: await consumer.position(tp) for tp in ends}
    return all(positions[tp] >= end for tp, end in ends.items())


async def dump_schema(conn: Any, schema: str) -> str:
    """Every row of every table of `schema` as text, with bytea columns also decoded as text.

    What a search for a leaked value must cover: `row::text` shows bytea as hex, so the bytes
    are added decoded too.
    """
    tables = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
    )
    parts: list[str] = []
    for table in tables:
        name = f'"{schema}"."{table["table_name"]}"'
        parts.extend(row[0] for row in await conn.fetch(f"SELECT t::text FROM {name} t"))
        columns = await conn.fetch(
            """
            SELECT column_name FROM information_schema.columns
            WHERE table_schema = $1 AND table_name = $2 AND data_type = 'bytea'
            """,
            schema,
            table["table_name"],
        )
        for column in columns:
            values = await conn.fetch(f'SELECT "{column["column_name"]}" FROM {name}')
            parts.extend(bytes(v[0]).decode("utf-8", "replace") for v in values if v[0] is not None)
    return "\n".join(parts)
