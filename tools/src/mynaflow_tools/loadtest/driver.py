"""The load test against a running deployment: Kafka and PostgreSQL clients only.

Phases, one after the other, each bounded by a count (the run's N notices) and a deadline
(`timeout_s` from its first send):

1. raw Kafka baseline: the N payloads produced to a scratch topic created for the run
   (`<prefix>loadtest.scratch.<run id>`, deleted at the end) and consumed back;
2. the notice flow: the same N payloads produced to `jlis.notices.raw`, receipts read from
   `intake.receipts` (and, for `--flow full`, `deadlines.events` and `registry.events`) from
   the end offsets captured before the first send (see `flow.FlowLedger`);
3. PostgreSQL baselines: N rows INSERTed into a TEMP table over one connection, then the same
   N rows by `COPY` into another.

The resident set size of every service process on this machine is read from /proc right after
the flow phase (`rss.service_rss_mb`), and the CPU each group of processes (every service,
Kafka, PostgreSQL, the load tester, the machine) spent during each Kafka phase (`cpu`).

Both Kafka phases use the same producer settings (acks=all, idempotent, key = notice id), the
same send window and the same consumer settings, so their ratio isolates what the flow adds.
The CLI never reads a service's tables: receipts are read from the topic, like any consumer.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from mynaflow.contracts.topics import (
    DEADLINES_EVENTS,
    INTAKE_RECEIPTS,
    JLIS_NOTICES_RAW,
    REGISTRY_EVENTS,
    TopicSpec,
    topic_name,
)
from mynaflow.messaging.topics_admin import admin_client, ensure_topics, kafka_client_options
from mynaflow.settings import MynaflowSettings

from mynaflow_tools.loadtest.cpu import phase_cpu, take_sample
from mynaflow_tools.loadtest.flow import FlowLedger
from mynaflow_tools.loadtest.measure import Pacer, RoundTrip
from mynaflow_tools.loadtest.notices import (
    SyntheticNotice,
    generate_notices,
    run_id_prefix,
    with_duplicates,
)
from mynaflow_tools.loadtest.report import (
    FlowChecks,
    LoadtestReport,
    PhaseFigures,
    PostgresFigures,
)
from mynaflow_tools.loadtest.rss import service_rss_mb

# A consumer's fetch waits at most this long for data: low enough that it does not dominate
# the latencies measured, the same for both phases so their ratio stays fair.
FETCH_MAX_WAIT_MS = 20
# Producer batching: a few ms of linger, as an importer would use.
PRODUCER_LINGER_MS = 5
_POLL_S = 0.1
_ADMIN_TIMEOUT_MS = 10_000
_PG_CONNECT_TIMEOUT_S = 10.0
# The scratch topic only has to outlive the run; Kafka removes it after an hour if the run's
# own delete fails (a crash, a missing ACL).
_SCRATCH_RETENTION_MS = 60 * 60 * 1000

# A record read back → (message id, status), or None when it is not one of this run's.
RecordReader = Callable[[Any], tuple[str, str] | None]


class ProgressTracker(Protocol):
    def advance(self, steps: int = 1) -> None: ...


# (description, total) → a context manager yielding a tracker (the CLI's `output.progress`).
ProgressFactory = Callable[[str, int], AbstractContextManager[ProgressTracker]]


class LoadtestSetupError(Exception):
    """The test cannot start: Kafka does not answer, or the flow's topics do not exist."""


@dataclass(frozen=True)
class LoadtestPlan:
    run_id: str
    notices: int
    batch_size: int
    timeout_s: float
    raw_baseline: bool = True
    postgres_baseline: bool = True
    # Notices per second to publish at; None = as fast as possible (a burst).
    rate_per_s: float | None = None
    # "intake": receipts; "full": receipts, scheduled deadlines and opened work items.
    flow: str = "intake"
    # Shares of the notices sent twice, and failing the contract (quarantined).
    duplicates: float = 0.0
    malformed: float = 0.0


