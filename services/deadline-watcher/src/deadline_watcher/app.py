"""Composition root of deadline-watcher: the one place that wires the service together.

`build(context)` is called by `run_service` with the pool, producer, broker and settings ready.
It registers subscribers (`context.subscriber(TOPIC)` decorating a thin function in
`entrypoints/` that calls a handler in `service_layer/`), background tasks (`context.add_task`)
and HTTP read endpoints (`context.add_route`). Tests call `definition()` and `build` with other
parts.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from mynaflow.contracts.topics import DEADLINES_EVENTS
from mynaflow.domain.clock import Clock, SystemClock
from mynaflow.runtime.definition import (
    ServiceContext,
    ServiceDefinition,
    migrations_dir_for,
    schema_for,
)

from deadline_watcher.entrypoints.http import DEADLINES_PATH, deadlines_route
from deadline_watcher.entrypoints.subscribers import register_request_subscriber
from deadline_watcher.service_layer.deps import WatcherDeps, wake_channel_for
from deadline_watcher.service_layer.loop import WatcherLoop
from deadline_watcher.settings import DeadlineWatcherSettings

SERVICE_NAME = "deadline-watcher"


def watcher_deps(context: ServiceContext[DeadlineWatcherSettings], clock: Clock) -> WatcherDeps:
    """The handlers' and the loop's dependencies, from the context and the settings."""
    settings = context.settings
    return WatcherDeps(
        pool=context.pool,
        policies=settings.policies(),
        events_topic=context.topic(DEADLINES_EVENTS),
        wake_channel=wake_channel_for(context.schema),
        instance=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
        calendar=settings.business_calendar(),
        clock=clock,
        settle=timedelta(seconds=settings.catchup_settle_s),
        late_after=timedelta(seconds=settings.late_after_s),
        claim_batch=settings.claim_batch_size,
        digest_time=settings.digest_time,
        heartbeat_interval=timedelta(seconds=settings.heartbeat_interval_s),
    )


def build(context: ServiceContext[DeadlineWatcherSettings]) -> None:
    """Wire deadline-watcher: it keeps deadlines and fires their escalation stages exactly once."""
    build_with(context, SystemClock())


def build_with(context: ServiceContext[DeadlineWatcherSettings], clock: Clock) -> WatcherDeps:
    """`build` with a chosen clock; returns the dependencies so tests can look inside.

    The request subscriber, the firing loop (a background task) and `GET /deadlines`.
    """
    deps = watcher_deps(context, clock)
    register_request_subscriber(context, deps)
    loop = WatcherLoop(deps, context.stopping)
    context.add_task(loop.run)
    context.add_route(DEADLINES_PATH, deadlines_route(deps))
    return deps


def definition() -> ServiceDefinition[DeadlineWatcherSettings]:
    return ServiceDefinition(
        name=SERVICE_NAME,
        schema=schema_for(SERVICE_NAME),
        migrations_dir=migrations_dir_for(__file__),
        settings_class=DeadlineWatcherSettings,
        build=build,
    )
