"""Composition root of deadline-watcher: the one place that wires the service together.

`bootstrap(context, **overrides)` builds the handlers' and the loop's dependencies (tests pass
e.g. `clock=FakeClock(...)`, `uow=FakeUnitOfWork(...)` or `instance="one"`). `build(context)`,
called by `run_service` with the pool, producer, broker and settings ready, registers the request
subscriber, the firing loop (a background task) and `GET /deadlines` on them (`register`).
"""

from __future__ import annotations

import functools
import os
import socket
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

from mynaflow.contracts.topics import DEADLINES_EVENTS
from mynaflow.runtime.definition import ServiceContext, ServiceDefinition, define_service
from mynaflow.storage.unit_of_work import PostgresUnitOfWork

from deadline_watcher.adapters.repository import SqlDeadlineReads, make_repos
from deadline_watcher.adapters.wakeup import listening
from deadline_watcher.entrypoints.http import DEADLINES_PATH, deadlines_route
from deadline_watcher.entrypoints.subscribers import register_request_subscriber
from deadline_watcher.service_layer.deps import WatcherDeps, wake_channel_for
from deadline_watcher.service_layer.loop import WatcherLoop
from deadline_watcher.settings import DeadlineWatcherSettings

SERVICE_NAME = "deadline-watcher"


def bootstrap(context: ServiceContext[DeadlineWatcherSettings], **overrides: Any) -> WatcherDeps:
    """The handlers' and the loop's dependencies, from the context and the settings."""
    settings = context.settings
    deps = WatcherDeps(
        uow=lambda: PostgresUnitOfWork(context.pool, make_repos),
        reads=SqlDeadlineReads(context.pool),
        listen=functools.partial(listening, context.pool),
        policies=settings.policies(),
        events_topic=context.topic(DEADLINES_EVENTS),
        wake_channel=wake_channel_for(context.schema),
        instance=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
        calendar=settings.business_calendar(),
        settle=timedelta(seconds=settings.catchup_settle_s),
        late_after=timedelta(seconds=settings.late_after_s),
        claim_batch=settings.claim_batch_size,
        digest_time=settings.digest_time,
        heartbeat_interval=timedelta(seconds=settings.heartbeat_interval_s),
        clock_skew_tolerance=timedelta(seconds=settings.clock_skew_tolerance_s),
        clock_skew_check=timedelta(seconds=settings.clock_skew_check_s),
    )
    return replace(deps, **overrides)


def build(context: ServiceContext[DeadlineWatcherSettings]) -> None:
    """Wire deadline-watcher: it keeps deadlines and fires their escalation stages exactly once."""
    register(context, bootstrap(context))


def register(context: ServiceContext[DeadlineWatcherSettings], deps: WatcherDeps) -> None:
    """The request subscriber, the firing loop and `GET /deadlines`, on `deps`."""
    register_request_subscriber(context, deps, context.settings.request_consumers)
    context.add_task(WatcherLoop(deps, context.stopping).run)
    context.add_route(DEADLINES_PATH, deadlines_route(deps))


def definition() -> ServiceDefinition[DeadlineWatcherSettings]:
    return define_service(
        SERVICE_NAME, settings_class=DeadlineWatcherSettings, build=build, package_file=__file__
    )
