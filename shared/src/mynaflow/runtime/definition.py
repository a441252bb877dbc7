"""What a service is, to the runtime: its definition, and the context its `build` wires it from.

A service's `app.py` calls `define_service(name, settings_class=..., build=..., package_file=
__file__)`; `mynaflow.runtime.runner.run_service(definition)` runs it. `build(context)` gets a
`ServiceContext` whose parts are all ready: pool, producer, broker, metrics, dead-letter sink.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.subscriber.usecase import BatchSubscriber, DefaultSubscriber

from mynaflow.contracts.topics import TopicSpec, topic_name
from mynaflow.messaging.dead_letter import DeadLetterSink
from mynaflow.messaging.reliable_consume import RetryPolicy, reliable_subscriber
from mynaflow.runtime.http import RouteHandler, ServiceHttpApp
from mynaflow.runtime.metrics import ServiceMetrics
from mynaflow.settings import MynaflowSettings

__all__ = [
    "INBOX_BATCH",
    "ServiceContext",
    "ServiceDefinition",
    "SettingsT",
    "TaskFactory",
    "define_service",
    "migrations_dir_for",
    "schema_for",
]

SettingsT = TypeVar("SettingsT", bound=MynaflowSettings)
TaskFactory = Callable[[], Awaitable[None]]
# Records per batch of `ServiceContext.inbox_batch_subscriber`: enough to share a commit's round
# trip among many, few enough that a batch replayed record by record after a fault is short.
INBOX_BATCH = 200


def migrations_dir_for(package_file: str) -> Path:
    """A service's `migrations/` folder in the workspace layout.

    `services/<name>/src/<pkg>/<module>.py` → `services/<name>/migrations`. A deployment that keeps
    them elsewhere sets `MIGRATIONS_DIR` (`MynaflowSettings.migrations_dir`), which the runner
    prefers.
    """
    return Path(package_file).resolve().parents[2] / "migrations"


def schema_for(service: str) -> str:
    """The PostgreSQL schema of a service: its name with `-` → `_` (`notice_intake`)."""
    return service.replace("-", "_")


@dataclass(frozen=True)
class ServiceDefinition(Generic[SettingsT]):
    """What `run_service` needs to know about a service."""

    name: str
    schema: str
    migrations_dir: Path
    settings_class: type[SettingsT]
    build: Callable[[ServiceContext[SettingsT]], None]


def define_service(
    name: str,
    *,
    settings_class: type[SettingsT],
    build: Callable[[ServiceContext[SettingsT]], None],
    package_file: str,
) -> ServiceDefinition[SettingsT]:
    """The usual definition: schema from the name, migrations next to the package's `src/`."""
    return ServiceDefinition(
        name=name,
        schema=schema_for(name),
        migrations_dir=migrations_dir_for(package_file),
        settings_class=settings_class,
        build=build,
    )


@dataclass
class ServiceContext(Generic[SettingsT]):
    """What `build(context)` wires a service from; everything here is ready when it is called."""

    name: str
    schema: str
    settings: SettingsT
    pool: asyncpg.Pool[asyncpg.Record]
    producer: AIOKafkaProducer
    broker: KafkaBroker
    metrics: ServiceMetrics
    dead_letter: DeadLetterSink
    http: ServiceHttpApp
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[TaskFactory] = field(default_factory=list)
    # Every topic a subscriber of this service reads: the runner checks at start-up that the
    # inbox outlives their retention (`mynaflow.runtime.retention_check`).
    consumed_topics: list[TopicSpec | str] = field(default_factory=list)

    @property
    def group_id(self) -> str:
        """The service's logical consumer group (the topic prefix is added when subscribing)."""
        return self.name

    def topic(self, spec: TopicSpec | str) -> str:
        """The physical name of a topic under this deployment's prefix (for the outbox)."""
        if isinstance(spec, TopicSpec):
            return topic_name(spec, self.settings.topic_prefix)
        return f"{self.settings.topic_prefix}{spec}"

    def subscriber(
        self,
        topic: TopicSpec | str,
        *more_topics: TopicSpec | str,
        router: KafkaRouter | None = None,
        batch: bool = False,
        max_records: int | None = None,
        retry: RetryPolicy | None = None,
        **options: Any,
    ) -> DefaultSubscriber | BatchSubscriber:
        """`reliable_subscriber` with this service's group and dead-letter sink.

        All of a service's subscribers share its consumer group (`mynaflow status` reads its
        lag); each is one consumer, and Kafka rebalances them together when one joins or
        leaves, so prefer one subscriber over several topics to many subscribers.
        """
        self.consumed_topics.extend((topic, *more_topics))
        return reliable_subscriber(
            router or self.broker,
            topic,
            *more_topics,
            group_id=self.group_id,
            dead_letter=self.dead_letter,
            batch=batch,
            max_records=max_records,
            retry=retry,
            **options,
        )

    def inbox_batch_subscriber(
        self, topic: TopicSpec | str, *more_topics: TopicSpec | str
    ) -> BatchSubscriber:
        """A batch subscriber for handlers that claim every event they act on in the inbox.

        The handler gets up to `INBOX_BATCH` records and handles them in order, each in its own
        transaction; the batch's offsets are committed once, while the next batch is fetched.
        One record at a time, each waiting for its own offset commit's round trip (~6 ms),
        caps a consumer at ~115 records a second (docs/BENCHMARKS.md, "Full flow"). Safe only
        because of the claims: a batch read again, or retried after a transient fault, finds
        its applied events claimed and changes nothing twice; a record that fails makes the
        platform replay its batch record by record, so only that one is dead-lettered.
        """
        subscriber = self.subscriber(
            topic, *more_topics, batch=True, max_records=INBOX_BATCH, background_commit=True
        )
        return cast("BatchSubscriber", subscriber)  # batch=True makes one

    def add_task(self, task: TaskFactory) -> None:
        """Run `await task()` in the background once consumers run; cancelled at shutdown.

        A task may also watch `context.stopping` to return on its own.
        """
        self.tasks.append(task)

    def add_route(self, path: str, handler: RouteHandler) -> None:
        """Serve `GET path` with `await handler(query_params)`, answered as JSON."""
        self.http.add_route(path, handler)
