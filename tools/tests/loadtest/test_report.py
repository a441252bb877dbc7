"""Unit tests of the load test's report: figures, ratios, exit codes, the table for people."""

from __future__ import annotations

import io
from typing import Any

import pytest
import typer
from mynaflow_tools.cli.loadtest import _render, parse_rate
from mynaflow_tools.loadtest.cpu import PhaseCpu
from mynaflow_tools.loadtest.measure import RoundTrip
from mynaflow_tools.loadtest.report import (
    EXIT_CANNOT_RUN,
    EXIT_INCOMPLETE,
    EXIT_OK,
    FlowChecks,
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


def report(phase_: Any, raw: Any = None, postgres: Any = None, **kw: Any) -> LoadtestReport:
    return LoadtestReport(
        run_id="abcdefgh",
        notices=4,
        batch_size=2,
        timeout_s=30.0,
        rate_per_s=None,
        topic_prefix="t.",
        environment={"cpus": 2},
        mynaflow=phase_,
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


def test_the_flat_figures_sit_beside_the_old_keys() -> None:
    checks = FlowChecks(5, 1, 0, 2, {"notice-intake": {"42": 80.5}})
    copy = PostgresFigures(4, 4, 0.001, 4000.0)
    data = report(
        phase(0.4),
        phase(0.1),
        PostgresFigures(4, 2, 0.01, 400.0),
        checks=checks,
        postgres_copy=copy,
        flow="full",
    ).to_data()
    assert (data["lost"], data["duplicated_effects"], data["duplicate_events"]) == (0, 0, 2)
    assert data["throughput"] == data["mynaflow"]["end_to_end_per_s"]
    assert data["latency_ms"] == {"p50": 400.0, "p95": 400.0, "p99": 400.0, "max": 400.0}
    assert data["ratio_kafka"] == 0.25
    assert data["ratio_copy"] == 0.0025
    assert data["rss_mb"] == {"notice-intake": {"42": 80.5}}
    assert data["flow"] == "full"
    assert {"ok", "published", "receipted", "missing", "statuses", "ratios", "postgres"} <= set(
        data
    )


def test_the_flow_phases_cpu_per_notice_is_a_flat_figure_and_in_the_table() -> None:
    spent = PhaseCpu(2.0, 4, {"notice-intake": 250.0, "kafka": 40.5}, {"notice-intake": 0.8})
    flow = phase(0.4)
    flow_with_cpu = PhaseFigures(**{**flow.__dict__, "cpu": spent})
    data = report(flow_with_cpu, phase(0.1)).to_data()
    assert data["cpu_us_per_notice"] == {"notice-intake": 250.0, "kafka": 40.5}
    assert data["mynaflow"]["cpu"]["cores"] == {"notice-intake": 0.8}
    assert data["raw_kafka"]["cpu"] is None
    buffer = io.StringIO()
    _render(data, Console(file=buffer, width=200))
    assert "CPU µs per message, notice flow: notice-intake 250, kafka 40.5" in buffer.getvalue()
    assert report(phase(0.4)).to_data()["cpu_us_per_notice"] is None


def test_lost_notices_and_an_effect_stored_twice_each_fail_the_run() -> None:
    lost = report(phase(0.4, lose=1), checks=FlowChecks(0, 0, 0, 0))
    assert (lost.to_data()["lost"], lost.exit_code()) == (1, EXIT_INCOMPLETE)
    doubled = report(phase(0.4), checks=FlowChecks(0, 0, 1, 0))
    assert doubled.exit_code() == EXIT_INCOMPLETE
    # A duplicate event is at-least-once at work: counted, not a failure.
    assert report(phase(0.4), checks=FlowChecks(0, 0, 0, 3)).exit_code() == EXIT_OK


def test_without_a_flow_phase_the_flat_figures_are_empty() -> None:
    data = report(None, error="no topics").to_data()
    assert (data["lost"], data["throughput"], data["ratio_kafka"], data["rss_mb"]) == (
        None,
        None,
        None,
        {},
    )


def test_rate_is_a_number_or_max() -> None:
    assert parse_rate(None) is None
    assert parse_rate("max") is None
    assert parse_rate("1000") == 1000.0
    for bad in ("0.5", "fast", "nan"):
        with pytest.raises(typer.BadParameter):
            parse_rate(bad)