def flow_topics(plan: LoadtestPlan, prefix: str) -> list[str]:
    """The topics the flow phase reads back."""
    specs = [INTAKE_RECEIPTS]
    if plan.flow == "full":
        specs += [DEADLINES_EVENTS, REGISTRY_EVENTS]
    return [topic_name(spec, prefix) for spec in specs]


def _nothing() -> None:
    return None


async def run_loadtest(
    settings: MynaflowSettings,
    plan: LoadtestPlan,
    progress: ProgressFactory,
    *,
    before_each_phase: Callable[[], None] = _nothing,
) -> LoadtestReport:
    """Every phase of the plan, in order; a setup failure is reported, not raised.

    `before_each_phase` runs right before each timed Kafka phase, once its notices exist: the
    CLI passes `quiet_collector` there (a process-wide step, so not for a test's process).
    """
    unique = list(generate_notices(plan.run_id, plan.notices, malformed=plan.malformed))
    notices = with_duplicates(unique, plan.duplicates)
    raw_topic = topic_name(JLIS_NOTICES_RAW, settings.topic_prefix)
    read_back = flow_topics(plan, settings.topic_prefix)
    report = _report_for(settings, plan)
    try:
        partitions = await topic_partitions(settings, [raw_topic, *read_back])
    except LoadtestSetupError as error:
        return report(None, None, None, error=str(error))
    warnings: list[str] = []
    raw = None
    if plan.raw_baseline:
        before_each_phase()
        with progress("Raw Kafka baseline", len(notices)) as bar:
            raw = await raw_kafka_baseline(
                settings, plan, notices, partitions[raw_topic], bar, warnings
            )
    ledger = FlowLedger(plan.run_id, full=plan.flow == "full")
    before_each_phase()
    with progress(f"Notice flow ({plan.flow})", len(unique)) as bar:
        flow = await measure_round_trip(
            settings,
            notices,
            topic_out=raw_topic,
            topic_in=read_back,
            read=ledger.read,
            plan=plan,
            tracker=bar,
        )
    checks = FlowChecks(
        duplicates_sent=len(notices) - len(unique),
        malformed_sent=sum(1 for n in unique if n.malformed),
        duplicated_effects=ledger.duplicated_effects,
        duplicate_events=ledger.duplicate_events,
        rss_mb=service_rss_mb(),
    )
    postgres = copy = None
    if plan.postgres_baseline:
        postgres = await postgres_insert_baseline(settings.database_url, unique, plan)
        copy = await postgres_copy_baseline(settings.database_url, unique, plan)
    return report(flow, raw, postgres, warnings=warnings, checks=checks, copy=copy)


def quiet_collector() -> None:
    """Keep the load tester's own garbage collector out of the latencies it measures.

    The notices (tens of thousands of objects, alive for the whole run) made every full
    collection of the tester walk them with its event loop stopped: 52-78 ms stalls, in the
    middle of a phase, that arrived as latency of whatever notice was in flight (most of a
    paced run's worst 1 %, docs/BENCHMARKS.md). Frozen, they are never walked again; the
    phase's own short-lived objects still are. What is alive now stays until the process ends
    (a previous phase's garbage is collected first), which a one-shot CLI can afford. (The
    services do the same at start-up, `mynaflow.runtime.runner.freeze_start_up_objects`; that
    module is not imported here, since it would bring a database driver into the CLI.)
    """
    gc.collect()
    gc.freeze()


def _report_for(settings: MynaflowSettings, plan: LoadtestPlan) -> Callable[..., LoadtestReport]:
    def report(
        flow: PhaseFigures | None,
        raw: PhaseFigures | None,
        postgres: PostgresFigures | None,
        *,
        error: str | None = None,
        warnings: list[str] | None = None,
        checks: FlowChecks | None = None,
        copy: PostgresFigures | None = None,
    ) -> LoadtestReport:
        return LoadtestReport(
            run_id=plan.run_id,
            notices=plan.notices,
            batch_size=plan.batch_size,
            timeout_s=plan.timeout_s,
            rate_per_s=plan.rate_per_s,
            topic_prefix=settings.topic_prefix,
            environment=environment(settings),
            mynaflow=flow,
            raw_kafka=raw,
            postgres=postgres,
            error=error,
            warnings=warnings or [],
            flow=plan.flow,
            duplicates=plan.duplicates,
            malformed=plan.malformed,
            checks=checks,
            postgres_copy=copy,
        )

    return report


