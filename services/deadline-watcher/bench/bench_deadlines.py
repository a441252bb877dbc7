"""Benchmark of deadline-watcher against the real Kafka and PostgreSQL (`make infra-up`).

    uv run python services/deadline-watcher/bench/bench_deadlines.py --count 1000000

What it measures, with `--watchers` watchers (default 1), each a process of its own running the
real service as its console script does (subscriber, request handler, firing loop, outbox relay
on one event loop; start-up's objects frozen for the garbage collector), all replicas of one
deployment: one schema (dropped at the end), one topic prefix, one consumer group. The 6
partitions of `deadlines.requests` are shared among them, firing is shared through
`FOR UPDATE SKIP LOCKED`, and one of them at a time runs the outbox relay (its advisory lock).

1. Ingest: `--count` schedule requests published to `deadlines.requests`, in phases (so the
   tick can be measured at several table sizes); the time from the first send until every
   deadline is stored (the outbox relay publishes their `scheduled` events meanwhile). The
   requests are encoded before the clock starts, as other processes would.
2. Tick when nothing is due: the firing loop's own work per wake-up (claim query + next-due
   query, the service's own functions, run from this process) timed at each size, once the
   relay has published that phase (a quiet machine); flat means the index keeps it independent
   of the table size.
   The claim query's EXPLAIN (ANALYZE) at the largest size is printed.
3. Burst: `--burst` more deadlines all due at the same instant; stages fired per second (ledger
   rows committed with their outbox events), and until the events are on the topic.
4. Baselines in the same run, because the machine is noisy: a plain COPY of `--count` rows of
   the same shape into an unindexed table, a plain UPDATE of `--burst` rows, and `SELECT 1`.

CPU per process over each phase (`cpu` in the JSON: every watcher, this process, the broker,
PostgreSQL, the whole machine; `cpu_accounting.py`) shows whether the 2 cores were saturated.
`--profile DIR` records each watcher with py-spy (raw collapsed stacks) during the ingest and
the firing phases; `profile_top.py` prints their top functions.

Results go to stdout as a table and, with `--json PATH`, as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from cpu_accounting import CpuAccount
from deadline_watcher.adapters.repository import SqlDeadlineReads, make_repos
from deadline_watcher.adapters.wakeup import listening
from deadline_watcher.app import definition
from deadline_watcher.service_layer.deps import WatcherDeps, wake_channel_for
from deadline_watcher.service_layer.firing import fire_due
from deadline_watcher.settings import DeadlineWatcherSettings
from mynaflow.contracts.deadlines import schedule_request_event
from mynaflow.contracts.envelope import CLOUDEVENTS_CONTENT_TYPE, encode_event
from mynaflow.contracts.topics import CATALOGUE, DEADLINES_EVENTS, topic_name
from mynaflow.messaging.topics_admin import admin_client, ensure_topics
from mynaflow.runtime.runner import collect_young_objects_per_batch as tune_garbage_collector
from mynaflow.runtime.runner import run_service
from mynaflow.settings import MynaflowSettings, load_settings
from mynaflow.storage.pool import create_pool, quote_identifier
from mynaflow.storage.unit_of_work import PostgresUnitOfWork
from mynaflow_testing.harness.deadline_watcher import Deployment, deployment_settings, request
from mynaflow_testing.ports import free_port

BENCH_POLICIES = {
    # Far-future ladders: nothing is due while the table grows.
    "bench_ladder": {
        "stages": [
            {"name": "resident_30d", "offset": "-30d", "at": "09:00", "role": "resident"},
            {"name": "desk_manager_7d", "offset": "-7d", "at": "09:00", "role": "desk_manager"},
            {"name": "breach", "role": "desk_manager"},
            {"name": "section_chief", "offset": "+2bd", "at": "09:00", "role": "section_chief"},
        ]
    },
    # The burst: one stage (the breach) per deadline, all at the same instant.
    "bench_burst": {"stages": [{"name": "breach", "role": "queue"}]},
}
SEND_CHUNK = 5_000
# Probing a count: every 0.5 s at most, every 0.1 s until it moves, down to every 10 ms near
# the end (`poll`).
POLL_S = 0.5
POLL_FIRST_S = 0.1
POLL_MIN_S = 0.01
# A low estimate of how many requests `encoded_requests` builds per second on a busy machine.
ENCODED_PER_S = 5_000
# Read through the partial index of unsent rows: counting the sent ones read the whole outbox
# (hundreds of MB at the end of a run) twice a second, PostgreSQL CPU taken from the watchers.
UNSENT_SQL = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
# A watcher process runs the service on the schema named here (`--serve-watcher`).
SCHEMA_VARIABLE = "BENCH_WATCHER_SCHEMA"
PY_SPY = ["uvx", "py-spy@0.4.3", "record", "-r", "100", "-f", "raw", "--nonblocking"]


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def phases(count: int) -> list[int]:
    """Table sizes at which the tick is measured: 1%, 10%, 100% (at least 1,000 apart)."""
    sizes = sorted({max(count // 100, 1), max(count // 10, 1), count})
    return [size for size in sizes if size >= min(1_000, count)]


def encoded_requests(
    first: int, last: int, policy: str, due: Callable[[int], datetime]
) -> list[tuple[bytes, bytes]]:
    """(Kafka key, CloudEvent bytes) of schedule requests `first..last-1`, built through the
    contract as a producer builds them.

    Built before the clock starts: encoding requests is the producers' work (other services'
    processes), not the watcher's, and on this one event loop it would take CPU from it.
    """
    requests = []
    for index in range(first, last):
        key = f"{policy}:{index}"
        event = schedule_request_event(request(key, policy, due_at=due(index)), source="bench")
        requests.append((key.encode(), encode_event(event)))
    return requests


async def publish_requests(deployment: Deployment, requests: list[tuple[bytes, bytes]]) -> float:
    """Publish encoded schedule requests; returns the seconds it took."""
    producer = AIOKafkaProducer(
        bootstrap_servers=deployment.settings.kafka_bootstrap_servers,
        acks="all",
        linger_ms=50,
        max_batch_size=1 << 20,
    )
    await producer.start()
    started = time.perf_counter()
    headers = [("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())]
    try:
        for chunk_start in range(0, len(requests), SEND_CHUNK):
            futures = [
                await producer.send(deployment.requests_topic, value, key=key, headers=headers)
                for key, value in requests[chunk_start : chunk_start + SEND_CHUNK]
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def poll(
    probe: Callable[[], Awaitable[int]],
    done: Callable[[int], bool],
    what: str,
    timeout_s: float,
    left: Callable[[int], int] | None = None,
) -> float:
    """Seconds until `done(await probe())` (progress every 10 s).

    Polled every 0.5 s, and, with `left` (the items still to come), sooner as the end nears:
    half the time the last rate gives for what is left, at least every 10 ms (every 0.1 s
    until the count moves). The measured time is never shorter than the true one. A fixed 0.5 s
    step made every phase read up to 0.5 s long (three phases in the ingest), while probing
    often the whole time would take PostgreSQL's CPU from the watchers.
    """
    started = time.perf_counter()
    last_report = started
    previous: tuple[float, int] | None = None
    while not done(value := await probe()):
        now = time.perf_counter()
        if now - started > timeout_s:
            raise TimeoutError(f"{what}: {value} after {timeout_s}s")
        if now - last_report > 10:
            log(f"  {what}: {value:,}")
            last_report = now
        await asyncio.sleep(_next_probe_in(previous, now, value, left))
        previous = (now, value)
    return time.perf_counter() - started


def _next_probe_in(
    previous: tuple[float, int] | None, now: float, value: int, left: Callable[[int], int] | None
) -> float:
    if left is None:
        return POLL_S
    if previous is None:
        return POLL_FIRST_S  # a rate to go by, soon: a phase of 1,000 takes ~0.1 s
    rate = abs(value - previous[1]) / max(now - previous[0], 1e-6)
    if rate == 0:
        return POLL_FIRST_S
    return min(POLL_S, max(POLL_MIN_S, left(value) / rate / 2))


async def wait_until(
    probe: Callable[[], Awaitable[int]], target: int, what: str, timeout_s: float
) -> float:
    """Seconds until `probe()` reaches `target`."""
    return await poll(
        probe,
        lambda value: value >= target,
        f"{what} (of {target:,})",
        timeout_s,
        left=lambda value: target - value,
    )


async def wait_until_relayed(deployment: Deployment, what: str, timeout_s: float) -> float:
    """Seconds until the outbox holds no unsent row. Called once every row the phase commits
    is in (stored, fired), so none left unsent means all of them are on the topic."""
    unsent = functools.partial(count_rows, deployment, UNSENT_SQL)
    return await poll(
        unsent, lambda value: value == 0, f"{what}, unsent", timeout_s, left=lambda value: value
    )


async def measure_tick(deps: WatcherDeps, repeats: int) -> dict[str, float]:
    """The loop's work when nothing is due: claim (finds nothing) + next-due, through the
    service's own functions, timed `repeats` times; median and p95 in milliseconds."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        claimed = await fire_due(deps)
        await deps.reads.next_fire_at()
        samples.append((time.perf_counter() - started) * 1000)
        assert claimed == 0, "the benchmark's ladders must be in the future"
    samples.sort()
    return {
        "median_ms": statistics.median(samples),
        "p95_ms": samples[int(len(samples) * 0.95) - 1],
    }


