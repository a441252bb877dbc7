"""Unit tests of the load test's report: figures, ratios, exit codes, the table for people."""

from __future__ import annotations

import io
from typing import Any

import pytest
from mynaflow_tools.cli.loadtest import _render
from mynaflow_tools.loadtest.measure import RoundTrip
from mynaflow_tools.loadtest.report import (
    EXIT_CANNOT_RUN,
    EXIT_INCOMPLETE,
    EXIT_OK,
    LoadtestReport,
    PhaseFigures,
    PostgresFigures,
)
from rich.console import Console

pytestmark = pytest.mark.unit


def phase(latency_s: float, count: int = 4, *, lose: int = 0, error: str | None = None) -> Any:
    trip = RoundTrip()
    for n in range(count):
        trip.record_send(f"id-{n}", 0.0)
        trip.record_ack(f"id-{n}", 0.1)
        if n >= lose:
            trip.record_arrival(f"id-{n}", "accepted", latency_s)
    trip.publishing_done = True
    return PhaseFigures.of(
        trip, topic_out="out", topic_in="in", timed_out=not trip.complete(), error=error
    )


def report(flow: Any, raw: Any = None, postgres: Any = None, **kw: Any) -> LoadtestReport:
    return LoadtestReport(
        run_id="abcdefgh",
        notices=4,
        batch_size=2,
        timeout_s=30.0,
        rate_per_s=None,
        topic_prefix="t.",
        environment={"cpus": 2},
        mynaflow=flow,
        raw_kafka=raw,
        postgres=postgres,
        **kw,
    )


def test_ratios_compare_the_flow_with_raw_kafka_and_postgres() -> None:
    result = report(phase(0.4), phase(0.1), PostgresFigures(4, 2, 0.01, 400.0))
    vs_raw = result.ratios["vs_raw_kafka"]
    assert vs_raw["latency_p50"] == 4.0
    assert vs_raw["end_to_end_throughput"] == 0.25
    assert vs_raw["publish_throughput"] == 1.0
    assert result.ratios["vs_postgres_insert"] == {"end_to_end_throughput": 0.025}
    assert result.exit_code() == EXIT_OK


def test_headline_figures_come_first_in_the_json() -> None:
    data = report(phase(0.2)).to_data()
    assert list(data)[:5] == ["ok", "published", "receipted", "missing", "statuses"]
    assert (data["published"], data["receipted"], data["missing"]) == (4, 4, 0)
    assert data["statuses"] == {"accepted": 4}
    assert data["ratios"] == {"vs_raw_kafka": None, "vs_postgres_insert": None}
    assert data["mynaflow"]["latency"]["p50_ms"] == 200.0


def test_a_missing_receipt_or_a_failed_baseline_fails_the_run() -> None:
    missing = report(phase(0.2, lose=1))
    assert missing.exit_code() == EXIT_INCOMPLETE
    assert missing.to_data()["missing"] == 1
    assert missing.mynaflow is not None
    assert missing.mynaflow.missing_sample == ["id-0"]
    assert report(phase(0.2), phase(0.1, error="boom")).exit_code() == EXIT_INCOMPLETE
    # The optional PostgreSQL baseline may be unreachable from an operator's host.
    unreachable = PostgresFigures(4, 2, None, None, error="no database")
    assert report(phase(0.2), postgres=unreachable).exit_code() == EXIT_OK
    assert report(None, error="Kafka did not answer").exit_code() == EXIT_CANNOT_RUN


def test_the_table_shows_both_phases_and_the_ratios() -> None:
    buffer = io.StringIO()
    data = report(
        phase(0.4, lose=1), phase(0.1), PostgresFigures(4, 2, 0.01, 400.0), warnings=["left: x"]
    ).to_data()
    _render(data, Console(file=buffer, width=200))
    text = buffer.getvalue()
    assert "raw Kafka" in text
    assert "mynaflow ÷ raw" in text
    assert "latency p99 ms" in text
    assert "1 missing" in text
    assert "id-0" in text
    assert "INSERTs into a TEMP table" in text
    assert "left: x" in text
