"""What the notifier's handlers and background tasks need, wired once in `app.bootstrap`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from mynaflow.contracts.notifier import Channel
from mynaflow.domain.clock import Clock, SystemClock
from mynaflow.storage.unit_of_work import UnitOfWork

from notifier.adapters.templates import TemplateRenderer
from notifier.domain.aggregation import DEFAULT_WINDOW
from notifier.domain.content import WardInfo
from notifier.domain.quiet_hours import QuietHours
from notifier.domain.retry import RetrySchedule
from notifier.domain.routing import RoutingTable
from notifier.domain.staff import StaffDirectory
from notifier.domain.watcher_silence import DEFAULT_SILENCE
from notifier.service_layer.ports import ChannelSender, NotifierRepos

# Inbox consumer names: one per subscriber.
EVENTS_CONSUMER = "notifier-events"
COMMANDS_CONSUMER = "notifier-commands"


def _count_nothing(event_type: str) -> None:
    """Default unrouted hook (tests); the service counts in a Prometheus metric."""


def _count_no_deliveries(channel: str, status: str, count: int) -> None:
    """Default delivery-status hook (tests); the service counts in a Prometheus metric."""


@dataclass
class NotifierDeps:
    uow: Callable[[], UnitOfWork[NotifierRepos]]
    senders: Mapping[Channel, ChannelSender]
    routing: RoutingTable
    staff: StaffDirectory
    deliveries_topic: str
    ward: WardInfo
    letters_dir: Path
    renderer: TemplateRenderer = field(default_factory=TemplateRenderer)
    clock: Clock = field(default_factory=SystemClock)
    window: timedelta = DEFAULT_WINDOW
    quiet: QuietHours = field(default_factory=QuietHours)
    retry: RetrySchedule = field(default_factory=RetrySchedule)
    hold_for: timedelta = timedelta(minutes=5)
    silence: timedelta = DEFAULT_SILENCE
    sms_enabled: bool = False
    staff_webhook_url: str | None = None
    on_unrouted: Callable[[str], None] = _count_nothing
    # (channel, status, how many): counted as they are recorded (Prometheus in the service).
    on_delivery_status: Callable[[str, str, int], None] = _count_no_deliveries
    # Set after a commit that queued a message due now: the delivery worker looks at once.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
