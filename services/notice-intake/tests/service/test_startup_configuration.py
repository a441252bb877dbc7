"""A known kind without an owner queue stops notice-intake at start-up, with a clear message;
with the documented defaults it starts and serves its metrics and `/stats`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from mynaflow_testing.harness.notice_intake import intake_process

pytestmark = pytest.mark.service


@pytest.mark.usefixtures("kafka_topics")
async def test_a_known_kind_without_a_queue_refuses_to_start(
    database_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    queues = {"record_update_required": "card-records", "application_defect": "card-applications"}
    process = intake_process(
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        log_path=tmp_path / "intake.log",
        extra_env={"NOTICE_KIND_QUEUES": json.dumps(queues)},
    )
    process.start()
    assert process.process is not None
    assert process.process.wait(timeout=60) == 1
    log = process.log_text()
    assert "card_delivered, expiry_notice_sent have no owner queue" in log
    assert "NOTICE_KIND_QUEUES" in log


@pytest.mark.usefixtures("kafka_topics")
async def test_with_the_defaults_it_starts_and_reports(
    database_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    process = intake_process(
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        log_path=tmp_path / "intake.log",
    )
    process.start()
    try:
        await process.wait_ready()
        async with httpx.AsyncClient(timeout=5) as client:
            stats = (await client.get(f"{process.url}/stats")).json()
            metrics = (await client.get(f"{process.url}/metrics")).text
        assert set(stats) >= {"by_status", "by_kind", "open_gaps", "oldest_receipt"}
        assert "mynaflow_intake_receipts_total" in metrics
    finally:
        assert process.terminate() == 0
