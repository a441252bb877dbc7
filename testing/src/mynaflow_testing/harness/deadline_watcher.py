"""Running real deadline-watchers in a test: in-process replicas on the real Kafka and PostgreSQL.

Each test gets its own schema and topic prefix; every watcher started in a test shares both, so
several watchers are replicas of one deployment (one consumer group, one set of tables).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import deadline_watcher.app as _app_module
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from deadline_watcher.app import SERVICE_NAME, bootstrap, register
from deadline_watcher.service_layer.deps import WatcherDeps
from deadline_watcher.settings import DeadlineWatcherSettings
from mynaflow.contracts.deadlines import (
    ClearDeadline,
    DeadlineAudience,
    DeadlineSubject,
    ScheduleDeadline,
    deadline_request_event,
)
from mynaflow.contracts.envelope import CLOUDEVENTS_CONTENT_TYPE, CloudEvent, encode_event
from mynaflow.contracts.topics import DEADLINES_EVENTS, DEADLINES_REQUESTS, topic_name
from mynaflow.messaging.topics_admin import admin_client
from mynaflow.runtime.definition import ServiceContext, ServiceDefinition, migrations_dir_for
from mynaflow.runtime.runner import ServiceRunner
from mynaflow.settings import MynaflowSettings
from mynaflow.storage.pool import create_pool

from mynaflow_testing.kafka_helpers import consume_until
from mynaflow_testing.processes import ServiceProcess, service_process
from mynaflow_testing.service import RunningService, start_service

MIGRATIONS = migrations_dir_for(_app_module.__file__)


@dataclass
class Watcher:
    """One running replica, and the dependencies its composition root built."""

    service: RunningService[DeadlineWatcherSettings]
    deps: WatcherDeps

    @property
    def runner(self) -> ServiceRunner[DeadlineWatcherSettings]:
        return self.service.runner

    @property
    def task(self) -> asyncio.Task[int]:
        return self.service.task

    @property
    def url(self) -> str:
        return self.service.url

    async def stop(self) -> int:
        return await self.service.stop()


@dataclass
class Deployment:
    """A deadline-watcher deployment for one test: settings, schema, and its replicas."""

    settings: DeadlineWatcherSettings
    schema: str
    watchers: list[Watcher] = field(default_factory=list)
    _producer: AIOKafkaProducer | None = None
    _pool: asyncpg.Pool[asyncpg.Record] | None = None

    @property
    def requests_topic(self) -> str:
        return topic_name(DEADLINES_REQUESTS, self.settings.topic_prefix)

    @property
    def events_topic(self) -> str:
        return topic_name(DEADLINES_EVENTS, self.settings.topic_prefix)

    async def start_watcher(self, **overrides: Any) -> Watcher:
        # Validated (not model_copy), so overrides are parsed like environment values.
        settings = DeadlineWatcherSettings(**(self.settings.model_dump() | overrides))
        built: list[WatcherDeps] = []

        def build(context: ServiceContext[DeadlineWatcherSettings]) -> None:
            built.append(bootstrap(context))
            register(context, built[-1])

        definition = ServiceDefinition(
            name=SERVICE_NAME,
            schema=self.schema,
            migrations_dir=MIGRATIONS,
            settings_class=DeadlineWatcherSettings,
            build=build,
        )
        watcher = Watcher(await start_service(definition, settings), built[0])
        self.watchers.append(watcher)
        return watcher

    async def pool(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._pool is None:
            self._pool = await create_pool(self.settings.database_url, schema=self.schema)
        return self._pool

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap_servers, acks="all", linger_ms=5
            )
            await self._producer.start()
        return self._producer

    async def send(self, events: list[CloudEvent[Any]]) -> None:
        """Publish requests keyed by deadline key (the CloudEvent subject)."""
        producer = await self.producer()
        futures = [
            await producer.send(
                self.requests_topic,
                encode_event(event),
                key=(event.subject or "").encode(),
                headers=[("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())],
            )
            for event in events
        ]
        await asyncio.gather(*futures)

    async def send_raw(self, value: bytes, key: str) -> None:
        producer = await self.producer()
        await producer.send_and_wait(self.requests_topic, value, key=key.encode())

    async def schedule(self, *requests: ScheduleDeadline) -> None:
        await self.send([deadline_request_event(r, source="test") for r in requests])

    async def clear(
        self, key: str, reason: str = "done", resolved_at: datetime | None = None
    ) -> None:
        request = ClearDeadline(key=key, reason=reason, resolved_at=resolved_at)
        await self.send([deadline_request_event(request, source="test")])

    async def events_until(
        self, until: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 60.0
    ) -> list[dict[str, Any]]:
        """Decoded events of `deadlines.events` (from the start) once `until` holds."""

        def decoded(records: list[ConsumerRecord[bytes, bytes]]) -> list[dict[str, Any]]:
            return [json.loads(record.value) for record in records]

        records = await consume_until(
            self.settings, self.events_topic, lambda rs: until(decoded(rs)), timeout_s=timeout_s
        )
        return decoded(records)

    async def all_events(self) -> list[dict[str, Any]]:
        """Every event `deadlines.events` holds now (read up to the end offsets)."""
        consumer = AIOKafkaConsumer(
            self.events_topic,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        records: list[ConsumerRecord[bytes, bytes]] = []

        async def read_some() -> None:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                records.extend(batch)

        try:
            while not consumer.assignment():
                await read_some()
            ends = await consumer.end_offsets(list(consumer.assignment()))
            while not await _reached(consumer, ends):
                await read_some()
            return [json.loads(record.value) for record in records]
        finally:
            await consumer.stop()

    async def report(self, watcher: Watcher, **params: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=watcher.url, timeout=10) as client:
            response = await client.get("/deadlines", params=params)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    async def close(self) -> None:
        for watcher in self.watchers:
            if not watcher.task.done():
                await watcher.stop()
        if self._producer is not None:
            await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete the topics under `prefix`: every test makes a whole catalogue under its own prefix,
    and a single-node broker runs out of file handles after a few hundred catalogues."""
    async with admin_client(bootstrap) as admin:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if names:
            await admin.delete_topics(names)


