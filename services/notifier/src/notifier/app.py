"""Composition root of notifier: turns events into letters, emails, SMS and webhooks, never twice.

`bootstrap(context, **overrides)` builds the handlers' dependencies (tests pass
`clock=FakeClock(...)`, `uow=FakeUnitOfWork(...)`, `senders={...}`); `build(context)` calls it
and registers the subscriber, the background tasks (delivery worker, held-event retry, the
silent-watcher check) and `GET /deliveries`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta
from typing import Any

import httpx
from mynaflow.contracts.notifier import Channel
from mynaflow.contracts.topics import NOTIFIER_DELIVERIES
from mynaflow.runtime.definition import ServiceContext, ServiceDefinition, define_service
from mynaflow.storage.unit_of_work import PostgresUnitOfWork

from notifier.adapters.config_files import load_routing, load_staff
from notifier.adapters.http_channels import sms_sender, webhook_sender
from notifier.adapters.letter_sender import LetterSender
from notifier.adapters.letters import LetterWriter, load_font
from notifier.adapters.metrics import UNROUTED_EVENTS, count_deliveries
from notifier.adapters.repository import make_repos_for
from notifier.adapters.smtp import SmtpConfig, SmtpSender
from notifier.domain.quiet_hours import QuietHours
from notifier.domain.retry import RetrySchedule
from notifier.entrypoints.http import DELIVERIES_PATH, deliveries_route
from notifier.entrypoints.subscribers import register_subscribers
from notifier.service_layer.deps import NotifierDeps
from notifier.service_layer.ports import ChannelSender
from notifier.service_layer.tasks import run_delivery_worker, run_held_retries, run_watcher_check
from notifier.settings import NotifierSettings

SERVICE_NAME = "notifier"


def smtp_config(settings: NotifierSettings) -> SmtpConfig:
    host, port = settings.smtp_host_port()
    return SmtpConfig(
        host,
        port,
        settings.mail_from,
        starttls=settings.smtp_starttls,
        ca_file=settings.smtp_ca_file,
        username=settings.smtp_username,
        password=settings.smtp_password,
        timeout_s=settings.smtp_timeout_s,
    )


def _senders(settings: NotifierSettings) -> dict[Channel, ChannelSender]:
    # Fails at start-up when the font is missing: a letter must never be printed without it.
    font = load_font(settings.letter_font_path)
    client = httpx.AsyncClient(timeout=settings.http_timeout_s)
    senders: dict[Channel, ChannelSender] = {
        "letter": LetterSender(LetterWriter(settings.letters_dir, font, settings.ward())),
        "email": SmtpSender(smtp_config(settings)),
        "webhook": webhook_sender(client),
    }
    if settings.sms_gateway_url:
        senders["sms"] = sms_sender(client, settings.sms_gateway_url)
    return senders


def _time(text: str) -> time:
    return time.fromisoformat(text)


def bootstrap(context: ServiceContext[NotifierSettings], **overrides: Any) -> NotifierDeps:
    """The handlers' dependencies from the context and settings; `overrides` replace fields."""
    settings = context.settings
    routing_files = [settings.routing_file] if settings.routing_file else []
    staff_files = [settings.staff_file] if settings.staff_file else []
    make_repos = make_repos_for(settings.topic_prefix)
    senders = overrides.pop("senders") if "senders" in overrides else _senders(settings)
    deps = NotifierDeps(
        uow=lambda: PostgresUnitOfWork(context.pool, make_repos),
        senders=senders,
        routing=load_routing(routing_files),
        staff=load_staff(staff_files),
        deliveries_topic=context.topic(NOTIFIER_DELIVERIES),
        ward=settings.ward(),
        letters_dir=settings.letters_dir,
        window=timedelta(seconds=settings.aggregation_window_s),
        quiet=QuietHours(_time(settings.quiet_hours_start), _time(settings.quiet_hours_end)),
        retry=RetrySchedule(
            timedelta(seconds=settings.retry_first_delay_s),
            timedelta(seconds=settings.retry_max_delay_s),
            settings.retry_max_attempts,
        ),
        hold_for=timedelta(seconds=settings.unknown_recipient_hold_s),
        silence=timedelta(seconds=settings.watcher_silence_s),
        sms_enabled=bool(settings.sms_gateway_url),
        staff_webhook_url=settings.staff_webhook_url,
        on_unrouted=lambda event_type: UNROUTED_EVENTS.labels(event_type).inc(),
        on_delivery_status=count_deliveries,
    )
    return replace(deps, **overrides)


def build(context: ServiceContext[NotifierSettings]) -> None:
    """Wire the notifier: events in, deliveries out, never twice."""
    register(context, bootstrap(context))


def register(context: ServiceContext[NotifierSettings], deps: NotifierDeps) -> None:
    """The subscriber, the three background loops and `GET /deliveries`, on `deps`."""
    register_subscribers(context, deps)
    context.add_task(lambda: run_delivery_worker(deps, context.stopping))
    context.add_task(lambda: run_held_retries(deps, context.stopping))
    context.add_task(lambda: run_watcher_check(deps, context.stopping))
    context.add_route(DELIVERIES_PATH, deliveries_route(deps))


def definition() -> ServiceDefinition[NotifierSettings]:
    return define_service(
        SERVICE_NAME, settings_class=NotifierSettings, build=build, package_file=__file__
    )
