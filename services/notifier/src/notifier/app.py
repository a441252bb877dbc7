"""Composition root of notifier: turns events into letters, emails and webhooks, never twice.

`build(context)` registers the subscribers (thin functions in `entrypoints/` calling handlers in
`service_layer/`), background tasks and read endpoints; `docs/platform.md` shows how.
"""

from __future__ import annotations

from mynaflow.runtime.definition import ServiceContext, ServiceDefinition, define_service

from notifier.settings import NotifierSettings

SERVICE_NAME = "notifier"


def build(context: ServiceContext[NotifierSettings]) -> None:
    """Plumbing only for now: a subscriber on a business topic without its handler would
    commit offsets past messages nobody applied."""


def definition() -> ServiceDefinition[NotifierSettings]:
    return define_service(
        SERVICE_NAME, settings_class=NotifierSettings, build=build, package_file=__file__
    )
