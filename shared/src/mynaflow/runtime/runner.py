"""Running a service: start-up in a fixed order, graceful shutdown within the grace period.

`run_service(definition)` is a console script's `main()`; `serve(...)` is the same in-process,
for tests.

Start-up: JSON logging → PostgreSQL pool on the service's schema → migrations (platform track,
then the service's) → the topic catalogue → Kafka producer → broker with the subscribers the
service's `build(context)` registers → outbox relay → background tasks (the service's, the
consumer-lag refresh, hourly outbox/inbox retention) → HTTP server. A console script's process
freezes the objects start-up made just before it starts consuming (`freeze_start_up_objects`).

SIGTERM/SIGINT: `/readyz` turns 503; consumers stop fetching and the handlers in flight finish
and commit (a message still being retried is given back uncommitted); the outbox is flushed;
background tasks stop; the pool closes; exit 0. All within `SHUTDOWN_GRACE_S` (default 8 s);
whatever is left then is abandoned uncommitted, which loses nothing (at-least-once).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Generic

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from mynaflow.contracts.topics import CATALOGUE, topic_name
from mynaflow.messaging.broker import make_broker
from mynaflow.messaging.dead_letter import DeadLetterSink
from mynaflow.messaging.outbox import OutboxRelay
from mynaflow.messaging.partitioner import KeyHashPartitioner
from mynaflow.messaging.retention import prune_periodically
from mynaflow.messaging.topics_admin import (
    consumer_group_lag,
    ensure_topics,
    group_id_for,
    kafka_client_options,
)
from mynaflow.runtime.asyncapi import ASYNCAPI_PATH, asyncapi_document
from mynaflow.runtime.dead_letters import DEAD_LETTERS_PATH, dead_letters_route
from mynaflow.runtime.definition import (
    ServiceContext,
    ServiceDefinition,
    SettingsT,
    TaskFactory,
)
from mynaflow.runtime.http import HttpServer, ServiceHttpApp
from mynaflow.runtime.logging import configure_logging
from mynaflow.runtime.loops import Backoff, retry_for, sleep_until_woken_or_stopping
from mynaflow.runtime.metrics import ServiceMetrics
from mynaflow.runtime.retention_check import check_inbox_outlives_topics
from mynaflow.settings import load_settings
from mynaflow.storage.migrations import PLATFORM_MIGRATIONS, apply_migrations
from mynaflow.storage.pool import create_pool

__all__ = [
    "CONTAINER_GRACE_S",
    "ServiceRunner",
    "freeze_start_up_objects",
    "run_service",
    "serve",
]

log = logging.getLogger(__name__)

LAG_REFRESH_S = 15.0
# What Docker and Kubernetes wait after SIGTERM before SIGKILL, by default.
CONTAINER_GRACE_S = 10.0
# How long start-up waits for a Kafka that is still coming up (PostgreSQL: `create_pool`'s own).
STARTUP_RETRY_S = 30.0
# Background tasks get this long to return on their own after `context.stopping` is set.
_TASK_STOP_S = 1.0
# The first retention pass waits this long (or one interval, if shorter): start-up traffic first.
RETENTION_FIRST_DELAY_S = 30.0


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self, floor: float = 0.1) -> float:
        return max(self._end - time.monotonic(), floor)


def freeze_start_up_objects() -> None:
    """Hide every object alive now from the cyclic garbage collector, for good.

    Imports and start-up leave some 80,000 objects (notice-intake) that live as long as the
    process. A busy service triggers a full (generation 2) collection every few seconds, and
    each one walked all of them with the event loop stopped: 30-55 ms on the benchmark machine,
    the largest recurring stall a notice met. Frozen, they are never walked again and a full
    collection takes 1-2 ms. Start-up's own garbage is collected first, since frozen objects are
    never freed. Process-wide: for a service's own process only, never for tests sharing one.
    """
    gc.collect()
    gc.freeze()


# A service's own process collects young objects every 100,000 net allocations instead of
# CPython's 700. A batch (up to 500 notices or requests) holds some 50-100 objects per message
# until its transaction commits, when reference counting frees them (they form no cycles): with
# 700 the collector walked them in vain dozens of times a batch and promoted them towards the
# costlier older generations. notice-intake, 10,000 notices in a burst: 767 young, 70 middle and
# 6 full collections, 0.3 s of its CPU (~30 us a notice, ~12 %), against one young collection at
# 100,000 (docs/BENCHMARKS.md). The price is the bound: up to 100,000 young objects, cyclic
# garbage included, before a collection that walks them all (~20 ms).
SERVICE_GC_THRESHOLDS = (100_000, 20, 20)


def collect_young_objects_per_batch() -> None:
    """Set `SERVICE_GC_THRESHOLDS`: process-wide, so for a service's own process only."""
    gc.set_threshold(*SERVICE_GC_THRESHOLDS)


