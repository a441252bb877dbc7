"""The watcher's loop: fire what is due, then sleep until the next due time or a wake-up.

It never polls busily: it sleeps until the soonest of (the next stage due, the next heartbeat,
the next digest), or until a request handler (in this replica, or in any other through
PostgreSQL NOTIFY) schedules something that may be sooner. A failure (the database away) is
logged and retried with backoff; the loop outlives it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

from mynaflow.runtime.loops import Backoff, resilient_loop, sleep_until_woken_or_stopping

from deadline_watcher.adapters.metrics import LOOP_CYCLES, NEXT_DUE_SECONDS
from deadline_watcher.domain.digest import next_digest_at
from deadline_watcher.service_layer.clock_guard import ClockGuard
from deadline_watcher.service_layer.deps import WatcherDeps
from deadline_watcher.service_layer.firing import emit_digest_if_due, emit_heartbeat, fire_due

log = logging.getLogger(__name__)

_FIRST_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 15.0
_HELD_ELSEWHERE_S = 0.05


class WatcherLoop:
    def __init__(self, deps: WatcherDeps, stopping: asyncio.Event) -> None:
        self.deps = deps
        self.stopping = stopping
        self._next_heartbeat: datetime | None = None
        self._digest_sent_for: date | None = None
        self._backoff = Backoff(_FIRST_BACKOFF_S, _MAX_BACKOFF_S)
        self.clock_guard = ClockGuard(deps)

    async def run(self) -> None:
        """Until `stopping` is set; every failure is logged and retried, never fatal."""
        await resilient_loop(
            self._listen_and_cycle,
            name="deadline loop",
            stopping=self.stopping,
            # After a failure that is not transient (a bug?), look again after the longest wait.
            interval_s=_MAX_BACKOFF_S,
            backoff=self._backoff,
            logger=log,
        )

    async def _listen_and_cycle(self) -> None:
        async with self.deps.listen(self.deps.wake_channel, self.deps.wake) as alive:
            self._backoff.reset()  # connected again: the next failure starts afresh
            await self._cycle_until_stopped(alive)

    async def _cycle_until_stopped(self, alive: Callable[[], bool]) -> None:
        while not self.stopping.is_set():
            if not alive():
                raise ConnectionError("the LISTEN connection was lost")
            # Cleared before looking, so a wake-up that arrives while we work is not lost.
            self.deps.wake.clear()
            LOOP_CYCLES.inc()
            await self._sleep(await self.cycle())

    async def cycle(self) -> float:
        """One look: fire what is due, the digest and the heartbeat; the seconds to sleep.

        A replica whose clock runs ahead of the database's does none of it, not even the
        heartbeat: if every replica refuses, the missing heartbeat raises the silent-watcher
        alarm (docs/operations.md).
        """
        if not await self.clock_guard.allows_firing():
            return self.deps.clock_skew_check.total_seconds()
        await self.fire_all_due()
        self._digest_sent_for = await emit_digest_if_due(self.deps, self._digest_sent_for)
        await self._heartbeat_if_due()
        return await self._seconds_to_next_work()

    async def fire_all_due(self) -> int:
        """Claim and fire batches until nothing due is left (or we are asked to stop)."""
        total = 0
        while not self.stopping.is_set():
            claimed = await fire_due(self.deps)
            total += claimed
            if claimed < self.deps.claim_batch:
                break
            # A long burst must not silence the heartbeat ("is the watcher alive?").
            await self._heartbeat_if_due()
        return total

    async def _heartbeat_if_due(self) -> None:
        now = self.deps.clock.now()
        if self._next_heartbeat is not None and now < self._next_heartbeat:
            return
        await emit_heartbeat(self.deps)
        self._next_heartbeat = now + self.deps.heartbeat_interval

    async def _seconds_to_next_work(self) -> float:
        now = self.deps.clock.now()
        candidates = [next_digest_at(now, self.deps.calendar, self.deps.digest_time)]
        if self._next_heartbeat is not None:
            candidates.append(self._next_heartbeat)
        next_due = await self.deps.reads.next_fire_at()
        if next_due is not None:
            candidates.append(next_due)
            NEXT_DUE_SECONDS.set((next_due - now).total_seconds())
        # Work due now but not claimed is held by another replica: look again shortly.
        return max((min(candidates) - now) / timedelta(seconds=1), _HELD_ELSEWHERE_S)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but return early on a wake-up or when stopping."""
        await sleep_until_woken_or_stopping(self.deps.wake, self.stopping, seconds)
