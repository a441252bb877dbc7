"""Composition root of card-registry: cards, notices' work state and move-in cases.

`bootstrap(context, **overrides)` builds the handlers' dependencies (tests pass
`clock=FakeClock(...)`, `uow=FakeUnitOfWork(...)`); `build(context)` calls it and registers the
subscriber, the periodic sweep of parked commands and the read endpoints.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from mynaflow.contracts.topics import DEADLINES_REQUESTS, REGISTRY_EVENTS
from mynaflow.runtime.definition import ServiceContext, ServiceDefinition, define_service
from mynaflow.storage.unit_of_work import PostgresUnitOfWork

from card_registry.adapters.repository import make_repos
from card_registry.domain.pickup import PickupPeriods
from card_registry.entrypoints.http import register_routes
from card_registry.entrypoints.subscribers import register_subscribers
from card_registry.service_layer.deps import RegistryDeps
from card_registry.service_layer.tasks import sweep_parked_commands
from card_registry.settings import CardRegistrySettings

SERVICE_NAME = "card-registry"


def bootstrap(context: ServiceContext[CardRegistrySettings], **overrides: Any) -> RegistryDeps:
    """The handlers' dependencies from the context and settings; `overrides` replace fields."""
    settings = context.settings
    deps = RegistryDeps(
        uow=lambda: PostgresUnitOfWork(context.pool, make_repos),
        events_topic=context.topic(REGISTRY_EVENTS),
        requests_topic=context.topic(DEADLINES_REQUESTS),
        card_queue=settings.card_queue,
        unknown_wait=timedelta(seconds=settings.unknown_wait_s),
        pickup=PickupPeriods(
            settings.card_pickup_notice_days,
            settings.card_pickup_re_notice_days,
            settings.card_destroy_after_application_days,
        ),
    )
    return replace(deps, **overrides)


def build(context: ServiceContext[CardRegistrySettings]) -> None:
    """Wire card-registry: notice work, move-in cases, the card lifecycle and their reports."""
    register(context, bootstrap(context))


def register(context: ServiceContext[CardRegistrySettings], deps: RegistryDeps) -> None:
    """The subscriber of the four inputs, the sweep of parked commands and the read routes."""
    register_subscribers(context, deps)
    context.add_task(
        lambda: sweep_parked_commands(deps, context.stopping, context.settings.pending_sweep_s)
    )
    register_routes(context, deps)


def definition() -> ServiceDefinition[CardRegistrySettings]:
    return define_service(
        SERVICE_NAME, settings_class=CardRegistrySettings, build=build, package_file=__file__
    )
