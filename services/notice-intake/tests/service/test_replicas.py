"""Two notice-intake replicas in one consumer group, the second joining mid-stream (a
rebalance while batches are in flight): every notice receipted once, one receipt id each, no
false duplicate, and every sequence gap that opened on the way is gone at the end."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest
from mynaflow.contracts.intake import NOTICE_ACKNOWLEDGED_V1
from mynaflow_testing.faults import stable_member_count
from mynaflow_testing.harness.notice_intake import (
    InProcessIntake,
    produce_raw,
    read_until,
    start_in_process,
)
from mynaflow_testing.waiting import wait_for
from notice_intake.entrypoints import subscribers
from notice_intake.service_layer.intake import acknowledge_batch
from notice_intake.settings import NoticeIntakeSettings

pytestmark = pytest.mark.service

NOTICES = 6000
FIRST_PART = 4000  # published before the first replica starts; the rest after the rebalance


def numbered_notices(run: str) -> list[tuple[bytes, bytes]]:
    items = []
    for n in range(NOTICES):
        value: dict[str, Any] = {
            "notice_id": f"{run}-{n:05d}",
            "kind": "application_defect",
            "municipality_code": "141046",
            "issued_at": "2025-05-01T10:00:00+09:00",
            "sequence": n,
        }
        items.append((value["notice_id"].encode(), json.dumps(value).encode()))
    return items


async def stored(intake: InProcessIntake) -> int:
    return int(await intake.context.pool.fetchval("SELECT count(*) FROM receipts"))


async def test_two_replicas_receipt_each_notice_once(
    intake_settings: NoticeIntakeSettings, fresh_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    handled: Counter[int] = Counter()  # messages per replica (by its deps object)

    async def counting(messages: Any, deps: Any) -> Any:
        handled[id(deps)] += len(messages)
        return await acknowledge_batch(messages, deps)

    monkeypatch.setattr(subscribers, "acknowledge_batch", counting)
    # Small batches, so that the first replica is still busy when the second one joins.
    settings = intake_settings.model_copy(update={"intake_batch_max_records": 25})
    run = uuid.uuid4().hex[:8]
    raw_topic = f"{settings.topic_prefix}jlis.notices.raw"
    notices = numbered_notices(run)
    await produce_raw(settings, raw_topic, notices[:FIRST_PART])
    first = await start_in_process(settings, schema=fresh_schema)
    second: InProcessIntake | None = None
    try:
        await wait_for(lambda: stored(first), until=lambda n: n >= 200, timeout=60)
        second = await start_in_process(settings, schema=fresh_schema)
        # The rest only once both replicas hold partitions: however fast the first one is,
        # the second then has notices of its own to receipt.
        await wait_for(
            lambda: stable_member_count(settings, f"{settings.topic_prefix}notice-intake"),
            until=lambda members: members == 2,
            timeout=60,
        )
        await produce_raw(settings, raw_topic, notices[FIRST_PART:])
        await wait_for(lambda: stored(first), until=lambda n: n >= NOTICES, timeout=180)
        events = await read_until(
            settings,
            f"{settings.topic_prefix}intake.receipts",
            lambda evs: len({e["data"].get("notice_id") for e in acks(evs)}) >= NOTICES,
            timeout_s=120,
        )
        receipt_ids: dict[str, set[str]] = defaultdict(set)
        for event in acks(events):
            receipt_ids[event["data"]["notice_id"]].add(event["data"]["receipt_id"])
        assert len(receipt_ids) == NOTICES
        assert [nid for nid, ids in receipt_ids.items() if len(ids) != 1] == []
        assert {e["data"]["status"] for e in acks(events)} == {"accepted"}
        assert len(handled) == 2, handled  # both replicas really took part
        async with httpx.AsyncClient(timeout=5) as client:
            stats = (await client.get(f"{second.url}/stats")).json()
        assert stats["by_status"] == {"accepted": NOTICES, "duplicate": 0, "quarantined": 0}
        assert stats["open_gaps"] == []  # every number arrived
    finally:
        if second is not None:
            assert await second.stop() == 0
        assert await first.stop() == 0


def acks(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == NOTICE_ACKNOWLEDGED_V1]
