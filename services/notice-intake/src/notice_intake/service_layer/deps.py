"""What the handlers need, built once by the composition root (`app.bootstrap`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from mynaflow.contracts.topics import DEADLINES_REQUESTS, INTAKE_RECEIPTS, topic_name
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.clock import Clock, SystemClock
from mynaflow.storage.unit_of_work import UnitOfWorkFactory

from notice_intake.adapters.repository import IntakeRepos
from notice_intake.adapters.repository.reports import IntakeReads
from notice_intake.domain.routing import RoutingTable


@dataclass(frozen=True)
class IntakeTopics:
    """Physical topic names under the deployment's prefix."""

    prefix: str = ""

    @property
    def receipts(self) -> str:
        return topic_name(INTAKE_RECEIPTS, self.prefix)

    @property
    def deadline_requests(self) -> str:
        return topic_name(DEADLINES_REQUESTS, self.prefix)


@dataclass
class IntakeDeps:
    # Every change goes through one unit of work; `reads` serves reports outside transactions.
    uow: UnitOfWorkFactory[IntakeRepos]
    reads: IntakeReads
    routing: RoutingTable
    calendar: BusinessCalendar
    topics: IntakeTopics
    service: str
    gap_grace: timedelta = timedelta(minutes=15)
    clock: Clock = field(default_factory=SystemClock)
    # Set when a batch opens a gap, so the gap watcher recomputes when to wake.
    gaps_changed: asyncio.Event = field(default_factory=asyncio.Event)
