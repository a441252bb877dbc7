"""Service tests of `serve` (the body of `run_service`) against the real Kafka and PostgreSQL.

A test service is built in-process from a `ServiceDefinition`, as a real service is: its own
migrations, a subscriber, a background task and a read endpoint. Stopping it while a message is
in flight must let that handler finish and commit its offset, then exit 0 within the grace period.
"""

# FastStream's subscriber objects are untyped callables; decorating a handler with one is the
# test's way to register it, so mypy may not insist on typed decorators here.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import asyncio
import gc
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.partitioner import DefaultPartitioner
from faststream.kafka.annotations import KafkaMessage
from mynaflow.contracts.topics import CATALOGUE, REGISTRY_COMMANDS, topic_name
from mynaflow.messaging.records import record_of
from mynaflow.runtime.definition import ServiceContext, ServiceDefinition
from mynaflow.runtime.runner import SERVICE_GC_THRESHOLDS, freeze_start_up_objects, serve
from mynaflow.settings import MynaflowSettings
from mynaflow.storage.pool import create_pool
from mynaflow_testing.kafka_helpers import produce, wait_for_committed
from mynaflow_testing.ports import free_port
from mynaflow_testing.service import start_service
from mynaflow_testing.waiting import wait_for
from pydantic import BaseModel

pytestmark = pytest.mark.service

SERVICE = "card-registry"


class Command(BaseModel):
    n: int


def write_migrations(folder: Path) -> Path:
    folder.mkdir()
    (folder / "V1__applied.sql").write_text(
        'CREATE TABLE applied (n integer PRIMARY KEY, "offset" bigint NOT NULL);\n'
    )
    return folder


def in_process_service(
    schema: str, tmp_path: Path, build: Callable[[ServiceContext[MynaflowSettings]], None]
) -> ServiceDefinition[MynaflowSettings]:
    """A service built in-process as a real one is, with its own migrations in `tmp_path`."""
    return ServiceDefinition(
        name=SERVICE,
        schema=schema,
        migrations_dir=write_migrations(tmp_path / "migrations"),
        settings_class=MynaflowSettings,
        build=build,
    )


async def test_stop_lets_the_handler_in_flight_finish_and_commit_then_exits_0(
    kafka_settings: MynaflowSettings, database_url: str, tmp_path: Path
) -> None:
    schema = f"svc_{uuid.uuid4().hex[:8]}"
    settings = kafka_settings.model_copy(
        update={"database_url": database_url, "http_port": 0, "shutdown_grace_s": 6.0}
    )
    handler_started = asyncio.Event()
    task_ran = asyncio.Event()

    def build(context: ServiceContext[MynaflowSettings]) -> None:
        @context.subscriber(REGISTRY_COMMANDS)
        async def apply(command: Command, message: KafkaMessage) -> None:
            handler_started.set()
            await context.stopping.wait()  # still in flight when the stop begins
            async with context.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    'INSERT INTO applied (n, "offset") VALUES ($1, $2)',
                    command.n,
                    record_of(message).offset,
                )

        async def background() -> None:
            task_ran.set()
            await context.stopping.wait()

        async def count(_query: Any) -> dict[str, int]:
            return {"applied": await context.pool.fetchval("SELECT count(*) FROM applied")}

        context.add_task(background)
        context.add_route("/count", count)

    definition = in_process_service(schema, tmp_path, build)
    service = await start_service(definition, settings)
    async with httpx.AsyncClient(base_url=service.url) as client:
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/count")).json() == {"applied": 0}
    topic = settings.topic_prefix + REGISTRY_COMMANDS.name
    ((partition, _),) = await produce(settings, topic, [json.dumps({"n": 7})], key="k")
    await asyncio.wait_for(handler_started.wait(), 30)
    assert task_ran.is_set()
    async with httpx.AsyncClient(base_url=service.url) as client:
        metrics = (await client.get("/metrics")).text
    assert f'mynaflow_messages_in_total{{service="{SERVICE}",topic="{topic}"}} 1.0' in metrics

    stopping_at = time.monotonic()
    exit_code = await service.stop(timeout_s=15)
    stop_took = time.monotonic() - stopping_at

    assert exit_code == 0
    assert stop_took < settings.shutdown_grace_s
    group = settings.topic_prefix + SERVICE
    await wait_for_committed(settings, group, topic, {partition: 1}, timeout_s=10)
    pool = await create_pool(database_url, schema=schema)
    try:
        assert await pool.fetchval("SELECT n FROM applied") == 7
    finally:
        await pool.close()


