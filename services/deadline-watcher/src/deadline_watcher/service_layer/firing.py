"""Firing what is due: claim a batch of due deadlines, decide, record, emit, in one transaction.

Several replicas run this at once: `FOR UPDATE SKIP LOCKED` hands each deadline to one of them,
the ledger's primary key refuses a second decision for the same (key, generation, stage,
repetition), and the outbox publishes exactly the events of the committed transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from mynaflow.contracts.deadlines import DIGEST_MAX_ITEMS, DigestDue, Heartbeat
from mynaflow.contracts.envelope import CloudEvent
from mynaflow.messaging.outbox import add_many_to_outbox, add_to_outbox

from deadline_watcher.adapters import repository
from deadline_watcher.adapters.metrics import DEADLINES_PENDING, STAGES_DECIDED
from deadline_watcher.adapters.repository import LedgerEntry
from deadline_watcher.domain.catchup import is_late
from deadline_watcher.domain.deadline import Deadline, advance
from deadline_watcher.domain.digest import digest_due_today, digest_instant
from deadline_watcher.service_layer.deps import WatcherDeps
from deadline_watcher.service_layer.events import (
    digest_event,
    heartbeat_event,
    overdue_line,
    stage_event,
)

log = logging.getLogger(__name__)

# A deadline whose policy was removed from the configuration is looked at again this much later
# (after an operator restores the policy), instead of blocking the claim query.
MISSING_POLICY_RETRY = timedelta(hours=1)


@dataclass
class _Batch:
    now: datetime
    progress: list[Deadline] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    events: dict[tuple[str, int, str, int], CloudEvent[Any]] = field(default_factory=dict)


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
    async with deps.pool.acquire() as conn, conn.transaction():
        claimed = await repository.claim_due(conn, batch.now, deps.claim_batch)
        if not claimed:
            return 0
        for deadline in claimed:
            _decide(deadline, batch, deps)
        inserted = await repository.record_decisions(conn, batch.ledger)
        await repository.save_progress(conn, batch.progress)
        await add_many_to_outbox(
            conn,
            topic=deps.events_topic,
            events=[(i[0], event) for i, event in batch.events.items() if i in inserted],
        )
    _count(batch, inserted)
    return len(claimed)


def _count(batch: _Batch, inserted: set[tuple[str, int, str, int]]) -> None:
    for entry in batch.ledger:
        if entry.identity in inserted:
            outcome = "fired" if entry.decision.fire else "skipped"
            STAGES_DECIDED.labels(outcome, "late" if entry.decision.late else "on_time").inc()


async def emit_digest_if_due(deps: WatcherDeps, already_sent: date | None = None) -> date | None:
    """Emit today's digest-due once (whatever the replicas).

    Returns the day whose digest is known to be out (by this call, an earlier one, or another
    replica), so the caller can skip asking again today; None when no digest is due now.
    """
    now = deps.clock.now()
    day = digest_due_today(now, deps.calendar, deps.digest_time)
    if day is None or day == already_sent:
        return day
    if await repository.digest_recorded(deps.pool, day):
        return day
    at = digest_instant(day, deps.digest_time)
    async with deps.pool.acquire() as conn, conn.transaction():
        count, overdue = await repository.overdue(conn, now, DIGEST_MAX_ITEMS)
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
        if not await repository.record_digest(conn, day, at, now, count, UUID(event.id)):
            return day
        await add_to_outbox(conn, topic=deps.events_topic, key=event.subject, event=event)
    log.info("digest due emitted", extra={"digest_on": day.isoformat(), "overdue": count})
    return day


async def emit_heartbeat(deps: WatcherDeps) -> None:
    """This replica is alive: how much is pending and when the next stage is due."""
    async with deps.pool.acquire() as conn, conn.transaction():
        heartbeat = Heartbeat(
            instance=deps.instance,
            fired_at=deps.clock.now(),
            pending_deadlines=await repository.count_pending(conn),
            next_due_at=await repository.next_fire_at(conn),
        )
        event = heartbeat_event(heartbeat)
        DEADLINES_PENDING.set(heartbeat.pending_deadlines or 0)
        await add_to_outbox(conn, topic=deps.events_topic, key=event.subject, event=event)
