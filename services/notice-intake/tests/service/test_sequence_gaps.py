"""Sequence gaps against the real Kafka and PostgreSQL: reported once after the grace period
(even with several reporters racing), and closed when the missing notices arrive."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from mynaflow.contracts.intake import SEQUENCE_GAP_CLOSED_V1, SEQUENCE_GAP_DETECTED_V1
from mynaflow_testing.harness.notice_intake import (
    InProcessIntake,
    produce_raw,
    read_until,
    read_whole_topic,
)
from mynaflow_testing.waiting import wait_for
from notice_intake.app import bootstrap
from notice_intake.service_layer.gap_watch import report_due_gaps

pytestmark = pytest.mark.service

MUNICIPALITY = "141046"


def numbered(run: str, sequence: int) -> tuple[bytes, bytes]:
    notice_id = f"{run}-{sequence}"
    value = {
        "notice_id": notice_id,
        "kind": "record_update_required",
        "municipality_code": MUNICIPALITY,
        "issued_at": "2025-05-01T10:00:00+09:00",
        "sequence": sequence,
    }
    return notice_id.encode(), json.dumps(value).encode()


def topics_of(intake: InProcessIntake) -> tuple[str, str]:
    prefix = intake.settings.topic_prefix
    return f"{prefix}jlis.notices.raw", f"{prefix}intake.receipts"


def of_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == event_type]


async def test_a_gap_is_reported_once_and_closed_when_the_numbers_arrive(
    running_intake: InProcessIntake,
) -> None:
    settings = running_intake.settings
    raw, receipts = topics_of(running_intake)
    run = uuid.uuid4().hex[:8]
    # Out of order across partitions (keys differ): 7 before 6 is a hole only for a moment.
    await produce_raw(settings, raw, [numbered(run, n) for n in (1, 2, 5, 7, 6)])

    events = await read_until(
        settings, receipts, lambda evs: len(of_type(evs, SEQUENCE_GAP_DETECTED_V1)) >= 1
    )
    (detected,) = of_type(events, SEQUENCE_GAP_DETECTED_V1)
    assert (detected["municipality_code"], detected["first_missing"], detected["last_missing"]) == (
        MUNICIPALITY,
        3,
        4,
    )
    assert detected["missing_count"] == 2

    # Two more reporters (as other replicas would be) find nothing left to report.
    replicas = [bootstrap(running_intake.context) for _ in range(2)]
    assert await asyncio.gather(*(report_due_gaps(d) for d in replicas)) == [0, 0]
    assert await _gap_events_queued(running_intake) == 1

    stats = await _stats(running_intake)
    assert [(g["first_missing"], g["last_missing"], g["reported"]) for g in stats["open_gaps"]] == [
        (3, 4, True)
    ]

    await produce_raw(settings, raw, [numbered(run, 3)])  # half of the gap: still open
    await produce_raw(settings, raw, [numbered(run, 4)])
    events = await read_until(
        settings, receipts, lambda evs: len(of_type(evs, SEQUENCE_GAP_CLOSED_V1)) >= 1
    )
    (closed,) = of_type(events, SEQUENCE_GAP_CLOSED_V1)
    assert (closed["gap_id"], closed["first_missing"], closed["last_missing"]) == (
        detected["gap_id"],
        3,
        4,
    )
    assert len(of_type(events, SEQUENCE_GAP_DETECTED_V1)) == 1
    gap_keys = {
        e["subject"] for e in events if e["type"] != "jp.mynaflow.intake.notice-acknowledged.v1"
    }
    assert gap_keys == {f"municipality:{MUNICIPALITY}"}
    assert (await _stats(running_intake))["open_gaps"] == []


async def test_racing_reporters_report_each_gap_exactly_once(
    running_intake: InProcessIntake,
) -> None:
    settings = running_intake.settings
    raw, receipts = topics_of(running_intake)
    run = uuid.uuid4().hex[:8]
    await produce_raw(settings, raw, [numbered(run, n) for n in (10, 12, 20)])
    # The service's own watcher plus four more reporters, racing round after round.
    replicas = [bootstrap(running_intake.context) for _ in range(4)]

    async def race_and_read() -> list[dict[str, Any]]:
        await asyncio.gather(*(report_due_gaps(d) for d in replicas))
        published = [json.loads(value) for _, value in await read_whole_topic(settings, receipts)]
        return of_type(published, SEQUENCE_GAP_DETECTED_V1)

    detected = await wait_for(race_and_read, until=lambda found: len(found) >= 2, timeout=60)
    await asyncio.gather(*(report_due_gaps(d) for d in replicas))
    ranges = sorted((d["first_missing"], d["last_missing"]) for d in detected)
    assert ranges == [(11, 11), (13, 19)]
    # The outbox is the whole truth (some rows may not be published yet): one row per gap.
    assert await _gap_events_queued(running_intake) == 2


async def _gap_events_queued(intake: InProcessIntake) -> int:
    count = await intake.context.pool.fetchval(
        """
        SELECT count(*) FROM outbox
        WHERE convert_from(payload, 'UTF8') LIKE '%sequence-gap-detected%'
        """
    )
    return int(count)


async def _stats(intake: InProcessIntake) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{intake.url}/stats")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result
