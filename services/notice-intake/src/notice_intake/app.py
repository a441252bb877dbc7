"""Composition root of notice-intake: the one place that wires the service together.

`build(context)` is called by `run_service` with the pool, producer, broker and settings ready.
It registers subscribers (`context.subscriber(TOPIC)` decorating a thin function in
`entrypoints/` that calls a handler in `service_layer/`), background tasks (`context.add_task`)
and HTTP read endpoints (`context.add_route`). Tests call `definition()` and `build` with other
parts.
"""

from __future__ import annotations

from mynaflow.runtime.service import (
    ServiceContext,
    ServiceDefinition,
    migrations_dir_for,
    schema_for,
)

from notice_intake.settings import NoticeIntakeSettings

SERVICE_NAME = "notice-intake"


def build(context: ServiceContext[NoticeIntakeSettings]) -> None:
    """Wire notice-intake: it validates, stores and receipts raw J-LIS notices.

    Plumbing only for now: no subscriber yet, because one that consumed a business topic
    without its handler would commit offsets past messages nobody applied.
    """


def definition() -> ServiceDefinition[NoticeIntakeSettings]:
    return ServiceDefinition(
        name=SERVICE_NAME,
        schema=schema_for(SERVICE_NAME),
        migrations_dir=migrations_dir_for(__file__),
        settings_class=NoticeIntakeSettings,
        build=build,
    )
