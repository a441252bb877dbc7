"""What the watcher's handlers and loop need, built once by the composition root
(`app.bootstrap`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.clock import Clock, SystemClock
from mynaflow.storage.unit_of_work import UnitOfWorkFactory

from deadline_watcher.adapters.repository import DeadlineReads, WatcherRepos
from deadline_watcher.domain.catchup import LATE_AFTER
from deadline_watcher.domain.deadline import CATCHUP_SETTLE
from deadline_watcher.domain.digest import DEFAULT_DIGEST_TIME
from deadline_watcher.domain.ladder import Ladder
from deadline_watcher.domain.policies import Policy

# The inbox consumer name of the request subscriber.
REQUESTS_CONSUMER = "deadline-requests"

# Ladders kept by `WatcherDeps.ladder`. A ladder is a pure function of its key (the policy, the
# calendar and two instants: equal instants in any time zone give the same ladder). Few: what
# pays is sharing within a batch (deadlines due at one instant), and every kept ladder is more
# objects for each full garbage collection to walk.
MAX_CACHED_LADDERS = 256
LadderKey = tuple[int, int, datetime, datetime | None]


# LISTEN on a channel, setting the event on every NOTIFY, while inside; yields "still alive?".
WakeListener = Callable[[str, asyncio.Event], AbstractAsyncContextManager[Callable[[], bool]]]


@dataclass
class WatcherDeps:
    # Every change goes through one unit of work; `reads` serves single reads outside one.
    uow: UnitOfWorkFactory[WatcherRepos]
    reads: DeadlineReads
    listen: WakeListener
    policies: Mapping[str, Policy]
    events_topic: str
    # NOTIFY channel that wakes every replica's loop when a deadline is (re)scheduled.
    wake_channel: str
    instance: str
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    clock: Clock = field(default_factory=SystemClock)
    settle: timedelta = CATCHUP_SETTLE
    late_after: timedelta = LATE_AFTER
    claim_batch: int = 500
    digest_time: time = DEFAULT_DIGEST_TIME
    heartbeat_interval: timedelta = timedelta(minutes=1)
    # How far this replica's clock may run ahead of the database's before it stops firing, and
    # how often that is measured (domain/clock_skew.py).
    clock_skew_tolerance: timedelta = timedelta(seconds=2)
    clock_skew_check: timedelta = timedelta(seconds=30)
    # Set by the request handler after commit: this replica's loop looks again at once.
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    # Ladders already computed (`ladder`); not an init field, so `replace()` starts afresh.
    _ladders: dict[LadderKey, Ladder] = field(default_factory=dict, init=False, repr=False)

    def ladder(self, policy: Policy, due_at: datetime, starts_at: datetime | None) -> Ladder:
        """The ladder of `policy` for this due time, computed once for the deadlines that share
        it (a burst due at one instant, the many deadlines due at the end of one JST day)."""
        # By identity, not by value (hashing a policy walks all its stages). Safe: the cached
        # ladder holds the policy and the calendar, so neither id can be reused meanwhile.
        key = (id(policy), id(self.calendar), due_at, starts_at)
        ladder = self._ladders.get(key)
        if ladder is None:
            if len(self._ladders) >= MAX_CACHED_LADDERS:
                self._ladders.clear()  # bounded; a pass over distinct due times rebuilds them
            ladder = self._ladders[key] = Ladder(policy, due_at, self.calendar, starts_at)
        return ladder


def wake_channel_for(schema: str) -> str:
    """A LISTEN/NOTIFY channel name (at most 63 bytes) for this schema."""
    return f"{schema[:40]}_deadline_wake"