@dataclass
class WatcherProcess:
    """One watcher replica: the service, as its console script runs it, on the bench's schema."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    async def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"watcher exited early:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{self.port}/readyz")).is_success:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"watcher not ready after {timeout_s}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (a graceful stop), SIGKILL if it is still there after 30 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def launch_watcher(settings: Any, schema: str, log_path: Path) -> WatcherProcess:
    """Start a watcher process (`--serve-watcher`) with the deployment's settings."""
    port = free_port()
    env = dict(os.environ) | {
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TOPIC_PREFIX": settings.topic_prefix,
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "DEADLINE_POLICIES": json.dumps(BENCH_POLICIES),
        "CLAIM_BATCH_SIZE": str(settings.claim_batch_size),
        "REQUEST_CONSUMERS": str(settings.request_consumers),
        SCHEMA_VARIABLE: schema,
    }
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, this script
            [sys.executable, str(Path(__file__).resolve()), "--serve-watcher"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return WatcherProcess(process, port, log_path)


async def start_watchers(
    settings: Any, schema: str, count: int, log_dir: Path
) -> list[WatcherProcess]:
    """`count` replicas, one after the other (the first applies the migrations)."""
    started: list[WatcherProcess] = []
    for index in range(1, count + 1):
        started.append(launch_watcher(settings, schema, log_dir / f"watcher-{index}.log"))
        await started[-1].wait_ready()
    return started


def serve_watcher() -> None:
    """The body of a watcher process: the service's own `main()`, on another schema."""
    tune_garbage_collector()
    run_service(replace(definition(), schema=os.environ[SCHEMA_VARIABLE]))


def tick_deps(settings: Any, pool: asyncpg.Pool[asyncpg.Record], schema: str) -> WatcherDeps:
    """The loop's dependencies as the composition root builds them, on the bench's pool."""
    return WatcherDeps(
        uow=lambda: PostgresUnitOfWork(pool, make_repos),
        reads=SqlDeadlineReads(pool),
        listen=lambda channel, wake: listening(pool, channel, wake),
        policies=settings.policies(),
        events_topic=topic_name(DEADLINES_EVENTS, settings.topic_prefix),
        wake_channel=wake_channel_for(schema),
        instance="bench-tick",
        calendar=settings.business_calendar(),
        claim_batch=settings.claim_batch_size,
    )


@dataclass
class Accounting:
    """CPU accounts per phase, and the py-spy recordings of each phase (`--profile`)."""

    watchers: list[WatcherProcess]
    profile_dir: Path | None
    database: str
    phases: dict[str, CpuAccount] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def phase(self, name: str) -> AsyncIterator[None]:
        """Account (and profile) what happens inside; a phase may be entered several times."""
        fixed = {f"watcher-{i}": [w.pid] for i, w in enumerate(self.watchers, 1)}
        account = self.phases.setdefault(
            name, CpuAccount(fixed | {"bench": [os.getpid()]}, self.database)
        )
        recorders = self._record(name)
        account.start()
        try:
            yield
        finally:
            account.stop()
            for recorder in recorders:
                # To the whole group: `uvx` does not always pass SIGINT on to py-spy, which then
                # went on recording the later phases into this phase's file.
                os.killpg(recorder.pid, signal.SIGINT)
            for recorder in recorders:
                await asyncio.to_thread(recorder.wait, 120)

    def _record(self, phase: str) -> list[subprocess.Popen[bytes]]:
        if self.profile_dir is None:
            return []
        return [
            subprocess.Popen(  # noqa: S603 - py-spy on our own child
                [*PY_SPY, "-p", str(w.pid), "-o", str(self.profile_dir / f"{phase}-w{i}.txt")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: uvx and the py-spy it starts
            )
            for i, w in enumerate(self.watchers, 1)
        ]

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, account in self.phases.items():
            summary = account.summary()
            cpu = summary["cpu_s"]
            assert isinstance(cpu, dict)
            watchers = sum(v for k, v in cpu.items() if k.startswith("watcher-"))
            summary["watchers_cpu_s"] = watchers
            summary["watchers_cores"] = watchers / max(account.wall_s, 1e-9)
            result[name] = summary
        return result


async def explain_claim(deployment: Deployment) -> str:
    pool = await deployment.pool()
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """
            EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
            SELECT key FROM deadlines
            WHERE next_fire_at <= now()
            ORDER BY next_fire_at
            LIMIT 500
            FOR UPDATE SKIP LOCKED
            """
        )
    return "\n".join(row[0] for row in rows)


async def count_rows(deployment: Deployment, sql: str) -> int:
    pool = await deployment.pool()
    value: int = await pool.fetchval(sql)
    return value


async def decided_after(deployment: Deployment, instant: datetime) -> tuple[float, float]:
    """Seconds from `instant` to the first and the last firing decision in the ledger.

    Finer than `fired_s` (polled every 0.5 s, so up to 0.5 s late): a decision's time is its
    batch's claim, so the last batch commits within one batch after `decided_last_s`.
    """
    pool = await deployment.pool()
    row = await pool.fetchrow(
        """
        SELECT extract(epoch FROM min(decided_at) - $1)::float8 AS first_s,
               extract(epoch FROM max(decided_at) - $1)::float8 AS last_s
        FROM stage_firings WHERE status = 'fired'
        """,
        instant,
    )
    assert row is not None
    return row["first_s"], row["last_s"]


async def baselines(database_url: str, count: int, burst: int) -> dict[str, float]:
    """Raw PostgreSQL on the same machine, in the same run: COPY, UPDATE, round trip."""
    schema = f"bench_raw_{uuid.uuid4().hex[:8]}"
    # A plain connection (asyncpg's own binary codecs), as a hand-written loader would use.
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"CREATE SCHEMA {quote_identifier(schema)}")
        await conn.execute(f"SET search_path TO {quote_identifier(schema)}")
        await conn.execute(
            """
            CREATE TABLE raw_deadlines (
                key text, generation int, policy text, due_at timestamptz,
                subject jsonb, audience jsonb, status text, next_fire_at timestamptz)
            """
        )
        now = datetime.now(UTC)
        subject = json.dumps({"type": "test", "ids": {"key": "k"}})
        audience = json.dumps({"queue": "records"})
        records = [
            (f"raw:{i}", 1, "bench_ladder", now, subject, audience, "open", now)
            for i in range(count)
        ]
        started = time.perf_counter()
        await conn.copy_records_to_table("raw_deadlines", records=records)
        copy_s = time.perf_counter() - started
        await conn.execute("CREATE INDEX ON raw_deadlines (key)")
        keys = [f"raw:{i}" for i in range(min(burst, count))]
        started = time.perf_counter()
        await conn.execute(
            """
            UPDATE raw_deadlines SET status = 'fired', next_fire_at = NULL
            WHERE key = ANY($1::text[])
            """,
            keys,
        )
        update_s = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(200):
            await conn.fetchval("SELECT 1")
        roundtrip_ms = (time.perf_counter() - started) / 200 * 1000
        await conn.execute(f"DROP SCHEMA {quote_identifier(schema)} CASCADE")
    finally:
        await conn.close()
    return {
        "copy_rows_per_s": count / copy_s,
        "update_rows_per_s": len(keys) / update_s,
        "select1_ms": roundtrip_ms,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    base = load_settings(MynaflowSettings, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
    await ensure_topics(base, CATALOGUE)
    settings = deployment_settings(
        base,
        base.database_url,
        deadline_policies=json.dumps(BENCH_POLICIES),
        claim_batch_size=args.claim_batch,
        request_consumers=args.request_consumers,
        log_level="WARNING",
    )
    deployment = Deployment(settings, f"bench_{uuid.uuid4().hex[:8]}")
    results: dict[str, Any] = {
        "count": args.count,
        "burst": args.burst,
        "watchers": args.watchers,
        "claim_batch": args.claim_batch,
        "request_consumers": args.request_consumers,
        "load_average_at_start": os.getloadavg(),
        "ticks": [],
    }
    log_dir = Path(args.log_dir or Path.cwd() / ".mynaflow" / "bench-logs") / deployment.schema
    log_dir.mkdir(parents=True, exist_ok=True)
    watchers: list[WatcherProcess] = []
    try:
        log(f"baselines (COPY {args.count:,} rows, UPDATE {args.burst:,} rows)")
        results["baseline"] = await baselines(base.database_url, args.count, args.burst)
        watchers = await start_watchers(settings, deployment.schema, args.watchers, log_dir)
        results["watcher_pids"] = [w.pid for w in watchers]
        log(f"{len(watchers)} watcher process(es): pids {results['watcher_pids']}, logs {log_dir}")
        database = urlsplit(base.database_url).path.lstrip("/")
        accounting = Accounting(watchers, args.profile, database)
        deps = tick_deps(settings, await deployment.pool(), deployment.schema)
        results["ingest"] = await ingest(deployment, args, accounting, deps, results["ticks"])
        results["explain_claim"] = await explain_claim(deployment)
        rate = results["ingest"]["stored_per_s"]
        results["burst_result"] = await burst(deployment, args, rate, accounting)
        results["cpu"] = accounting.summary()
    finally:
        for watcher in watchers:
            watcher.stop()
        await deployment.close()
        pool = await create_pool(base.database_url, schema="public")
        await pool.execute(f"DROP SCHEMA IF EXISTS {quote_identifier(deployment.schema)} CASCADE")
        await pool.close()
        async with admin_client(base) as admin:
            names = [n for n in await admin.list_topics() if n.startswith(base.topic_prefix)]
            await admin.delete_topics(names)
    return results


async def ingest(
    deployment: Deployment,
    args: argparse.Namespace,
    accounting: Accounting,
    deps: WatcherDeps,
    ticks: list[dict[str, float]],
) -> dict[str, float]:
    """`--count` far-future deadlines in phases, the tick measured after each phase."""
    far = datetime.now(UTC) + timedelta(days=400)
    ingested, publish_s, ingest_s = 0, 0.0, 0.0
    for size in phases(args.count):
        requests = encoded_requests(
            ingested, size, "bench_ladder", lambda i: far + timedelta(minutes=i % 100_000)
        )
        log(f"ingest {ingested:,} -> {size:,}")
        async with accounting.phase("ingest"):
            started = time.perf_counter()
            publish_s += await publish_requests(deployment, requests)
            await wait_until(
                lambda: count_rows(deployment, "SELECT count(*) FROM deadlines"),
                size,
                "stored",
                args.timeout,
            )
            ingest_s += time.perf_counter() - started
        ingested = size
        # Measure the tick on a quiet machine: after the relay has published this phase.
        await wait_until_relayed(deployment, "relayed", args.timeout)
        tick = await measure_tick(deps, args.tick_repeats)
        ticks.append({"deadlines": size, **tick})
        log(f"  tick at {size:,}: median {tick['median_ms']:.2f} ms, p95 {tick['p95_ms']:.2f}")
    relayed_s = ingest_s + await wait_until_relayed(
        deployment, "scheduled events relayed", args.timeout
    )
    return {
        "publish_s": publish_s,
        "stored_s": ingest_s,
        "stored_per_s": args.count / ingest_s,
        "relayed_s": relayed_s,
    }


async def burst(
    deployment: Deployment, args: argparse.Namespace, ingest_rate: float, accounting: Accounting
) -> dict[str, float]:
    """`--burst` deadlines due at one instant, scheduled ahead of it; then time the firing."""
    # Far enough ahead that they are all encoded and stored before the instant.
    lead = 5.0 + args.burst / max(ingest_rate, 1.0) * 2 + args.burst / ENCODED_PER_S
    instant = datetime.now(UTC) + timedelta(seconds=lead)
    requests = encoded_requests(0, args.burst, "bench_burst", lambda _: instant)
    log(f"burst: scheduling {args.burst:,} deadlines due at one instant")
    async with accounting.phase("burst_schedule"):
        await publish_requests(deployment, requests)
        await wait_until(
            lambda: count_rows(
                deployment, "SELECT count(*) FROM deadlines WHERE policy = 'bench_burst'"
            ),
            args.burst,
            "burst stored",
            args.timeout,
        )
    wait_s = (instant - datetime.now(UTC)).total_seconds()
    if wait_s < 0:
        log(f"  WARNING: the burst was stored {-wait_s:.1f}s after its instant")
    await asyncio.sleep(max(wait_s, 0))
    started = time.perf_counter()
    async with accounting.phase("burst_fire"):
        fired_s = await wait_until(
            lambda: count_rows(
                deployment, "SELECT count(*) FROM stage_firings WHERE status = 'fired'"
            ),
            args.burst,
            "burst fired",
            args.timeout,
        )
    async with accounting.phase("burst_relay"):
        await wait_until_relayed(deployment, "burst events relayed", args.timeout)
    relayed_s = time.perf_counter() - started
    late = await count_rows(deployment, "SELECT count(*) FROM stage_firings WHERE late")
    first_s, last_s = await decided_after(deployment, instant)
    return {
        "fired_s": fired_s,
        "fired_per_s": args.burst / fired_s,
        "decided_first_s": first_s,
        "decided_last_s": last_s,
        "decided_per_s": args.burst / last_s,
        "relayed_s": relayed_s,
        "relayed_per_s": args.burst / relayed_s,
        "late": late,
    }


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def report(results: dict[str, Any]) -> str:
    base = results["baseline"]
    ingest = results["ingest"]
    burst_result = results["burst_result"]
    lines = [
        f"machine: {results['machine']}",
        f"ingest {results['count']:,} schedule requests: stored in {ingest['stored_s']:.1f} s "
        f"({ingest['stored_per_s']:,.0f}/s, with the relay publishing their `scheduled` events "
        f"alongside); publishing the requests took {ingest['publish_s']:.1f} s of it",
        f"  baseline COPY of the same rows: {base['copy_rows_per_s']:,.0f} rows/s "
        f"(ingest = {ingest['stored_per_s'] / base['copy_rows_per_s']:.3f} x COPY)",
        "tick with nothing due (claim + next-due):",
        *(
            f"  {tick['deadlines']:>9,} deadlines: median {tick['median_ms']:.2f} ms, "
            f"p95 {tick['p95_ms']:.2f} ms ({tick['median_ms'] / base['select1_ms']:.1f} x SELECT 1)"
            for tick in results["ticks"]
        ),
        f"  baseline SELECT 1 round trip: {base['select1_ms']:.3f} ms",
        f"burst of {results['burst']:,} due at once: fired in {burst_result['fired_s']:.1f} s "
        f"({burst_result['fired_per_s']:,.0f} stages/s), on the topic after "
        f"{burst_result['relayed_s']:.1f} s ({burst_result['relayed_per_s']:,.0f}/s); "
        f"late: {burst_result['late']}",
        f"  ledger: first decision {burst_result['decided_first_s']:.2f} s, last "
        f"{burst_result['decided_last_s']:.2f} s after the instant "
        f"({burst_result['decided_per_s']:,.0f} stages/s to the last batch's claim)",
        "  baseline plain UPDATE of the same number of rows: "
        f"{base['update_rows_per_s']:,.0f} rows/s "
        f"(firing = {burst_result['fired_per_s'] / base['update_rows_per_s']:.3f} x UPDATE)",
        "EXPLAIN of the claim query at the largest size:",
        *(f"  {line}" for line in results["explain_claim"].splitlines()),
        f"CPU in cores (of {os.cpu_count()}) per phase, load average at the start "
        f"{results['load_average_at_start'][0]:.2f}:",
        *(cpu_line(name, phase) for name, phase in results["cpu"].items()),
    ]
    return "\n".join(lines)


def cpu_line(name: str, phase: dict[str, Any]) -> str:
    cores = ", ".join(f"{group} {value:.2f}" for group, value in phase["cores"].items())
    return f"  {name} ({phase['wall_s']:.1f} s): {cores}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--burst", type=int, default=None, help="default: min(100000, count)")
    parser.add_argument("--claim-batch", type=int, default=500)
    parser.add_argument(
        "--request-consumers",
        type=int,
        default=DeadlineWatcherSettings.model_fields["request_consumers"].default,
        help="REQUEST_CONSUMERS of each watcher (default: the service's)",
    )
    parser.add_argument("--tick-repeats", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=7200.0)
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument("--watchers", type=int, default=1, help="watcher processes (replicas)")
    parser.add_argument(
        "--profile", type=Path, default=None, help="folder for py-spy recordings of each phase"
    )
    parser.add_argument("--log-dir", default=None, help="default: .mynaflow/bench-logs")
    parser.add_argument("--serve-watcher", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_watcher:
        serve_watcher()
        return
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    args.burst = args.burst if args.burst is not None else min(100_000, args.count)
    results = asyncio.run(run(args))
    results["machine"] = machine()
    print(report(results), flush=True)
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2, default=str)
    sys.exit(0)


if __name__ == "__main__":
    main()
