"""Helpers for tests against the real Kafka: produce records, consume until a condition holds.

Both read from the beginning of the log (no consumer group), so they see everything a test's
topics hold, whoever wrote it. `consume_until` waits on a condition with a timeout, never a sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from mynaflow.messaging.topics_admin import committed_offsets, kafka_client_options
from mynaflow.settings import MynaflowSettings

from mynaflow_testing.waiting import ConditionTimeout, wait_for

Records = list["ConsumerRecord[bytes, bytes]"]


def _options(bootstrap_or_settings: str | MynaflowSettings) -> dict[str, Any]:
    if isinstance(bootstrap_or_settings, str):
        return {"bootstrap_servers": bootstrap_or_settings}
    return kafka_client_options(bootstrap_or_settings)


def _as_bytes(value: bytes | str | None) -> bytes | None:
    return value.encode("utf-8") if isinstance(value, str) else value


async def produce(
    bootstrap_or_settings: str | MynaflowSettings,
    topic: str,
    values: Iterable[bytes | str],
    *,
    key: bytes | str | None = None,
    headers: Sequence[tuple[str, bytes]] | None = None,
) -> list[tuple[int, int]]:
    """Publish `values` in order (acks=all); returns each record's (partition, offset)."""
    producer = AIOKafkaProducer(acks="all", **_options(bootstrap_or_settings))
    await producer.start()
    try:
        coordinates = []
        for value in values:
            metadata = await producer.send_and_wait(
                topic,
                _as_bytes(value),
                key=_as_bytes(key),
                headers=list(headers) if headers else None,
            )
            coordinates.append((metadata.partition, metadata.offset))
        return coordinates
    finally:
        await producer.stop()


async def consume_until(
    bootstrap_or_settings: str | MynaflowSettings,
    topic: str,
    until: Callable[[Records], bool],
    *,
    timeout_s: float = 30.0,
) -> Records:
    """Read `topic` from the beginning until `until(records so far)` holds; fail on timeout."""
    consumer = AIOKafkaConsumer(
        topic,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **_options(bootstrap_or_settings),
    )
    await consumer.start()
    records: Records = []
    deadline = time.monotonic() + timeout_s
    try:
        while not until(records):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConditionTimeout(
                    f"timed out after {timeout_s}s reading {topic}; {len(records)} records seen"
                )
            batches = await consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for partition_records in batches.values():
                records.extend(partition_records)
        return records
    finally:
        await consumer.stop()


async def wait_for_committed(
    bootstrap_or_settings: str | MynaflowSettings,
    group_id: str,
    topic: str,
    expected: dict[int, int],
    *,
    timeout_s: float = 30.0,
) -> dict[int, int]:
    """Wait until `group_id` has committed exactly `expected` (partition → next offset).

    Partitions not in `expected` must be uncommitted or at 0.
    """

    async def probe() -> dict[int, int]:
        committed = (await committed_offsets(bootstrap_or_settings, group_id)).get(topic, {})
        return {partition: offset for partition, offset in committed.items() if offset}

    return await wait_for(
        probe,
        until=lambda committed: committed == {p: o for p, o in expected.items() if o},
        timeout=timeout_s,
        what=f"{group_id} to commit {expected} on {topic}",
    )
