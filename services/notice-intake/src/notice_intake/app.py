"""Composition root of notice-intake: the one place that wires the service together.

`bootstrap(context, **overrides)` builds the handlers' dependencies (tests pass e.g.
`clock=FakeClock(...)` or `uow=FakeUnitOfWork(...)`); it checks the routing configuration, so a
known kind with no owner queue stops the start-up. `build(context)`, called by `run_service`
with the pool, producer, broker and settings ready, registers the batch subscriber on
`jlis.notices.raw`, the gap watcher and `GET /stats` on them (`register`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from mynaflow.runtime.definition import ServiceContext, ServiceDefinition, define_service
from mynaflow.storage.unit_of_work import PostgresUnitOfWork

from notice_intake.adapters.repository import make_repos
from notice_intake.adapters.repository.reports import SqlIntakeReads
from notice_intake.entrypoints.http import STATS_PATH, stats_route
from notice_intake.entrypoints.subscribers import register_intake_subscriber
from notice_intake.entrypoints.workers import supervise_workers, worker_parent_pid
from notice_intake.service_layer.deps import IntakeDeps, IntakeTopics
from notice_intake.service_layer.gap_watch import watch_sequence_gaps
from notice_intake.settings import NoticeIntakeSettings

SERVICE_NAME = "notice-intake"


def bootstrap(context: ServiceContext[NoticeIntakeSettings], **overrides: Any) -> IntakeDeps:
    """The handlers' dependencies from the context; raises on an unusable routing table."""
    settings = context.settings
    deps = IntakeDeps(
        uow=lambda: PostgresUnitOfWork(context.pool, make_repos),
        reads=SqlIntakeReads(context.pool),
        routing=settings.routing_table(),
        calendar=settings.business_calendar(),
        topics=IntakeTopics(settings.topic_prefix),
        service=context.name,
        gap_grace=timedelta(seconds=settings.sequence_gap_grace_s),
    )
    return replace(deps, **overrides)


def build(context: ServiceContext[NoticeIntakeSettings]) -> None:
    """Wire notice-intake: subscriber, gap watcher, read endpoints."""
    register(context, bootstrap(context))


def register(context: ServiceContext[NoticeIntakeSettings], deps: IntakeDeps) -> None:
    """The batch subscriber, the gap watcher and `GET /stats`, on `deps`."""
    register_intake_subscriber(context, deps)

    async def gap_watcher() -> None:
        await watch_sequence_gaps(deps, context.stopping)

    context.add_task(gap_watcher)
    context.add_route(STATS_PATH, stats_route(deps))
    workers = context.settings.intake_workers - 1
    if workers > 0 and worker_parent_pid() is None:
        grace_s = context.settings.shutdown_grace_s

        async def intake_workers() -> None:
            await supervise_workers(workers, context.stopping, grace_s)

        context.add_task(intake_workers)


def definition() -> ServiceDefinition[NoticeIntakeSettings]:
    return define_service(
        SERVICE_NAME, settings_class=NoticeIntakeSettings, build=build, package_file=__file__
    )
