"""The load test's report: figures per phase, ratios to the baselines, exit code (pure).

Absolute speeds on a shared, noisy machine say little on their own; the ratios compare the
notice flow with raw Kafka (the same payloads, produced and consumed back the same way, in the
same run) and with a plain PostgreSQL INSERT, which is what the flow is built from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mynaflow_tools.loadtest.cpu import PhaseCpu
from mynaflow_tools.loadtest.measure import LatencySummary, RoundTrip, per_second, ratio

EXIT_OK = 0
EXIT_INCOMPLETE = 1  # receipts missing, or a phase failed
EXIT_CANNOT_RUN = 2  # Kafka unreachable, topics missing, bad options
MISSING_SAMPLE_SIZE = 10


@dataclass(frozen=True)
class PhaseFigures:
    """One phase: messages out to `topic_out`, their answers read back from `topic_in`."""

    topic_out: str
    topic_in: str
    sent: int
    published: int  # acknowledged by Kafka (acks=all)
    received: int  # ids that came back (first arrival each)
    missing: int  # published, never came back
    missing_sample: list[str]
    statuses: dict[str, int]
    repeated_arrivals: int
    publish_seconds: float | None
    publish_per_s: float | None
    end_to_end_seconds: float | None
    end_to_end_per_s: float | None
    latency: LatencySummary
    timed_out: bool
    error: str | None = None
    # CPU per message of each group of processes on this machine (`cpu.PhaseCpu`), from the
    # phase's first send to its last arrival; None without /proc.
    cpu: PhaseCpu | None = None

    @classmethod
    def of(
        cls,
        trip: RoundTrip,
        *,
        topic_out: str,
        topic_in: str,
        timed_out: bool,
        error: str | None = None,
        cpu: PhaseCpu | None = None,
    ) -> PhaseFigures:
        missing = trip.missing()
        publish_s = trip.publish_seconds()
        end_to_end_s = trip.end_to_end_seconds()
        return cls(
            topic_out=topic_out,
            topic_in=topic_in,
            sent=len(trip.sent_at),
            published=len(trip.acked_at),
            received=len(trip.arrived_at),
            missing=len(missing),
            missing_sample=missing[:MISSING_SAMPLE_SIZE],
            statuses=dict(sorted(trip.statuses.items())),
            repeated_arrivals=trip.repeated_arrivals,
            publish_seconds=_rounded(publish_s),
            publish_per_s=per_second(len(trip.acked_at), publish_s),
            end_to_end_seconds=_rounded(end_to_end_s),
            end_to_end_per_s=per_second(len(trip.arrived_at), end_to_end_s),
            latency=LatencySummary.of_seconds(trip.latencies_s()),
            timed_out=timed_out,
            error=error,
            cpu=cpu,
        )

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.missing == 0 and self.published == self.sent


@dataclass(frozen=True)
class PostgresFigures:
    """N rows INSERTed (executemany, one transaction per batch) into a TEMP table, or COPied
    into one (one `COPY`, `batch_size` = N)."""

    rows: int
    batch_size: int
    seconds: float | None
    rows_per_s: float | None
    error: str | None = None


@dataclass(frozen=True)
class FlowChecks:
    """What the flow phase saw beyond arrivals (see `flow.FlowLedger`), and the services' memory."""

    duplicates_sent: int
    malformed_sent: int
    duplicated_effects: int  # must be 0
    duplicate_events: int  # allowed (at-least-once), counted
    # service → {pid: MiB}, read from /proc after the flow phase.
    rss_mb: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadtestReport:
    run_id: str
    notices: int
    batch_size: int
    timeout_s: float
    rate_per_s: float | None
    topic_prefix: str
    environment: dict[str, Any]
    mynaflow: PhaseFigures | None
    raw_kafka: PhaseFigures | None
    postgres: PostgresFigures | None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    flow: str = "intake"
    duplicates: float = 0.0
    malformed: float = 0.0
    checks: FlowChecks | None = None
    postgres_copy: PostgresFigures | None = None
    ratios: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ratios", ratios(self.mynaflow, self.raw_kafka, self.postgres))

    def exit_code(self) -> int:
        if self.mynaflow is None:
            return EXIT_CANNOT_RUN
        baseline_failed = self.raw_kafka is not None and not self.raw_kafka.succeeded
        effects_doubled = self.checks is not None and self.checks.duplicated_effects > 0
        if self.error or not self.mynaflow.succeeded or baseline_failed or effects_doubled:
            return EXIT_INCOMPLETE
        return EXIT_OK

    def to_data(self) -> dict[str, Any]:
        """JSON-ready: the headline figures first, then every phase in full."""
        flow = self.mynaflow
        headline = {
            "ok": self.exit_code() == EXIT_OK,
            "published": flow.published if flow else 0,
            "receipted": flow.received if flow else 0,
            "missing": flow.missing if flow else None,
            "statuses": flow.statuses if flow else {},
        }
        return headline | self._checks() | asdict(self)

    def _checks(self) -> dict[str, Any]:
        """The flat figures a script compares against its targets."""
        flow, raw, checks = self.mynaflow, self.raw_kafka, self.checks
        latency = flow.latency if flow else None
        copy_rate = self.postgres_copy.rows_per_s if self.postgres_copy else None
        throughput = flow.end_to_end_per_s if flow else None
        return {
            "lost": flow.missing if flow else None,
            "duplicated_effects": checks.duplicated_effects if checks else None,
            "duplicate_events": checks.duplicate_events if checks else None,
            "throughput": throughput,
            "latency_ms": {
                "p50": latency.p50_ms if latency else None,
                "p95": latency.p95_ms if latency else None,
                "p99": latency.p99_ms if latency else None,
                "max": latency.max_ms if latency else None,
            },
            "ratio_kafka": ratio(throughput, raw.end_to_end_per_s if raw else None),
            "ratio_copy": ratio(throughput, copy_rate),
            "rss_mb": checks.rss_mb if checks else {},
            "cpu_us_per_notice": flow.cpu.us_per_message if flow and flow.cpu else None,
        }


def ratios(
    flow: PhaseFigures | None, raw: PhaseFigures | None, postgres: PostgresFigures | None
) -> dict[str, Any]:
    """mynaflow ÷ baseline. Throughput ratios are at most about 1 (the flow does more work per
    notice); latency ratios are at least about 1."""
    result: dict[str, Any] = {"vs_raw_kafka": None, "vs_postgres_insert": None}
    if flow is None:
        return result
    if raw is not None:
        result["vs_raw_kafka"] = {
            "publish_throughput": ratio(flow.publish_per_s, raw.publish_per_s),
            "end_to_end_throughput": ratio(flow.end_to_end_per_s, raw.end_to_end_per_s),
            "latency_p50": ratio(flow.latency.p50_ms, raw.latency.p50_ms),
            "latency_p95": ratio(flow.latency.p95_ms, raw.latency.p95_ms),
            "latency_p99": ratio(flow.latency.p99_ms, raw.latency.p99_ms),
            "latency_max": ratio(flow.latency.max_ms, raw.latency.max_ms),
        }
    if postgres is not None:
        result["vs_postgres_insert"] = {
            "end_to_end_throughput": ratio(flow.end_to_end_per_s, postgres.rows_per_s)
        }
    return result


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)
