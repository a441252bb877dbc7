"""What the handlers need, built once by the composition root (`app.build`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mynaflow.domain.calendar import BusinessCalendar

from notice_intake.adapters.events import IntakeTopics
from notice_intake.domain.routing import RoutingTable

if TYPE_CHECKING:
    import asyncpg


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class IntakeDeps:
    pool: asyncpg.Pool[Any]
    routing: RoutingTable
    calendar: BusinessCalendar
    topics: IntakeTopics
    gap_grace: timedelta = timedelta(minutes=15)
    clock: Callable[[], datetime] = utc_now
    # Set when a batch opens a gap, so the gap watcher recomputes when to wake.
    gaps_changed: asyncio.Event = field(default_factory=asyncio.Event)
