"""notice-intake as a real process, killed with SIGKILL mid-stream (twice) and restarted.

The invariant, as sets: the notice ids sent = the notice ids with a stored receipt, one stored
receipt each, and on `intake.receipts` exactly one receipt id per notice id, never a
`duplicate` (a redelivered message must not look like a second notice). The process's own log
output never holds the individual numbers some of the notices carried.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from mynaflow.domain.personal_number import personal_number_check_digit
from mynaflow.settings import MynaflowSettings
from mynaflow.storage.pool import open_connection
from mynaflow_testing.harness.notice_intake import (
    IntakeProcess,
    intake_process,
    produce_raw,
    read_until,
)
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.e2e


NOTICES = 4000
WITH_INDIVIDUAL_NUMBER = 5
SCHEMA = "notice_intake"


def individual_number(rng: random.Random) -> str:
    """Computed here (check digit included), so no valid number is ever committed."""
    first11 = "".join(rng.choice("0123456789") for _ in range(11))
    return first11 + str(personal_number_check_digit(first11))


def notices(run: str, numbers: list[str]) -> list[tuple[bytes, bytes]]:
    items = []
    for n in range(NOTICES):
        value: dict[str, Any] = {
            "notice_id": f"{run}-{n:05d}",
            "kind": "record_update_required",
            "municipality_code": "141046",
            "issued_at": "2025-12-26T10:00:00+09:00",
            "sequence": n,
            "details": {"氏名": "髙橋"},
        }
        if n < len(numbers):
            value["details"]["memo"] = f"個人番号 {numbers[n]}"
        items.append((value["notice_id"].encode(), json.dumps(value, ensure_ascii=False).encode()))
    return items


async def stored_notice_ids(database_url: str, raw_topic: str) -> list[str]:
    conn = await open_connection(database_url, schema=SCHEMA)
    try:
        rows = await conn.fetch("SELECT notice_id FROM receipts WHERE source_topic = $1", raw_topic)
    finally:
        await conn.close()
    return [row["notice_id"] for row in rows]


async def kill_after_progress(
    process: IntakeProcess, database_url: str, raw_topic: str, at_least: int
) -> int:
    await wait_for(
        lambda: stored_notice_ids(database_url, raw_topic),
        until=lambda ids: len(ids) >= at_least,
        timeout=120,
        what=f"{at_least} stored receipts",
    )
    process.kill()
    return len(await stored_notice_ids(database_url, raw_topic))


async def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing(
    kafka_settings: MynaflowSettings, database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = kafka_settings.topic_prefix
    raw_topic, receipts_topic = f"{prefix}jlis.notices.raw", f"{prefix}intake.receipts"
    rng = random.Random()
    numbers = [individual_number(rng) for _ in range(WITH_INDIVIDUAL_NUMBER)]
    run = uuid.uuid4().hex[:8]
    items = notices(run, numbers)
    process = intake_process(
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=prefix,
        log_path=tmp_path / "notice-intake.log",
        # Small batches, so that a kill lands between batches as well as inside one.
        extra_env={"INTAKE_BATCH_MAX_RECORDS": "40"},
    )
    process.start()
    await process.wait_ready()
    await produce_raw(kafka_settings, raw_topic, items)

    stored_at_kills = []
    for fraction in (0.2, 0.5):
        stored_at_kills.append(
            await kill_after_progress(process, database_url, raw_topic, int(NOTICES * fraction))
        )
        process.start()
        await process.wait_ready()
    assert all(count < NOTICES for count in stored_at_kills), stored_at_kills  # mid-stream

    stored = await wait_for(
        lambda: stored_notice_ids(database_url, raw_topic),
        until=lambda ids: len(ids) >= NOTICES,
        timeout=180,
        what="every notice stored",
    )
    sent = {key.decode() for key, _ in items}
    assert set(stored) == sent
    assert len(stored) == len(sent)  # one stored receipt each

    events = await read_until(
        kafka_settings,
        receipts_topic,
        lambda evs: len({e["data"]["notice_id"] for e in acks(evs)}) >= NOTICES,
        timeout_s=120,
    )
    receipt_ids: dict[str, set[str]] = defaultdict(set)
    statuses: dict[str, set[str]] = defaultdict(set)
    for event in acks(events):
        receipt_ids[event["data"]["notice_id"]].add(event["data"]["receipt_id"])
        statuses[event["data"]["notice_id"]].add(event["data"]["status"])
    assert set(receipt_ids) == sent
    assert {nid for nid, ids in receipt_ids.items() if len(ids) != 1} == set()
    assert {s for found in statuses.values() for s in found} == {"accepted", "quarantined"}
    quarantined = {nid for nid, found in statuses.items() if found == {"quarantined"}}
    assert quarantined == {f"{run}-{n:05d}" for n in range(WITH_INDIVIDUAL_NUMBER)}

    assert process.terminate() == 0
    log = process.log_text()
    assert '"notices acknowledged"' in log  # the log does hold the service's output
    assert [n for n in numbers if n in log] == []


def acks(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "jp.mynaflow.intake.notice-acknowledged.v1"]
