"""Firing what is due: claim a batch of due deadlines, decide, record, emit, in one unit of work.

Several replicas run this at once: `FOR UPDATE SKIP LOCKED` hands each deadline to one of them,
the ledger's primary key refuses a second decision for the same (key, generation, stage,
repetition), and the outbox publishes exactly the events of the committed transaction.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from mynaflow.contracts.deadlines import DIGEST_MAX_ITEMS, DigestDue, Heartbeat
from mynaflow.contracts.envelope import CloudEvent

from deadline_watcher.adapters.metrics import DEADLINES_PENDING, STAGES_DECIDED
from deadline_watcher.adapters.repository import Identity, LedgerEntry
from deadline_watcher.domain.catchup import is_late
from deadline_watcher.domain.deadline import Deadline, advance
from deadline_watcher.domain.digest import digest_due_today, digest_instant
from deadline_watcher.domain.events import (
    digest_event,
    heartbeat_event,
    overdue_line,
    stage_event,
)
from deadline_watcher.service_layer.deps import WatcherDeps

log = logging.getLogger(__name__)

# A deadline whose policy was removed from the configuration is looked at again this much later
# (after an operator restores the policy), instead of blocking the claim query.
MISSING_POLICY_RETRY = timedelta(hours=1)


@dataclass
class _Batch:
    now: datetime
    progress: list[Deadline] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    events: dict[Identity, CloudEvent[Any]] = field(default_factory=dict)


def _decide(deadline: Deadline, batch: _Batch, deps: WatcherDeps) -> None:
    policy = deps.policies.get(deadline.policy)
    if policy is None:
        log.error(
            "deadline policy is not configured; retrying later", extra={"policy": deadline.policy}
        )
        batch.progress.append(replace(deadline, next_fire_at=batch.now + MISSING_POLICY_RETRY))
        return
    ladder = deps.ladder(policy, deadline.due_at, deadline.starts_at)
    result = advance(deadline, ladder, batch.now, deps.late_after)
    batch.progress.append(result.deadline)
    for decision in result.decisions:
        event = stage_event(result.deadline, decision, batch.now) if decision.fire else None
        entry = LedgerEntry(
            deadline.key,
            deadline.generation,
            decision,
            batch.now,
            UUID(event.id) if event is not None else None,
            deps.instance,
        )
        batch.ledger.append(entry)
        if event is not None:
            batch.events[entry.identity] = event


async def fire_due(deps: WatcherDeps) -> int:
    """Decide one batch of due deadlines; returns how many deadlines were claimed."""
    batch = _Batch(deps.clock.now())
    async with deps.uow() as uow:
        claimed = await uow.repos.deadlines.claim_due(batch.now, deps.claim_batch)
        if not claimed:
            return 0
        for deadline in claimed:
            _decide(deadline, batch, deps)
        inserted = await uow.repos.ledger.record(batch.ledger)
        await uow.repos.deadlines.save_progress(batch.progress)
        for identity, event in batch.events.items():
            if identity in inserted:  # the others were decided (and emitted) before
                uow.emit(deps.events_topic, identity[0], event)
        await uow.commit()
    _count(batch, inserted)
    return len(claimed)


def _count(batch: _Batch, inserted: set[Identity]) -> None:
    # Summed first: a labelled child is a lock and a lookup, once per label pair, not per stage.
    counts = Counter(
        (
            "fired" if entry.decision.fire else "skipped",
            "late" if entry.decision.late else "on_time",
        )
        for entry in batch.ledger
        if entry.identity in inserted
    )
    for (outcome, timing), count in counts.items():
        STAGES_DECIDED.labels(outcome, timing).inc(count)


async def emit_digest_if_due(deps: WatcherDeps, already_sent: date | None = None) -> date | None:
    """Emit today's digest-due once (whatever the replicas).

    Returns the day whose digest is known to be out (by this call, an earlier one, or another
    replica), so the caller can skip asking again today; None when no digest is due now.
    """
    now = deps.clock.now()
    day = digest_due_today(now, deps.calendar, deps.digest_time)
    if day is None or day == already_sent:
        return day
    if await deps.reads.digest_recorded(day):
        return day
    at = digest_instant(day, deps.digest_time)
    async with deps.uow() as uow:
        count, overdue = await uow.repos.deadlines.overdue(now, DIGEST_MAX_ITEMS)
        digest = DigestDue(
            digest_on=day,
            at=at,
            fired_at=now,
            late=is_late(at, now, deps.late_after),
            overdue_count=count,
            truncated=count > len(overdue),
            overdue=[overdue_line(deadline, now) for deadline in overdue],
        )
        event = digest_event(digest)
        if not await uow.repos.digests.record(day, at, now, count, UUID(event.id)):
            return day
        uow.emit(deps.events_topic, event.subject, event)
        await uow.commit()
    log.info("digest due emitted", extra={"digest_on": day.isoformat(), "overdue": count})
    return day


async def emit_heartbeat(deps: WatcherDeps) -> None:
    """This replica is alive: how much is pending and when the next stage is due."""
    async with deps.uow() as uow:
        heartbeat = Heartbeat(
            instance=deps.instance,
            fired_at=deps.clock.now(),
            pending_deadlines=await uow.repos.deadlines.count_pending(),
            next_due_at=await uow.repos.deadlines.next_fire_at(),
        )
        event = heartbeat_event(heartbeat)
        DEADLINES_PENDING.set(heartbeat.pending_deadlines or 0)
        uow.emit(deps.events_topic, event.subject, event)
        await uow.commit()
