"""The replica's clock checked against the database's before it fires (domain/clock_skew.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from deadline_watcher.adapters.metrics import CLOCK_SKEW_SECONDS, FIRING_REFUSED
from deadline_watcher.domain.clock_skew import measured_skew, refuses_to_fire
from deadline_watcher.service_layer.deps import WatcherDeps

log = logging.getLogger(__name__)


class ClockGuard:
    """Measures the skew at the first look and every `clock_skew_check` after (at every look
    while refusing, so firing resumes as soon as the clock is right again)."""

    def __init__(self, deps: WatcherDeps) -> None:
        self.deps = deps
        self.refusing = False
        self.skew: timedelta | None = None
        self._next_check: datetime | None = None

    async def allows_firing(self) -> bool:
        due = self._next_check is None or self.deps.clock.now() >= self._next_check
        if due or self.refusing:
            await self._measure()
        return not self.refusing

    async def _measure(self) -> None:
        sent_at = self.deps.clock.now()
        database_now = await self.deps.reads.database_now()
        received_at = self.deps.clock.now()
        skew = measured_skew(sent_at, database_now, received_at)
        refusing = refuses_to_fire(skew, self.deps.clock_skew_tolerance)
        self._report(skew, refusing)
        self.skew, self.refusing = skew, refusing
        self._next_check = received_at + self.deps.clock_skew_check

    def _report(self, skew: timedelta, refusing: bool) -> None:
        CLOCK_SKEW_SECONDS.set(skew.total_seconds())
        FIRING_REFUSED.set(int(refusing))
        details = {
            "skew_s": round(skew.total_seconds(), 3),
            "tolerance_s": self.deps.clock_skew_tolerance.total_seconds(),
        }
        if refusing:
            log.error(
                "this replica's clock runs ahead of the database's; refusing to fire", extra=details
            )
        elif self.refusing:
            log.warning(
                "clock back within tolerance of the database's; firing again", extra=details
            )
        elif -skew > self.deps.clock_skew_tolerance:
            log.warning(
                "this replica's clock runs behind the database's; stages fire late", extra=details
            )
