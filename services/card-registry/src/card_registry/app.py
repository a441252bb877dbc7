"""Composition root of card-registry: cards, notices' work state and move-in cases.

`build(context)` registers the subscribers (thin functions in `entrypoints/` calling handlers in
`service_layer/`), background tasks and read endpoints; `docs/platform.md` shows how.
"""

from __future__ import annotations

from mynaflow.runtime.definition import ServiceContext, ServiceDefinition, define_service

from card_registry.settings import CardRegistrySettings

SERVICE_NAME = "card-registry"


def build(context: ServiceContext[CardRegistrySettings]) -> None:
    """Plumbing only for now: a subscriber on a business topic without its handler would
    commit offsets past messages nobody applied."""


def definition() -> ServiceDefinition[CardRegistrySettings]:
    return define_service(
        SERVICE_NAME, settings_class=CardRegistrySettings, build=build, package_file=__file__
    )