# How long start-up waits for the topics' partitions before going on without them.
PARTITIONS_WARM_UP_S = 5.0


async def learn_partitions(producer: AIOKafkaProducer, topics: list[str]) -> None:
    """Fetch the partitions of `topics` into the producer's metadata now, in one request.

    A producer learns a topic's partitions on its first send to it, and that send waits for the
    answer: a metadata request per topic on the first notices' path (1.5-3.5 ms each on the
    benchmark machine, docs/BENCHMARKS.md; more on a busy broker). Best effort: the topics were
    created just before, and a producer that does not know one yet asks on its first send, as
    it would have anyway.
    """
    try:
        async with asyncio.timeout(PARTITIONS_WARM_UP_S):
            await asyncio.gather(*(producer.partitions_for(topic) for topic in topics))
    except (KafkaError, TimeoutError) as error:
        log.warning("partitions not known at start-up; learnt on first send", exc_info=error)


class ServiceRunner(Generic[SettingsT]):
    """Starts a service, runs it until `stop_event` is set, then stops it gracefully.

    `freeze_gc`: the process is the service's own: freeze start-up's objects before consuming
    (`freeze_start_up_objects`) and collect young objects per batch, not per 700 allocations
    (`collect_young_objects_per_batch`).
    """

    def __init__(
        self,
        definition: ServiceDefinition[SettingsT],
        settings: SettingsT,
        *,
        freeze_gc: bool = False,
    ) -> None:
        self.definition = definition
        self.settings = settings
        self.freeze_gc = freeze_gc
        self.context: ServiceContext[SettingsT] | None = None
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._producer: AIOKafkaProducer | None = None
        self._broker: KafkaBroker | None = None
        self._relay: OutboxRelay | None = None
        self._relay_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._http: HttpServer | None = None
        self.failed = asyncio.Event()

    @property
    def http_port(self) -> int:
        assert self._http is not None, "the HTTP server starts last"
        return self._http.port

    async def start(self) -> None:
        """Start everything in the documented order; raises if any step fails."""
        pool = await self._open_storage()
        producer = await self._open_kafka()
        broker = make_broker(self.settings, service=self.definition.name)
        self._broker = broker
        http_app = ServiceHttpApp(
            readiness_checks={"kafka": self._check_kafka, "postgres": self._check_postgres}
        )
        http_app.add_route("/info", self._info)
        http_app.add_route(DEAD_LETTERS_PATH, dead_letters_route(pool))
        # Bound now, so a taken port fails the start-up before anything is consumed.
        self._http = HttpServer(
            http_app, host=self.settings.http_host, port=self.settings.http_port
        )
        self.context = context = self._make_context(pool, producer, broker, http_app)
        self.definition.build(context)
        http_app.add_route(ASYNCAPI_PATH, self._asyncapi)
        # Before anything is consumed: an inbox that forgets ids too early double-applies.
        check_inbox_outlives_topics(self.settings, context.consumed_topics)
        context.add_task(self._refresh_lag_forever)
        context.add_task(self._prune_forever)
        if self.freeze_gc:
            freeze_start_up_objects()
            collect_young_objects_per_batch()
        await broker.start()
        self._relay = OutboxRelay(
            pool,
            producer,
            schema=self.definition.schema,
            batch_size=self.settings.outbox_batch_size,
            service=self.definition.name,
        )
        self._relay_task = asyncio.create_task(self._relay.run(), name="outbox-relay")
        self._tasks = [self._start_task(task) for task in context.tasks]
        await self._http.start()
        log.info("service started", extra={"http_port": self._http.port})

    async def _open_storage(self) -> asyncpg.Pool[asyncpg.Record]:
        schema = self.definition.schema
        self._pool = pool = await create_pool(self.settings.database_url, schema=schema)
        applied = await apply_migrations(
            pool, schema=schema, directories=[PLATFORM_MIGRATIONS, self._migrations_dir()]
        )
        log.info("migrations applied", extra={"applied": applied, "schema": schema})
        return pool

    def _migrations_dir(self) -> Path:
        """The deployment's `MIGRATIONS_DIR` if set, else the folder next to the service's code."""
        return self.settings.migrations_dir or self.definition.migrations_dir

    async def _open_kafka(self) -> AIOKafkaProducer:
        settings = self.settings
        await retry_for(
            lambda: ensure_topics(settings, CATALOGUE),
            seconds=STARTUP_RETRY_S,
            retry_on=(KafkaError, OSError),
            backoff=Backoff(0.2, 3.0),
            what="Kafka",
            logger=log,
        )
        self._producer = producer = AIOKafkaProducer(
            client_id=f"{settings.topic_prefix}{self.definition.name}-outbox",
            acks="all",
            enable_idempotence=True,
            max_batch_size=settings.outbox_producer_batch_bytes,
            partitioner=KeyHashPartitioner(),
            **kafka_client_options(settings),
        )
        await producer.start()
        await learn_partitions(producer, [topic_name(s, settings.topic_prefix) for s in CATALOGUE])
        return producer

    def _make_context(
        self,
        pool: asyncpg.Pool[asyncpg.Record],
        producer: AIOKafkaProducer,
        broker: KafkaBroker,
        http_app: ServiceHttpApp,
    ) -> ServiceContext[SettingsT]:
        name, settings = self.definition.name, self.settings
        return ServiceContext(
            name=name,
            schema=self.definition.schema,
            settings=settings,
            pool=pool,
            producer=producer,
            broker=broker,
            metrics=ServiceMetrics(name),
            dead_letter=DeadLetterSink(pool, service=name, topic_prefix=settings.topic_prefix),
            http=http_app,
        )

    def _start_task(self, factory: TaskFactory) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A dead background task would silently stop part of the service: stop it all,
                # so the supervisor restarts it.
                log.exception("background task failed", extra={"task": _name_of(factory)})
                self.failed.set()

        return asyncio.create_task(guarded(), name=_name_of(factory))

    async def _check_kafka(self) -> None:
        assert self._broker is not None
        if not await self._broker.ping(timeout=1.5):
            raise ConnectionError("no Kafka metadata answer")

    async def _check_postgres(self) -> None:
        assert self._pool is not None
        await self._pool.fetchval("SELECT 1")

    async def _asyncapi(self, _query: Mapping[str, str]) -> dict[str, Any]:
        """This service's AsyncAPI document (docs/asyncapi/ holds the committed copies)."""
        assert self._broker is not None
        return asyncapi_document(self._broker, self.definition.name, self.settings.topic_prefix)

    async def _info(self, _query: Mapping[str, str]) -> dict[str, Any]:
        """Who this is and which migrations its schema has: proves the plumbing end to end."""
        assert self._pool is not None
        rows = await self._pool.fetch(
            "SELECT track, version, description FROM schema_migrations ORDER BY track, version"
        )
        return {
            "service": self.definition.name,
            "schema": self.definition.schema,
            "topic_prefix": self.settings.topic_prefix,
            "consumer_group": group_id_for(self.definition.name, self.settings.topic_prefix),
            "migrations": [f"{r['track']}/V{r['version']}__{r['description']}" for r in rows],
        }

    async def _refresh_lag_forever(self) -> None:
        assert self.context is not None
        group = group_id_for(self.context.group_id, self.settings.topic_prefix)
        while not self.context.stopping.is_set():
            try:
                self.context.metrics.set_consumer_lag(
                    await consumer_group_lag(self.settings, group)
                )
            except Exception as error:  # metrics are best effort; the next round may work
                log.debug("consumer lag not available: %s", error)
            await sleep_until_woken_or_stopping(None, self.context.stopping, LAG_REFRESH_S)

    async def _prune_forever(self) -> None:
        assert self.context is not None
        settings = self.settings
        await prune_periodically(
            self.context.pool,
            outbox_older_than=timedelta(hours=settings.outbox_retention_hours),
            inbox_older_than=timedelta(days=settings.inbox_retention_days),
            interval_s=settings.retention_interval_s,
            first_delay_s=min(RETENTION_FIRST_DELAY_S, settings.retention_interval_s),
            stopping=self.context.stopping,
            batch_size=settings.retention_batch_size,
        )

    async def stop(self) -> None:
        """Drain and close everything, within the shutdown grace period."""
        deadline = _Deadline(self.settings.shutdown_grace_s - 0.5)
        if self._http is not None:
            self._http.app.stopping = True
        if self.context is not None:
            self.context.stopping.set()
        await self._step("stop consumers", self._stop_broker(), deadline)
        await self._step("flush outbox", self._stop_relay(deadline), deadline)
        await self._step("stop background tasks", self._stop_tasks(), deadline)
        await self._step("stop HTTP", self._stop_http(), deadline)
        await self._step("stop producer", self._stop_producer(), deadline)
        await self._step("close pool", self._close_pool(), deadline)
        log.info("service stopped")

    async def _step(self, what: str, step: Awaitable[None], deadline: _Deadline) -> None:
        try:
            await asyncio.wait_for(step, deadline.remaining())
        except TimeoutError:
            log.warning("shutdown step timed out; abandoning it", extra={"step": what})
        except Exception:
            log.exception("shutdown step failed", extra={"step": what})

    async def _stop_broker(self) -> None:
        if self._broker is not None:
            # Stops every subscriber at once; each waits for its in-flight handler (which
            # commits) up to the broker's graceful timeout.
            await self._broker.stop()

    async def _stop_relay(self, deadline: _Deadline) -> None:
        if self._relay is None or self._relay_task is None:
            return
        try:
            await self._relay.flush(timeout_s=max(deadline.remaining() - 1.5, 0.1))
        finally:
            await self._relay.stop()
            await self._relay_task

    async def _stop_tasks(self) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=_TASK_STOP_S)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _stop_http(self) -> None:
        if self._http is not None:
            await self._http.stop()

    async def _stop_producer(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def _close_pool(self) -> None:
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), 1.0)
            except TimeoutError:
                self._pool.terminate()


