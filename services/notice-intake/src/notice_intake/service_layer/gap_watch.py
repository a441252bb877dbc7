"""Report sequence gaps once they have been open longer than the grace period.

The watcher sleeps until the oldest unreported gap falls due (or a batch opens a new gap, or at
most one grace period, which covers gaps opened by other replicas), reports what is due and
sleeps again: woken by time, never polling busily. Reporting claims the gaps under the
municipality's row lock (SKIP LOCKED), so several replicas report each gap exactly once.
"""

from __future__ import annotations

import asyncio
import logging

from mynaflow.runtime.loops import Backoff, resilient_loop

from notice_intake.adapters import metrics
from notice_intake.domain.events import gap_detected_event
from notice_intake.service_layer.deps import IntakeDeps

log = logging.getLogger(__name__)

# Back-off after a transient failure (the database may be restarting).
_FIRST_RETRY_S = 2.0
_MAX_RETRY_S = 30.0
_MIN_SLEEP_S = 0.05


async def report_due_gaps(deps: IntakeDeps) -> int:
    """Report every gap due now, in one transaction; return how many were reported."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        due = await uow.repos.sequences.claim_due_gaps(now - deps.gap_grace, now)
        for item in due:
            event = gap_detected_event(item.municipality_code, item.gap, now)
            uow.emit(deps.topics.receipts, event.subject, event)
        await uow.commit()
    if due:
        metrics.GAPS_REPORTED.inc(len(due))
        log.warning("sequence gaps reported", extra={"gaps": len(due)})
    return len(due)


async def seconds_until_next_due(deps: IntakeDeps) -> float:
    """How long the watcher may sleep: until the oldest unreported gap is due, at most grace."""
    seen_at = await deps.reads.next_unreported_gap_seen_at()
    grace = deps.gap_grace.total_seconds()
    if seen_at is None:
        return grace
    due_in = (seen_at + deps.gap_grace - deps.clock.now()).total_seconds()
    return min(max(due_in, _MIN_SLEEP_S), grace)


async def watch_sequence_gaps(deps: IntakeDeps, stopping: asyncio.Event) -> None:
    """Run until `stopping` is set (the runtime's background task); no failure ends it."""
    await resilient_loop(
        lambda: _report_round(deps),
        name="gap watcher round",
        stopping=stopping,
        # After a failure that is not transient, try again within one grace period.
        interval_s=deps.gap_grace.total_seconds(),
        backoff=Backoff(_FIRST_RETRY_S, _MAX_RETRY_S),
        wake=deps.gaps_changed,
        logger=log,
    )


async def _report_round(deps: IntakeDeps) -> float:
    """Report what is due; how long to sleep until the next gap falls due."""
    # Cleared before looking, so a gap opened meanwhile wakes the next sleep at once.
    deps.gaps_changed.clear()
    await report_due_gaps(deps)
    return await seconds_until_next_due(deps)
