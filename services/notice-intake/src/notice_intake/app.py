"""Composition root of notice-intake: the one place that wires the service together.

`build(context)` is called by `run_service` with the pool, producer, broker and settings ready.
It checks the routing configuration (a known kind with no owner queue stops the start-up),
registers the batch subscriber on `jlis.notices.raw`, the gap watcher, and `GET /stats`.
Tests call `definition()` and `build` with other parts, or `bootstrap(...)` for the handlers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import asyncpg
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.runtime.service import (
    ServiceContext,
    ServiceDefinition,
    migrations_dir_for,
    schema_for,
)

from notice_intake.adapters.events import SERVICE_NAME, IntakeTopics
from notice_intake.entrypoints.subscriber import register_intake_subscriber
from notice_intake.service_layer.deps import IntakeDeps
from notice_intake.service_layer.gap_watch import watch_sequence_gaps
from notice_intake.service_layer.stats import intake_stats
from notice_intake.settings import NoticeIntakeSettings


def bootstrap(pool: asyncpg.Pool[Any], settings: NoticeIntakeSettings) -> IntakeDeps:
    """The handlers' dependencies from settings; raises on an unusable routing configuration."""
    return IntakeDeps(
        pool=pool,
        routing=settings.routing_table(),
        calendar=BusinessCalendar.from_settings_string(
            settings.ward_closures, settings.ward_open_days
        ),
        topics=IntakeTopics(settings.topic_prefix),
        gap_grace=timedelta(seconds=settings.sequence_gap_grace_s),
    )


def build(context: ServiceContext[NoticeIntakeSettings]) -> None:
    """Wire notice-intake: subscriber, gap watcher, read endpoints."""
    settings = context.settings
    deps = bootstrap(context.pool, settings)
    register_intake_subscriber(context, deps, max_records=settings.intake_batch_max_records)

    async def gap_watcher() -> None:
        await watch_sequence_gaps(deps, context.stopping)

    async def stats(query: Mapping[str, str]) -> dict[str, Any]:
        return await intake_stats(deps, query)

    context.add_task(gap_watcher)
    context.add_route("/stats", stats)


def definition() -> ServiceDefinition[NoticeIntakeSettings]:
    return ServiceDefinition(
        name=SERVICE_NAME,
        schema=schema_for(SERVICE_NAME),
        migrations_dir=migrations_dir_for(__file__),
        settings_class=NoticeIntakeSettings,
        build=build,
    )