async def test_sigterm_while_waiting_for_kafka_at_start_up_exits_0_at_once(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nothing_listens = f"127.0.0.1:{free_port()}"
    settings = MynaflowSettings(
        kafka_bootstrap_servers=nothing_listens,
        database_url=database_url,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        http_port=0,
    )
    definition = in_process_service(f"svc_{uuid.uuid4().hex[:8]}", tmp_path, lambda _context: None)
    stop = asyncio.Event()
    service = asyncio.create_task(serve(definition, settings, stop_event=stop))

    async def kafka_retries_logged() -> bool:
        return any("Kafka not reachable yet" in r.getMessage() for r in caplog.records)

    with caplog.at_level("WARNING"):
        await wait_for(kafka_retries_logged, timeout=30, what="start-up waiting for Kafka")
    stopping_at = time.monotonic()
    stop.set()

    assert await asyncio.wait_for(service, 10) == 0
    assert time.monotonic() - stopping_at < 2


async def test_a_service_whose_inbox_forgets_before_its_topics_do_refuses_to_start(
    kafka_settings: MynaflowSettings,
    database_url: str,
    fresh_schema: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = kafka_settings.model_copy(
        update={"database_url": database_url, "http_port": 0, "inbox_retention_days": 30}
    )
    consumed: list[Command] = []

    def build(context: ServiceContext[MynaflowSettings]) -> None:
        @context.subscriber(REGISTRY_COMMANDS)  # kept 365 days
        async def apply(command: Command) -> None:
            consumed.append(command)

    definition = in_process_service(fresh_schema, tmp_path, build)
    topic = settings.topic_prefix + REGISTRY_COMMANDS.name
    await produce(settings, topic, [json.dumps({"n": 1})], key="k")

    exit_code = await asyncio.wait_for(serve(definition, settings, stop_event=asyncio.Event()), 60)

    assert exit_code == 1
    assert consumed == []
    assert "INBOX_RETENTION_DAYS=30" in caplog.text


async def test_a_service_freezes_its_start_up_objects_before_consuming_when_asked(
    kafka_settings: MynaflowSettings, database_url: str, fresh_schema: str, tmp_path: Path
) -> None:
    settings = kafka_settings.model_copy(update={"database_url": database_url, "http_port": 0})
    definition = in_process_service(fresh_schema, tmp_path, lambda _context: None)
    frozen_when_started: list[int] = []
    thresholds_when_started: list[tuple[int, int, int]] = []
    stop = asyncio.Event()

    def started(_runner: object) -> None:
        frozen_when_started.append(gc.get_freeze_count())
        thresholds_when_started.append(gc.get_threshold())
        stop.set()

    thresholds_before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's defaults, whatever an earlier test set
    gc.unfreeze()  # this test process may have been frozen by an earlier test
    try:
        exit_code = await asyncio.wait_for(
            serve(definition, settings, stop_event=stop, started=started, freeze_gc=True), 60
        )
    finally:
        gc.unfreeze()  # the test process is shared: give its objects back to the collector
        gc.set_threshold(*thresholds_before)

    assert exit_code == 0
    # Start-up's modules, classes and clients: far more than a handful of objects.
    assert len(frozen_when_started) == 1
    assert frozen_when_started[0] > 10_000
    assert thresholds_when_started == [SERVICE_GC_THRESHOLDS]


def test_freezing_start_up_objects_hides_them_from_the_collector() -> None:
    gc.unfreeze()
    survivor: list[object] = [[]]  # a container the collector tracks
    assert gc.is_tracked(survivor)
    try:
        freeze_start_up_objects()
        frozen = gc.get_freeze_count()
        tracked_after = {id(o) for o in gc.get_objects()}
    finally:
        gc.unfreeze()

    assert frozen > 0
    assert id(survivor) not in tracked_after


async def test_a_service_s_producer_puts_each_key_on_the_partition_kafka_s_clients_choose(
    kafka_settings: MynaflowSettings, database_url: str, fresh_schema: str, tmp_path: Path
) -> None:
    # The outbox producer hashes keys with the project's own murmur2 (faster than aiokafka's):
    # other producers of these topics, and ordering per key, need the very same partitions.
    settings = kafka_settings.model_copy(update={"database_url": database_url, "http_port": 0})
    topic = settings.topic_prefix + REGISTRY_COMMANDS.name
    keys = [f"card:{uuid.uuid4()}".encode() for _ in range(60)]
    landed: dict[bytes, int] = {}
    stop = asyncio.Event()

    def build(context: ServiceContext[MynaflowSettings]) -> None:
        async def publish_keyed_records() -> None:
            for key in keys:
                metadata = await context.producer.send_and_wait(topic, b"{}", key=key)
                landed[key] = metadata.partition
            stop.set()

        context.add_task(publish_keyed_records)

    definition = in_process_service(fresh_schema, tmp_path, build)
    exit_code = await asyncio.wait_for(serve(definition, settings, stop_event=stop), 60)

    partitions = list(range(REGISTRY_COMMANDS.partitions))
    expected = {key: DefaultPartitioner()(key, partitions, partitions) for key in keys}
    assert exit_code == 0
    assert landed == expected
    assert len(set(landed.values())) > 1  # spread over partitions: the check is not vacuous


async def test_a_service_s_producer_knows_every_topic_s_partitions_before_its_first_send(
    kafka_settings: MynaflowSettings, database_url: str, fresh_schema: str, tmp_path: Path
) -> None:
    # Otherwise the first event to each topic waits for a metadata request of its own.
    settings = kafka_settings.model_copy(update={"database_url": database_url, "http_port": 0})
    definition = in_process_service(fresh_schema, tmp_path, lambda _context: None)
    known: dict[str, set[int] | None] = {}
    stop = asyncio.Event()

    def started(runner: Any) -> None:
        cluster = runner.context.producer.client.cluster
        for spec in CATALOGUE:
            name = topic_name(spec, settings.topic_prefix)
            known[name] = cluster.partitions_for_topic(name)
        stop.set()

    exit_code = await asyncio.wait_for(
        serve(definition, settings, stop_event=stop, started=started), 60
    )

    assert exit_code == 0
    assert len(known) == len(CATALOGUE)
    assert all(partitions for partitions in known.values()), known
    commands = known[topic_name(REGISTRY_COMMANDS, settings.topic_prefix)]
    assert commands == set(range(REGISTRY_COMMANDS.partitions))