@contextlib.asynccontextmanager
async def watcher_as_process(
    kafka_settings: MynaflowSettings,
    database_url: str,
    log_path: Path,
    policies: dict[str, Any],
    extra_env: Mapping[str, str] | None = None,
) -> AsyncIterator[tuple[ServiceProcess, Deployment]]:
    """The `deadline-watcher` console script (not started yet) with `policies`, and a Deployment
    on its schema and topics to talk to it. On leaving, whatever the test did, the process is
    gone, the deployment closed and the topics deleted."""
    process = service_process(
        "deadline-watcher",
        database_url=database_url,
        kafka_bootstrap=kafka_settings.kafka_bootstrap_servers,
        topic_prefix=kafka_settings.topic_prefix,
        log_path=log_path,
        extra_env={"DEADLINE_POLICIES": json.dumps(policies), "LOG_LEVEL": "WARNING"}
        | dict(extra_env or {}),
    )
    deployment = Deployment(deployment_settings(kafka_settings, database_url), "deadline_watcher")
    try:
        yield process, deployment
    finally:
        process.ensure_stopped()
        await deployment.close()
        await delete_topics(kafka_settings.kafka_bootstrap_servers, kafka_settings.topic_prefix)


async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return False
    return True


def new_schema() -> str:
    return f"dw_{uuid.uuid4().hex[:10]}"


def deployment_settings(
    kafka_settings: MynaflowSettings, database_url: str, **overrides: Any
) -> DeadlineWatcherSettings:
    values = kafka_settings.model_dump() | {"database_url": database_url, "http_port": 0}
    return DeadlineWatcherSettings(**(values | overrides))


def request(
    key: str,
    policy: str,
    *,
    due_at: datetime | None = None,
    due_on: date | None = None,
    starts_at: datetime | None = None,
) -> ScheduleDeadline:
    return ScheduleDeadline(
        key=key,
        policy=policy,
        due_at=due_at,
        due_on=due_on,
        starts_at=starts_at,
        subject=DeadlineSubject(type="test", ids={"key": key}),
        audience=DeadlineAudience(queue="records", resident_id=f"R-{key}"),
    )


def of_type(
    events: list[dict[str, Any]], suffix: str, key: str | None = None
) -> list[dict[str, Any]]:
    """Events whose type is `jp.mynaflow.deadline.<suffix>.v1` (and of `key`, when given)."""
    wanted = f"jp.mynaflow.deadline.{suffix}.v1"
    return [
        e for e in events if e["type"] == wanted and (key is None or e["data"].get("key") == key)
    ]


def stage_events(events: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """stage-reached and breached events of one key, in topic order (one partition per key)."""
    return [
        e
        for e in events
        if e["type"].rsplit(".", 2)[-2] in ("stage-reached", "breached") and e["data"]["key"] == key
    ]