def environment(settings: MynaflowSettings) -> dict[str, Any]:
    """Where the figures were measured (the benchmark document records the same)."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "kafka_bootstrap_servers": settings.kafka_bootstrap_servers,
    }


# --- topics ---------------------------------------------------------------------------------------
async def topic_partitions(settings: MynaflowSettings, topics: Sequence[str]) -> dict[str, int]:
    """Partition count of each topic; LoadtestSetupError when Kafka or a topic is missing."""
    try:
        async with admin_client(settings, request_timeout_ms=_ADMIN_TIMEOUT_MS) as admin:
            descriptions = await admin.describe_topics(list(topics))
    except Exception as error:
        raise LoadtestSetupError(
            f"Kafka at {settings.kafka_bootstrap_servers} did not answer "
            f"({type(error).__name__}: {error})"
        ) from error
    found = {
        d["topic"]: len(d["partitions"])
        for d in descriptions
        if d["error_code"] == 0 and d["partitions"]
    }
    absent = [topic for topic in topics if topic not in found]
    if absent:
        raise LoadtestSetupError(
            f"topic(s) {', '.join(absent)} do not exist: start notice-intake (it creates the "
            f"topics) with the same TOPIC_PREFIX ({settings.topic_prefix!r}) first"
        )
    return found


def scratch_topic_spec(run_id: str, partitions: int) -> TopicSpec:
    """A topic for this run only, shaped like `jlis.notices.raw` (same partition count)."""
    return TopicSpec(
        f"loadtest.scratch.{run_id}", partitions, _SCRATCH_RETENTION_MS, "load-test baseline"
    )


async def delete_topic(settings: MynaflowSettings, name: str, warnings: list[str]) -> None:
    try:
        async with admin_client(settings, request_timeout_ms=_ADMIN_TIMEOUT_MS) as admin:
            await admin.delete_topics([name])
    except Exception as error:  # the figures stand; the operator must know what is left over
        warnings.append(f"scratch topic {name} was not deleted: {type(error).__name__}: {error}")


# --- the Kafka phases -----------------------------------------------------------------------------
def echo_reader(run_id: str) -> RecordReader:
    """A record of this run read back from the scratch topic → (notice id, "consumed")."""
    key_prefix = run_id_prefix(run_id).encode("utf-8")

    def read(record: Any) -> tuple[str, str] | None:
        if record.key is None or not record.key.startswith(key_prefix):
            return None
        return record.key.decode(), "consumed"

    return read


async def raw_kafka_baseline(
    settings: MynaflowSettings,
    plan: LoadtestPlan,
    notices: Sequence[SyntheticNotice],
    partitions: int,
    tracker: ProgressTracker,
    warnings: list[str],
) -> PhaseFigures:
    """The same payloads through Kafka alone: produced to a scratch topic, consumed back."""
    spec = scratch_topic_spec(plan.run_id, partitions)
    name = topic_name(spec, settings.topic_prefix)
    try:
        await ensure_topics(settings, [spec])
    except Exception as error:  # e.g. no permission to create topics: say so, in the report
        failure = f"cannot create the scratch topic: {type(error).__name__}: {error}"
        return PhaseFigures.of(
            RoundTrip(), topic_out=name, topic_in=name, timed_out=False, error=failure
        )
    try:
        return await measure_round_trip(
            settings,
            notices,
            topic_out=name,
            topic_in=name,
            read=echo_reader(plan.run_id),
            plan=plan,
            tracker=tracker,
        )
    finally:
        await delete_topic(settings, name, warnings)


async def measure_round_trip(
    settings: MynaflowSettings,
    notices: Sequence[SyntheticNotice],
    *,
    topic_out: str,
    topic_in: str | Sequence[str],
    read: RecordReader,
    plan: LoadtestPlan,
    tracker: ProgressTracker,
) -> PhaseFigures:
    """Send every notice to `topic_out` while reading `topic_in` (from its end offsets taken
    before the first send) until each published notice came back or the deadline passed."""
    topics_in = [topic_in] if isinstance(topic_in, str) else list(topic_in)
    trip = RoundTrip()
    deadline = time.monotonic() + plan.timeout_s
    consumer = await consumer_at_end(settings, topics_in)
    reader = asyncio.create_task(read_arrivals(consumer, trip, read, deadline, tracker))
    cpu_before = take_sample()
    try:
        pacer = Pacer(plan.rate_per_s)
        error = await publish_all(
            settings, topic_out, notices, trip, plan.batch_size, deadline, pacer
        )
        trip.publishing_done = True
        await reader
    finally:
        reader.cancel()
        cpu_after = take_sample()
        await consumer.stop()
    return PhaseFigures.of(
        trip,
        topic_out=topic_out,
        topic_in=",".join(topics_in),
        timed_out=not trip.complete(),
        error=error,
        cpu=phase_cpu(cpu_before, cpu_after, len(trip.sent_at)),
    )


async def consumer_at_end(settings: MynaflowSettings, topics: Sequence[str]) -> Any:
    """A consumer without a group, on every partition of `topics`, positioned at their end."""
    consumer = AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        **kafka_client_options(settings),
    )
    await consumer.start()
    try:
        counts = await topic_partitions(settings, topics)
        assigned = [TopicPartition(t, p) for t in topics for p in range(counts[t])]
        consumer.assign(assigned)
        for tp, end in (await consumer.end_offsets(assigned)).items():
            consumer.seek(tp, end)
    except BaseException:
        await consumer.stop()
        raise
    return consumer


async def read_arrivals(
    consumer: Any,
    trip: RoundTrip,
    read: RecordReader,
    deadline: float,
    tracker: ProgressTracker,
) -> None:
    """Record the first arrival of each of the run's ids until all came back or `deadline`."""
    while not trip.complete() and (remaining := deadline - time.monotonic()) > 0:
        batches = await consumer.getmany(timeout_ms=max(1, int(min(remaining, _POLL_S) * 1000)))
        # Arrival = when the consumer handed the batch over: one instant for the whole batch.
        arrived = time.monotonic()
        for records in batches.values():
            for record in records:
                found = read(record)
                if found is not None and trip.record_arrival(found[0], found[1], arrived):
                    tracker.advance()


