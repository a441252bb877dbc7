"""Bulk apology letters: 48 cases give one letter per household plus a manifest, after a second
staff member releases the batch (the requester cannot release their own)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mynaflow.contracts import notifier as contract
from mynaflow.contracts.envelope import encode_event
from mynaflow.contracts.registry import CaseLike
from mynaflow_testing.kafka_helpers import consume_until, produce
from pypdf import PdfReader

from .conftest import MakeSettings
from .events import encoded, moved_in

pytestmark = pytest.mark.service

BATCH = "apology-2023-10-20"
GAIJI_NAME = "\U00020bb7田 花子"  # 𠮷 is not in the letter font: flagged for manual handling


def household_of(n: int) -> str:
    # Residents 0..5 live in three households of two; the other 42 alone: 45 households.
    return f"H-{n // 2:03d}" if n < 6 else f"H-{n:03d}"


def case(n: int) -> CaseLike:
    return CaseLike(
        kind="record_update_required",
        case_id=f"notice:JLIS-2022-{n:06d}",
        resident_id=f"R-{n:03d}",
        household_id=household_of(n),
        card_id=None,
        notice_id=f"JLIS-2022-{n:06d}",
        queue="card-records",
        state="open",
        opened_at=datetime(2022, 3, 10, 1, tzinfo=UTC),
        due_at=datetime(2022, 3, 15, 14, 59, 59, tzinfo=UTC),
        closed_at=None,
        overdue=True,
    )


async def batch_events(settings: Any, topic: str, event_type: str) -> list[dict[str, Any]]:
    found = await consume_until(
        settings, topic, lambda events: any(event_type.encode() in e.value for e in events)
    )
    return [json.loads(e.value) for e in found if event_type.encode() in e.value]


async def test_48_cases_give_one_letter_per_household_after_a_second_person_releases_them(
    notifier_settings: MakeSettings,
    start_notifier: Any,
    kafka_topics: dict[str, str],
    tmp_path: Path,
) -> None:
    settings = notifier_settings()
    await start_notifier(settings)
    moves = [
        moved_in(f"R-{n:03d}", household_of(n), GAIJI_NAME if n == 47 else f"住民 {n}号")
        for n in range(48)
    ]
    await produce(settings, kafka_topics["resident.moves"], [encoded(m) for m in moves])
    command = contract.SendApology(
        batch_id=BATCH, requested_by="S-0107", cases=[case(n) for n in range(48)]
    )
    commands = kafka_topics["notifier.commands"]
    await produce(settings, commands, [encode_event(contract.command_event(command))], key=BATCH)
    deliveries_topic = kafka_topics["notifier.deliveries"]
    (drafted,) = await batch_events(settings, deliveries_topic, contract.APOLOGY_BATCH_DRAFTED_V1)
    assert (drafted["data"]["cases"], drafted["data"]["households"]) == (48, 45)
    assert not (tmp_path / "letters" / BATCH).exists(), "a draft prints nothing"

    own = contract.ApproveApology(batch_id=BATCH, staff_id="S-0107")
    await produce(settings, commands, [encode_event(contract.command_event(own))], key=BATCH)
    (refused,) = await batch_events(settings, deliveries_topic, contract.APOLOGY_BATCH_REFUSED_V1)
    assert refused["data"]["reason"] == "same_staff"

    second = contract.ApproveApology(batch_id=BATCH, staff_id="M-RECORDS")
    await produce(settings, commands, [encode_event(contract.command_event(second))], key=BATCH)
    (done,) = await batch_events(settings, deliveries_topic, contract.APOLOGY_BATCH_COMPLETED_V1)
    assert (done["data"]["letters"], done["data"]["manual"]) == (45, 1)

    folder = tmp_path / "letters" / BATCH
    assert len(list(folder.glob("*.pdf"))) == 45
    rows = list(csv.DictReader((folder / "manifest.csv").open(encoding="utf-8")))
    assert sorted(r["household_id"] for r in rows) == sorted({household_of(n) for n in range(48)})
    pair = next(r for r in rows if r["household_id"] == "H-000")
    assert pair["resident_ids"] == "R-000 R-001"
    text = PdfReader(folder / pair["file"]).pages[0].extract_text()
    assert "住民 0号" in text
    assert "住民 1号" in text
    assert "お詫び" in text
    (manual,) = [r for r in rows if r["manual"] == "yes"]
    assert (manual["resident_ids"], manual["manual_reason"]) == ("R-047", "gaiji U+20BB7")
