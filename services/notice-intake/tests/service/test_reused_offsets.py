"""Offsets going backwards against the real Kafka: the raw topic is deleted and re-created while
notice-intake's marks stay in PostgreSQL, so new notices arrive at offsets already applied.
Every new notice id must still be receipted (docs/notice-intake.md, "Offsets going backwards")."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from aiokafka.errors import KafkaError
from mynaflow.contracts.topics import JLIS_NOTICES_RAW
from mynaflow.messaging.topics_admin import admin_client, ensure_topics
from mynaflow_testing.harness.notice_intake import (
    acknowledgements,
    produce_raw,
    start_in_process,
)
from mynaflow_testing.kafka_helpers import consume_until
from mynaflow_testing.waiting import wait_for
from notice_intake.settings import NoticeIntakeSettings
from prometheus_client import REGISTRY

pytestmark = pytest.mark.service

KEY = b"one-partition"  # one key: every notice on one partition, so the offsets surely repeat


def notice(notice_id: str) -> bytes:
    value = {
        "notice_id": notice_id,
        "kind": "card_delivered",
        "municipality_code": "141046",
        "issued_at": "2026-12-01T10:00:00+09:00",
    }
    return json.dumps(value).encode()


async def receipted_ids(intake: Any) -> set[str]:
    rows = await intake.context.pool.fetch("SELECT notice_id FROM receipts")
    return {row["notice_id"] for row in rows}


async def recreate_topic(settings: NoticeIntakeSettings, name: str) -> None:
    async with admin_client(settings) as admin:
        await admin.delete_topics([name])

        async def gone() -> bool:
            return name not in await admin.list_topics()

        await wait_for(gone, timeout=30, what=f"{name} deleted")
    await wait_for(lambda: _created(settings), timeout=30, interval=0.5, what=f"{name} re-created")


async def _created(settings: NoticeIntakeSettings) -> bool:
    """ensure_topics, then one record accepted: the broker may still be finishing the deletion
    (a create then answers "already exists" for a topic about to vanish)."""
    try:
        await ensure_topics(settings)
        return True
    except KafkaError:
        return False


async def produce_when_ready(
    settings: NoticeIntakeSettings, topic: str, items: list[tuple[bytes, bytes]]
) -> list[tuple[int, int]]:
    async def attempt() -> list[tuple[int, int]] | None:
        try:
            return await produce_raw(settings, topic, items)
        except KafkaError:  # metadata of the new topic not everywhere yet
            await ensure_topics(settings)
            return None

    positions = await wait_for(attempt, until=lambda p: p is not None, timeout=60, interval=0.5)
    assert positions is not None
    return positions


def rewound_total(topic: str) -> float:
    samples = [
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "mynaflow_intake_rewound_notices"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels.get("topic") == topic
    ]
    return sum(samples)


async def test_new_notices_at_offsets_reused_by_a_recreated_topic_are_all_receipted(
    intake_settings: NoticeIntakeSettings, fresh_schema: str
) -> None:
    raw = f"{intake_settings.topic_prefix}{JLIS_NOTICES_RAW.name}"
    run = uuid.uuid4().hex[:8]
    old = [f"{run}-old-{n}" for n in range(6)]
    new = [f"{run}-new-{n}" for n in range(4)]

    intake = await start_in_process(intake_settings, schema=fresh_schema)
    old_positions = await produce_raw(intake_settings, raw, [(KEY, notice(n)) for n in old])
    await wait_for(lambda: receipted_ids(intake), until=lambda ids: set(old) <= ids, timeout=60)
    assert await intake.stop() == 0

    await recreate_topic(intake_settings, raw)
    new_positions = await produce_when_ready(intake_settings, raw, [(KEY, notice(n)) for n in new])
    assert set(new_positions) <= set(old_positions)  # the same partition, offsets used before
    before = rewound_total(raw)

    intake = await start_in_process(intake_settings, schema=fresh_schema)
    try:
        ids = await wait_for(
            lambda: receipted_ids(intake), until=lambda ids: set(new) <= ids, timeout=60
        )
        assert ids == set(old) | set(new)
        receipts = f"{intake_settings.topic_prefix}intake.receipts"
        records = await consume_until(
            intake_settings,
            receipts,
            lambda recs: set(new) <= {e["data"]["notice_id"] for e in acknowledgements(recs)},
        )
        statuses = {
            e["data"]["notice_id"]: e["data"]["status"]
            for e in acknowledgements(records)
            if e["data"]["notice_id"] in new
        }
        assert statuses == dict.fromkeys(new, "accepted")
        assert rewound_total(raw) - before == len(new)
    finally:
        assert await intake.stop() == 0