async def publish_all(
    settings: MynaflowSettings,
    topic: str,
    notices: Sequence[SyntheticNotice],
    trip: RoundTrip,
    window: int,
    deadline: float,
    pacer: Pacer,
) -> str | None:
    """Publish in windows of `window` sends in flight; the error that stopped it, if any."""
    producer = AIOKafkaProducer(
        acks="all",
        enable_idempotence=True,
        linger_ms=PRODUCER_LINGER_MS,
        **kafka_client_options(settings),
    )
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
            await producer.start()
            for start in range(0, len(notices), window):
                chunk = notices[start : start + window]
                await _publish_window(producer, topic, chunk, trip, pacer)
    except TimeoutError:
        return "publishing did not finish before the timeout (--timeout-s)"
    except Exception as error:  # the report still says how far it got
        return f"{type(error).__name__}: {error}"
    finally:
        await producer.stop()
    return None


async def _publish_window(
    producer: Any,
    topic: str,
    notices: Sequence[SyntheticNotice],
    trip: RoundTrip,
    pacer: Pacer,
) -> None:
    pending = []
    for notice in notices:
        await pacer.wait_turn()
        # The latency clock starts when the client hands the notice over, queueing included.
        trip.record_send(notice.notice_id, time.monotonic())
        pending.append((notice.notice_id, await producer.send(topic, notice.payload, notice.key)))
    for notice_id, acknowledged in pending:
        await acknowledged
        trip.record_ack(notice_id, time.monotonic())


