"""A service context with settings and storage only, for handler tests against PostgreSQL.

A service's `bootstrap(context, **overrides)` reads its settings, name, schema and pool from the
context. Tests that call handlers directly need no broker, producer or HTTP server, so those
parts are stand-ins that fail loudly if anything touches them.
"""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar, cast

import asyncpg
from mynaflow.runtime.definition import ServiceContext, ServiceDefinition
from mynaflow.settings import MynaflowSettings

SettingsT = TypeVar("SettingsT", bound=MynaflowSettings)


class _Absent:
    """A part of the context this test did not start."""

    def __init__(self, part: str) -> None:
        self._part = part

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"a storage-only context has no {self._part} (asked for .{name})")


def storage_context(
    definition: ServiceDefinition[SettingsT],
    settings: SettingsT,
    pool: asyncpg.Pool[asyncpg.Record],
    *,
    schema: str | None = None,
) -> ServiceContext[SettingsT]:
    """The context `bootstrap` needs, on `pool` (whose schema is `schema`, if not the usual)."""
    return ServiceContext(
        name=definition.name,
        schema=schema or definition.schema,
        settings=settings,
        pool=pool,
        producer=cast(Any, _Absent("Kafka producer")),
        broker=cast(Any, _Absent("broker")),
        metrics=cast(Any, _Absent("metrics")),
        dead_letter=cast(Any, _Absent("dead-letter sink")),
        http=cast(Any, _Absent("HTTP server")),
    )
