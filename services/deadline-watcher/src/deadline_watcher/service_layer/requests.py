"""Handling `deadlines.requests`: schedule and clear, a batch per unit of work.

The whole batch commits together: inbox claims, deadline rows, ledger rows and outbox events. A
request that can never succeed (unknown type, schema failure, unknown policy) is refused by the
subscriber's parser (`entrypoints/subscribers.py`) with `PoisonMessage`; the platform then
replays the batch one record at a time so only that record is dead-lettered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from mynaflow.contracts.deadlines import (
    ClearDeadline,
    DeadlineAudience,
    DeadlineSubject,
    ScheduleDeadline,
)
from mynaflow.contracts.envelope import CloudEvent
from mynaflow.domain.personal_number import redact_json_value

from deadline_watcher.adapters.metrics import STALE_SCHEDULES
from deadline_watcher.adapters.repository import Identity, LedgerEntry
from deadline_watcher.domain.deadline import (
    Deadline,
    ScheduleRequest,
    clear,
    schedule,
    sent_before_clear,
)
from deadline_watcher.domain.events import cleared_event, scheduled_event, stage_event
from deadline_watcher.domain.policies import breach_only
from deadline_watcher.service_layer.deps import REQUESTS_CONSUMER, WatcherDeps

log = logging.getLogger(__name__)

Request = ScheduleDeadline | ClearDeadline
T = TypeVar("T")


@dataclass(frozen=True)
class Incoming:
    """One request as the subscriber parsed it: its event id (the inbox key), its data and its
    CloudEvent `time` (when the producer sent it; None: when it is applied)."""

    event_id: str
    request: Request
    sent_at: datetime | None = None


def without_personal_numbers(value: T) -> tuple[T, bool]:
    """The value with any individual number (個人番号) redacted, and whether there was one.

    Producers never send one, but subject and audience are passed through to every event: a
    producer's mistake must not put one on a topic. Redaction is deterministic, so a clear of
    the same key still finds its deadline.
    """
    redacted, count = redact_json_value(value)
    if count:
        log.warning("individual number redacted from a deadline request", extra={"count": count})
    return cast(T, redacted), bool(count)


def _passed_through(
    request: ScheduleDeadline,
) -> tuple[dict[str, Any], dict[str, Any], tuple[DeadlineSubject, DeadlineAudience] | None]:
    """The subject and audience to store, redacted as whole objects, and the request's validated
    models of them when that found nothing more to redact (None otherwise).

    Validating the request redacted each text already; the whole-object pass also finds a number
    split over several values, which no single field shows. When it finds nothing, the models
    validated from the stored values are the request's own, so the `scheduled` event can take
    them instead of validating and redacting the same values once more.
    """
    subject, subject_changed = without_personal_numbers(request.subject.model_dump(mode="json"))
    audience, audience_changed = without_personal_numbers(
        request.audience.model_dump(mode="json", exclude_none=True)
    )
    # The audience is stored without its null fields: an extra one is then not in the stored
    # value (a declared one comes back as its default), so the model would differ from it.
    extra_null = None in (request.audience.model_extra or {}).values()
    if subject_changed or audience_changed or extra_null:
        return subject, audience, None
    return subject, audience, (request.subject, request.audience)


@dataclass
class _Changes:
    """What a batch changes, kept in memory until it is written in one go."""

    deadlines: dict[str, Deadline]
    # The latest clear of each key (CloudEvent time), and the clears of this batch to remember.
    latest_clears: dict[str, datetime]
    cleared: dict[str, datetime] = field(default_factory=dict)
    changed: dict[str, Deadline] = field(default_factory=dict)
    ledger: list[LedgerEntry] = field(default_factory=list)
    events: list[CloudEvent[Any]] = field(default_factory=list)
    # Event id of a stage event -> its ledger identity: emitted only if that row was inserted.
    stage_events: dict[str, Identity] = field(default_factory=dict)
    woke: bool = False

    def store(self, deadline: Deadline) -> None:
        self.deadlines[deadline.key] = deadline
        self.changed[deadline.key] = deadline

    def remember_clear(self, key: str, sent_at: datetime) -> None:
        latest = max(sent_at, self.latest_clears.get(key, sent_at))
        self.latest_clears[key] = self.cleared[key] = latest


def _schedule(
    request: ScheduleDeadline,
    sent_at: datetime,
    changes: _Changes,
    deps: WatcherDeps,
    now: datetime,
) -> None:
    if sent_before_clear(sent_at, changes.latest_clears.get(request.key)):
        STALE_SCHEDULES.inc()
        log.warning("schedule request sent before the latest clear of its key; ignored")
        return
    policy = deps.policies[request.policy]
    # Instants travel as UTC on every event, whatever offset the producer wrote.
    due_at = request.due_instant().astimezone(UTC)
    starts_at = request.starts_at.astimezone(UTC) if request.starts_at else None
    ladder = deps.ladder(policy, due_at, starts_at)
    subject, audience, validated = _passed_through(request)
    wanted = ScheduleRequest(
        key=request.key,
        policy=request.policy,
        due_at=due_at,
        subject=subject,
        audience=audience,
        starts_at=starts_at,
    )
    deadline = schedule(changes.deadlines.get(request.key), wanted, ladder, now, deps.settle)
    if deadline is None:
        log.info("schedule request repeats the open deadline; nothing to do")
        return
    changes.store(deadline)
    changes.events.append(scheduled_event(deadline, ladder, now, validated))
    changes.woke = True


def _clear(
    request: ClearDeadline, sent_at: datetime, changes: _Changes, deps: WatcherDeps, now: datetime
) -> None:
    # Remembered even with nothing to stop: the schedule it overtook must not reopen the work.
    changes.remember_clear(request.key, sent_at)
    current = changes.deadlines.get(request.key)
    if current is None:
        # Nothing to stop. Not poison: producers may clear what they never managed to schedule.
        log.info("clear request for a key with no deadline yet; remembered")
        return
    # A policy removed from the configuration since: the clear still applies (breach only).
    policy = deps.policies.get(current.policy) or breach_only(current.policy)
    ladder = deps.ladder(policy, current.due_at, current.starts_at)
    result = clear(current, ladder, now, request.reason, request.resolved_at, deps.late_after)
    if result is None:
        return
    changes.store(result.deadline)
    if result.breach is not None:
        event = stage_event(result.deadline, result.breach, now)
        entry = LedgerEntry(
            current.key, current.generation, result.breach, now, UUID(event.id), deps.instance
        )
        changes.ledger.append(entry)
        changes.stage_events[event.id] = entry.identity
        changes.events.append(event)
    changes.events.append(cleared_event(result.deadline, now))


async def handle_requests(incoming: Sequence[Incoming], deps: WatcherDeps) -> None:
    """Apply a batch of schedule/clear requests in one transaction (in arrival order)."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        claimed = await uow.claim_many(
            [item.event_id for item in incoming], consumer=REQUESTS_CONSUMER
        )
        # One flag per request: a second copy of an id in this same batch is not applied.
        fresh = [item for item, is_new in zip(incoming, claimed, strict=True) if is_new]
        if not fresh:
            return
        keys = {item.request.key for item in fresh}
        current = await uow.repos.deadlines.lock(keys)
        changes = _Changes(dict(current), await uow.repos.clears.latest(keys))
        for item in fresh:
            sent_at = item.sent_at or now
            if isinstance(item.request, ScheduleDeadline):
                _schedule(item.request, sent_at, changes, deps, now)
            else:
                _clear(item.request, sent_at, changes, deps, now)
        await uow.repos.deadlines.save(list(changes.changed.values()))
        await uow.repos.clears.record(changes.cleared)
        inserted = await uow.repos.ledger.record(changes.ledger)
        for event in changes.events:
            if not _stage_event_refused(event, changes, inserted):
                uow.emit(deps.events_topic, event.subject, event)
        if changes.woke:
            await uow.repos.deadlines.notify_wake(deps.wake_channel)
        await uow.commit()
    if changes.woke:
        deps.wake.set()


def _stage_event_refused(
    event: CloudEvent[Any], changes: _Changes, inserted: set[Identity]
) -> bool:
    """A stage event whose ledger row already existed was emitted before: never again."""
    identity = changes.stage_events.get(event.id)
    return identity is not None and identity not in inserted