# --- PostgreSQL -----------------------------------------------------------------------------------
_CREATE_TEMP_TABLE = """
CREATE TEMP TABLE loadtest_baseline (notice_id text PRIMARY KEY, payload jsonb NOT NULL)
"""
_INSERT = "INSERT INTO loadtest_baseline (notice_id, payload) VALUES ($1, $2::text::jsonb)"


async def postgres_insert_baseline(
    database_url: str, notices: Sequence[SyntheticNotice], plan: LoadtestPlan
) -> PostgresFigures:
    """N plain INSERTs (executemany, one transaction per batch) into a TEMP table, which
    disappears with the connection: no service's tables are touched."""
    try:
        async with asyncio.timeout(plan.timeout_s):
            seconds = await _time_inserts(database_url, notices, plan.batch_size)
    except Exception as error:  # optional baseline: the CLI host may have no database access
        message = "did not finish before the timeout" if isinstance(error, TimeoutError) else error
        return PostgresFigures(len(notices), plan.batch_size, None, None, error=str(message))
    rows_per_s = round(len(notices) / seconds, 1) if seconds > 0 else None
    return PostgresFigures(len(notices), plan.batch_size, round(seconds, 3), rows_per_s)


async def _time_inserts(
    database_url: str, notices: Sequence[SyntheticNotice], batch_size: int
) -> float:
    # Imported here: the CLI reaches services through Kafka and HTTP only, and importing it
    # must not load a database driver (a unit test guards that). Only this optional baseline,
    # which touches no service's tables, connects to PostgreSQL.
    from mynaflow.storage.pool import open_connection

    conn = await open_connection(database_url, connect_timeout_s=_PG_CONNECT_TIMEOUT_S)
    try:
        await conn.execute(_CREATE_TEMP_TABLE)
        started = time.monotonic()
        for start in range(0, len(notices), batch_size):
            rows = [(n.notice_id, n.payload.decode()) for n in notices[start : start + batch_size]]
            async with conn.transaction():
                await conn.executemany(_INSERT, rows)
        return time.monotonic() - started
    finally:
        await conn.close()


_CREATE_COPY_TABLE = """
CREATE TEMP TABLE loadtest_copy_baseline (notice_id text PRIMARY KEY, payload jsonb NOT NULL)
"""


async def postgres_copy_baseline(
    database_url: str, notices: Sequence[SyntheticNotice], plan: LoadtestPlan
) -> PostgresFigures:
    """The same N rows by one raw `COPY` (asyncpg's binary copy, one transaction) into a TEMP
    table: what PostgreSQL can take when nothing is in the way."""
    try:
        async with asyncio.timeout(plan.timeout_s):
            seconds = await _time_copy(database_url, notices)
    except Exception as error:  # optional baseline, as the INSERT one
        message = "did not finish before the timeout" if isinstance(error, TimeoutError) else error
        return PostgresFigures(len(notices), len(notices), None, None, error=str(message))
    rows_per_s = round(len(notices) / seconds, 1) if seconds > 0 else None
    return PostgresFigures(len(notices), len(notices), round(seconds, 3), rows_per_s)


async def _time_copy(database_url: str, notices: Sequence[SyntheticNotice]) -> float:
    from mynaflow.storage.pool import open_connection  # see _time_inserts

    conn = await open_connection(database_url, connect_timeout_s=_PG_CONNECT_TIMEOUT_S)
    try:
        await conn.execute(_CREATE_COPY_TABLE)
        # Binary COPY: jsonb's binary form is a version byte and the JSON text.
        await conn.set_type_codec(
            "jsonb",
            schema="pg_catalog",
            encoder=lambda payload: b"\x01" + payload,
            decoder=lambda data: data[1:],
            format="binary",
        )
        rows = [(n.notice_id, n.payload) for n in notices]
        started = time.monotonic()
        async with conn.transaction():
            await conn.copy_records_to_table("loadtest_copy_baseline", records=rows)
        return time.monotonic() - started
    finally:
        await conn.close()
