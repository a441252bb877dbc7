"""Running card-registry in a test: in-process on the real Kafka and PostgreSQL, fed through its
topics and read back from `registry.events`, `deadlines.requests` and its read endpoints.

Each test gets its own schema and topic prefix (the `kafka_settings` fixture's).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import card_registry.app as _app_module
import httpx
from aiokafka import AIOKafkaProducer
from card_registry.app import SERVICE_NAME, bootstrap, register
from card_registry.service_layer.deps import RegistryDeps
from card_registry.settings import CardRegistrySettings
from mynaflow.contracts.envelope import (
    CLOUDEVENTS_CONTENT_TYPE,
    CloudEvent,
    encode_event,
    make_event,
)
from mynaflow.contracts.intake import NOTICE_ACKNOWLEDGED_V1, NoticeAcknowledged
from mynaflow.contracts.resident import MOVED_IN_V1, ResidentMovedIn, resident_event
from mynaflow.contracts.topics import (
    DEADLINES_REQUESTS,
    INTAKE_RECEIPTS,
    REGISTRY_COMMANDS,
    REGISTRY_EVENTS,
    RESIDENT_MOVES,
    TopicSpec,
    topic_name,
)
from mynaflow.domain.time import JST
from mynaflow.messaging.topics_admin import kafka_client_options
from mynaflow.runtime.definition import ServiceContext, ServiceDefinition, migrations_dir_for
from mynaflow.settings import MynaflowSettings
from mynaflow.storage.pool import create_pool

from mynaflow_testing.kafka_helpers import consume_until
from mynaflow_testing.service import RunningService, start_service

MIGRATIONS = migrations_dir_for(_app_module.__file__)
Events = list[dict[str, Any]]


def registry_settings(
    kafka_settings: MynaflowSettings, database_url: str, **overrides: Any
) -> CardRegistrySettings:
    values = kafka_settings.model_dump() | {"database_url": database_url, "http_port": 0}
    return CardRegistrySettings(**(values | overrides))


def new_schema() -> str:
    return f"cr_{uuid.uuid4().hex[:10]}"


@dataclass
class RegistryRun:
    """One running card-registry, a producer onto its inputs, and readers of its outputs."""

    service: RunningService[CardRegistrySettings]
    deps: RegistryDeps
    schema: str
    _producer: AIOKafkaProducer | None = None
    _pool: asyncpg.Pool[asyncpg.Record] | None = None
    _sent: list[str] = field(default_factory=list)

    @property
    def settings(self) -> CardRegistrySettings:
        return self.service.settings

    @property
    def url(self) -> str:
        return self.service.url

    def topic(self, spec: TopicSpec) -> str:
        return topic_name(spec, self.settings.topic_prefix)

    async def _send(self, spec: TopicSpec, events: Sequence[CloudEvent[Any]]) -> None:
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                acks="all", linger_ms=5, **kafka_client_options(self.settings)
            )
            await self._producer.start()
        producer = self._producer
        futures = [
            await producer.send(
                self.topic(spec),
                encode_event(event),
                key=(event.subject or event.id).encode(),
                headers=[("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())],
            )
            for event in events
        ]
        await asyncio.gather(*futures)

    async def commands(self, *events: CloudEvent[Any]) -> None:
        await self._send(REGISTRY_COMMANDS, events)

    async def moves(self, *events: CloudEvent[Any]) -> None:
        await self._send(RESIDENT_MOVES, events)

    async def receipts(self, *events: CloudEvent[Any]) -> None:
        await self._send(INTAKE_RECEIPTS, events)

    async def _read(
        self, spec: TopicSpec, until: Callable[[Events], bool], timeout_s: float
    ) -> Events:
        def decoded(records: Sequence[Any]) -> Events:
            return [json.loads(record.value) for record in records if record.value]

        records = await consume_until(
            self.settings, self.topic(spec), lambda rs: until(decoded(rs)), timeout_s=timeout_s
        )
        return decoded(records)

    async def events_until(
        self, until: Callable[[Events], bool], timeout_s: float = 60.0
    ) -> Events:
        """`registry.events` from the start, once `until` holds."""
        return await self._read(REGISTRY_EVENTS, until, timeout_s)

    async def requests_until(
        self, until: Callable[[Events], bool], timeout_s: float = 60.0
    ) -> Events:
        """`deadlines.requests` from the start, once `until` holds."""
        return await self._read(DEADLINES_REQUESTS, until, timeout_s)

    async def answer_to(self, command: CloudEvent[Any], timeout_s: float = 60.0) -> dict[str, Any]:
        """The `command-accepted` or `command-rejected` event answering `command`."""
        events = await self.events_until(
            lambda es: bool(answers(es, command.id)), timeout_s=timeout_s
        )
        (answer,) = answers(events, command.id)
        return answer

    async def pool(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._pool is None:
            self._pool = await create_pool(self.settings.database_url, schema=self.schema)
        return self._pool

    async def get(self, path: str, headers: dict[str, str] | None = None, **params: str) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.get(path, params=params, headers=headers)
            response.raise_for_status()
            return response.json()

    async def close(self) -> None:
        if not self.service.task.done():
            await self.service.stop()
        if self._producer is not None:
            await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()


def moved_in(
    resident_id: str,
    card_id: str | None = None,
    *,
    notified_on: date = date(2022, 3, 15),
    household_id: str = "H-1",
) -> ResidentMovedIn:
    """A move-in with made-up (never real) personal data; the card, when given, is presented."""
    return ResidentMovedIn(
        resident_id=resident_id,
        household_id=household_id,
        notified_on=notified_on,
        moved_in_on=notified_on.replace(day=1),
        name="中区 花子",
        address="横浜市中区日本大通35",
        birth_date=date(1985, 7, 1),
        card_id=card_id,
        card_presented=card_id is not None,
    )


def moved_in_event(resident_id: str, card_id: str | None = None, **fields: Any) -> CloudEvent[Any]:
    """`moved_in(...)` as the resident registry publishes it."""
    return resident_event(moved_in(resident_id, card_id, **fields), event_type=MOVED_IN_V1)


def record_update_receipt(n: int, queue: str) -> NoticeAcknowledged:
    """The `n`th accepted record-update notice of 2022 (Case 1's kind), owned by `queue`."""
    issued = datetime(2022, 4, 1, 10, tzinfo=JST) + timedelta(days=3 * n)
    return NoticeAcknowledged(
        receipt_id=uuid.uuid4(),
        notice_id=f"JLIS-2022-{n:04}",
        status="accepted",
        kind="record_update_required",
        issued_at=issued,
        application_id=f"AP-{n:04}",
        resident_ref=f"R-{n:04}",
        sequence=n,
        details=None,
        owner_queue=queue,
        received_at=issued + timedelta(minutes=5),
        sla_due_on=(issued + timedelta(days=5)).date(),
    )


def receipt_event(receipt: NoticeAcknowledged) -> CloudEvent[Any]:
    """`receipt` as notice-intake publishes it on `intake.receipts`."""
    return make_event(
        source="notice-intake",
        event_type=NOTICE_ACKNOWLEDGED_V1,
        data=receipt,
        subject=receipt.kafka_key(),
    )


def answers(events: Events, command_id: str) -> Events:
    """The answers (accepted or rejected) to one command, in topic order."""
    return [
        e
        for e in events
        if e["type"].startswith("jp.mynaflow.registry.command-")
        and e["data"].get("command_id") == command_id
    ]


def of_type(events: Events, action: str, subject: str | None = None) -> Events:
    """Registry events `jp.mynaflow.registry.<action>.v1` (of `subject`, when given)."""
    wanted = f"jp.mynaflow.registry.{action}.v1"
    return [e for e in events if e["type"] == wanted and subject in (None, e["subject"])]


async def start_registry(
    settings: CardRegistrySettings, *, schema: str | None = None, **deps_overrides: Any
) -> RegistryRun:
    """Run card-registry in this event loop on its own schema; fails loudly if it does not start."""
    schema = schema or new_schema()
    built: list[RegistryDeps] = []

    def build(context: ServiceContext[CardRegistrySettings]) -> None:
        built.append(bootstrap(context, **deps_overrides))
        register(context, built[-1])

    definition = ServiceDefinition(
        name=SERVICE_NAME,
        schema=schema,
        migrations_dir=MIGRATIONS,
        settings_class=CardRegistrySettings,
        build=build,
    )
    return RegistryRun(await start_service(definition, settings), built[0], schema)
