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
from typing import Any, Generic, TypeVar

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

    def add_task(self, task: TaskFactory) -> None:
        """Run `await task()` in the background once consumers run; cancelled at shutdown.

        A task may also watch `context.stopping` to return on its own.
        """
        self.tasks.append(task)

    def add_route(self, path: str, handler: RouteHandler) -> None:
        """Serve `GET path` with `await handler(query_params)`, answered as JSON."""
        self.http.add_route(path, handler)
