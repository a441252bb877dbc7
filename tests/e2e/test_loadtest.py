"""`mynaflow loadtest` against notice-intake running for real (a process on the real servers).

The report is asserted, never the speed: every notice published is receipted, nothing is
missing or stored twice (with duplicates and malformed notices in the mix), and the ratios to
the raw Kafka and PostgreSQL baselines are there and positive. The full flow waits for the
watcher's deadline and card-registry's work item of every notice. A run whose receipts do not
come back fails (exit 1); one without the flow's topics, or on a ward's live (empty) prefix,
cannot start (exit 2).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mynaflow.messaging.topics_admin import admin_client
from mynaflow_testing.harness.notice_intake import intake_process
from mynaflow_testing.processes import service_process
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.e2e

MYNAFLOW = str(Path(sys.executable).parent / "mynaflow")


async def loadtest(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any], str]:
    """The operator's command as a real process; its JSON report and its stderr."""
    process = await asyncio.create_subprocess_exec(
        MYNAFLOW,
        "loadtest",
        "--json",
        *args,
        env=os.environ | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=240)
    return process.returncode or 0, json.loads(out), err.decode()


def client_env(kafka_bootstrap: str, topic_prefix: str, database_url: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TOPIC_PREFIX": topic_prefix,
        "DATABASE_URL": database_url,
    }


async def topics_under(kafka_bootstrap: str, prefix: str) -> list[str]:
    async with admin_client(kafka_bootstrap) as admin:
        return sorted(t for t in await admin.list_topics() if t.startswith(prefix))


async def test_every_notice_is_receipted_and_ratios_are_reported(
    database_url: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    intake = intake_process(
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        log_path=tmp_path / "notice-intake.log",
    )
    intake.start()
    try:
        await intake.wait_ready()
        env = client_env(kafka_bootstrap, topic_prefix, database_url)
        code, report, err = await loadtest(
            env, "--notices", "300", "--timeout-s", "120", "--rate", "max",
            "--duplicates", "0.05", "--malformed", "0.01",
        )  # fmt: skip
        intake_pid = str(intake.process.pid) if intake.process else None
    finally:
        assert intake.terminate() == 0, intake.log_tail()

    assert code == 0, (err, report)
    assert (report["published"], report["receipted"], report["missing"]) == (300, 300, 0)
    # Three malformed (quarantined, receipted under their own ids); 15 sent twice, each
    # answered with a `duplicate` receipt and stored once.
    assert report["statuses"] == {"accepted": 297, "quarantined": 3}
    assert report["checks"]["duplicates_sent"] == 15
    assert report["mynaflow"]["repeated_arrivals"] == 15
    assert (report["lost"], report["duplicated_effects"]) == (0, 0)
    assert report["duplicate_events"] >= 0
    assert report["throughput"] == report["mynaflow"]["end_to_end_per_s"] > 0
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p99"] <= report["latency_ms"]["max"]
    assert report["ratio_kafka"] > 0
    assert report["ratio_copy"] > 0
    assert report["postgres_copy"]["rows"] == 300
    assert report["postgres_copy"]["error"] is None
    assert report["rss_mb"]["notice-intake"][intake_pid] > 0
    # Where the CPU went, per notice: notice-intake worked during the flow phase, not during
    # the raw baseline's; the machine spent at least what intake did.
    spent = report["cpu_us_per_notice"]
    assert spent == report["mynaflow"]["cpu"]["us_per_message"]
    assert {"notice-intake", "kafka", "postgres", "loadtest", "machine", "other"} <= set(spent)
    assert spent["machine"] >= spent["notice-intake"] > 0
    assert report["raw_kafka"]["cpu"]["us_per_message"]["notice-intake"] < spent["notice-intake"]
    assert report["mynaflow"]["topic_out"] == f"{topic_prefix}jlis.notices.raw"
    assert report["mynaflow"]["topic_in"] == f"{topic_prefix}intake.receipts"
    assert report["raw_kafka"]["received"] == 300
    assert report["mynaflow"]["latency"]["count"] == 300
    vs_raw = report["ratios"]["vs_raw_kafka"]
    assert set(vs_raw) == {
        "publish_throughput",
        "end_to_end_throughput",
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "latency_max",
    }
    assert all(value is not None and value > 0 for value in vs_raw.values()), vs_raw
    assert report["ratios"]["vs_postgres_insert"]["end_to_end_throughput"] > 0
    assert report["warnings"] == []
    # The scratch topic of the raw baseline is gone (deletion completes asynchronously).
    await wait_for(
        lambda: topics_under(kafka_bootstrap, f"{topic_prefix}loadtest."),
        until=lambda topics: topics == [],
        timeout=30,
        what="the scratch topic to be deleted",
    )


@pytest.mark.usefixtures("kafka_topics")
async def test_receipts_that_never_come_fail_the_run(
    database_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    # The topics exist (as a deployment's would), but no notice-intake reads them.
    env = client_env(kafka_bootstrap, topic_prefix, database_url)
    code, report, _ = await loadtest(
        env, "--notices", "20", "--timeout-s", "3", "--no-raw-baseline", "--no-pg-baseline"
    )
    assert code == 1
    assert (report["published"], report["receipted"], report["missing"]) == (20, 0, 20)
    assert report["mynaflow"]["timed_out"] is True
    assert len(report["mynaflow"]["missing_sample"]) == 10
    assert report["ratios"] == {"vs_raw_kafka": None, "vs_postgres_insert": None}


async def test_without_the_flows_topics_it_cannot_start(
    database_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    env = client_env(kafka_bootstrap, topic_prefix, database_url)
    code, report, err = await loadtest(env, "--notices", "5")
    assert code == 2
    assert report["mynaflow"] is None
    assert "TOPIC_PREFIX" in report["error"]
    assert "could not start" in err
    assert await topics_under(kafka_bootstrap, topic_prefix) == []  # it created nothing


async def test_the_full_flow_waits_for_every_deadline_and_work_item(
    database_url: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    services = [
        service_process(
            script,
            database_url=database_url,
            kafka_bootstrap=kafka_bootstrap,
            topic_prefix=topic_prefix,
            log_path=tmp_path / f"{script}.log",
        )
        for script in ("notice-intake", "deadline-watcher", "card-registry")
    ]
    try:
        for service in services:
            service.start()
        for service in services:
            await service.wait_ready()
        env = client_env(kafka_bootstrap, topic_prefix, database_url)
        code, report, err = await loadtest(
            env, "--flow", "full", "--notices", "200", "--timeout-s", "120",
            "--duplicates", "0.05", "--malformed", "0.01", "--no-raw-baseline",
        )  # fmt: skip
    finally:
        for service in services:
            service.ensure_stopped()

    assert code == 0, (err, report, [s.log_tail() for s in services])
    assert report["flow"] == "full"
    assert (report["published"], report["receipted"], report["lost"]) == (200, 200, 0)
    assert report["duplicated_effects"] == 0
    assert report["statuses"] == {"accepted": 198, "quarantined": 2}
    assert report["mynaflow"]["topic_in"] == ",".join(
        f"{topic_prefix}{name}"
        for name in ("intake.receipts", "deadlines.events", "registry.events")
    )
    assert {"notice-intake", "deadline-watcher", "card-registry"} <= set(report["rss_mb"])


async def test_an_empty_prefix_is_refused(database_url: str, kafka_bootstrap: str) -> None:
    env = client_env(kafka_bootstrap, "", database_url)
    code, report, err = await loadtest(env, "--notices", "5")
    assert code == 2
    assert report["ok"] is False
    assert "--allow-live-prefix" in report["error"]
    assert "refused" in err