def _name_of(factory: TaskFactory) -> str:
    return getattr(factory, "__qualname__", None) or repr(factory)


def _install_signal_handlers(stop_event: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_event.set)


async def serve(
    definition: ServiceDefinition[SettingsT],
    settings: SettingsT,
    *,
    stop_event: asyncio.Event,
    started: Callable[[ServiceRunner[SettingsT]], None] | None = None,
    freeze_gc: bool = False,
) -> int:
    """Run the service until `stop_event` is set (or a background task fails); the exit code."""
    runner = ServiceRunner(definition, settings, freeze_gc=freeze_gc)
    if not await _start_unless_stopped(runner, stop_event):
        await runner.stop()
        return 0 if stop_event.is_set() else 1
    if started is not None:
        started(runner)
    reason = await _first_of({"signal": stop_event, "task failed": runner.failed})
    log.info("stopping", extra={"reason": reason})
    await runner.stop()
    return 1 if runner.failed.is_set() else 0


async def _start_unless_stopped(runner: ServiceRunner[Any], stop_event: asyncio.Event) -> bool:
    """Start the runner; a stop requested meanwhile (SIGTERM while waiting for a server) wins."""
    start = asyncio.create_task(runner.start())
    stop_wait = asyncio.create_task(stop_event.wait())
    await asyncio.wait({start, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    stop_wait.cancel()
    if not start.done():
        start.cancel()
        await asyncio.gather(start, return_exceptions=True)
        log.info("stopped during start-up")
        return False
    if start.exception() is not None:
        log.error("start-up failed", exc_info=start.exception())
        return False
    return True


async def _first_of(events: dict[str, asyncio.Event]) -> str:
    """Wait until one of `events` is set; return its name."""
    waiters = {asyncio.create_task(event.wait()): name for name, event in events.items()}
    done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()
    return waiters[done.pop()]


def run_service(definition: ServiceDefinition[Any]) -> None:
    """A service's console-script `main()`: settings, JSON logs, run until SIGTERM, exit."""
    settings = load_settings(definition.settings_class)
    configure_logging(definition.name, settings.log_level)
    if settings.shutdown_grace_s >= CONTAINER_GRACE_S:
        log.warning(
            "SHUTDOWN_GRACE_S is not under a container's grace period; a stop may be a kill",
            extra={"shutdown_grace_s": settings.shutdown_grace_s},
        )

    async def main() -> int:
        stop_event = asyncio.Event()
        _install_signal_handlers(stop_event)
        # The process is the service's own: its start-up objects can be frozen.
        return await serve(definition, settings, stop_event=stop_event, freeze_gc=True)

    sys.exit(asyncio.run(main()))
