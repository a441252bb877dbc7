"""deadline-watcher's repositories in memory (see `deadline_watcher.adapters.repository`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from deadline_watcher.adapters.repository import (
    Identity,
    LedgerEntry,
    LedgerRow,
    ReportQuery,
    WatcherRepos,
)
from deadline_watcher.domain.deadline import Deadline
from deadline_watcher.domain.policies import Policy
from deadline_watcher.service_layer.deps import WatcherDeps
from mynaflow.contracts.deadlines import (
    ClearDeadline,
    DeadlineAudience,
    DeadlineSubject,
    ScheduleDeadline,
    deadline_request_event,
)
from mynaflow.contracts.envelope import RawCloudEvent, decode_event, encode_event
from mynaflow.domain.clock import Clock, SystemClock
from mynaflow.storage.unit_of_work import Emitted

from mynaflow_testing.uow import FakeUnitOfWork


@dataclass
class MemoryDeadlines:
    rows: dict[str, Deadline] = field(default_factory=dict)
    notified: list[str] = field(default_factory=list)

    async def lock(self, keys: Iterable[str]) -> dict[str, Deadline]:
        return {key: self.rows[key] for key in sorted(set(keys)) if key in self.rows}

    async def save(self, deadlines: Sequence[Deadline]) -> None:
        self.rows.update((d.key, d) for d in deadlines)

    async def claim_due(self, now: datetime, limit: int) -> list[Deadline]:
        due = [
            d for d in self.rows.values() if d.next_fire_at is not None and d.next_fire_at <= now
        ]
        return sorted(due, key=lambda d: (d.next_fire_at or now, d.key))[:limit]

    async def save_progress(self, deadlines: Sequence[Deadline]) -> None:
        for d in deadlines:
            self.rows[d.key] = replace(
                self.rows[d.key],
                processed_through=d.processed_through,
                next_fire_at=d.next_fire_at,
                breached_at=d.breached_at,
            )

    async def count_pending(self) -> int:
        return sum(1 for d in self.rows.values() if d.next_fire_at is not None)

    async def next_fire_at(self) -> datetime | None:
        return min((d.next_fire_at for d in self.rows.values() if d.next_fire_at), default=None)

    async def notify_wake(self, channel: str) -> None:
        self.notified.append(channel)

    async def overdue(self, now: datetime, limit: int) -> tuple[int, list[Deadline]]:
        late = sorted(
            (d for d in self.rows.values() if d.is_open and d.due_at < now), key=lambda d: d.due_at
        )
        return len(late), late[:limit]


@dataclass
class MemoryLedger:
    """Decisions by (key, generation, stage, repetition): the table's primary key."""

    entries: dict[Identity, LedgerEntry] = field(default_factory=dict)

    async def record(self, entries: Sequence[LedgerEntry]) -> set[Identity]:
        inserted = {e.identity for e in entries if e.identity not in self.entries}
        for entry in entries:
            self.entries.setdefault(entry.identity, entry)
        return inserted


@dataclass(frozen=True)
class DigestRow:
    at: datetime
    fired_at: datetime
    overdue_count: int
    event_id: UUID


@dataclass
class MemoryDigests:
    """One row per day (the table's primary key): a second claim of the day is refused."""

    days: dict[date, DigestRow] = field(default_factory=dict)

    async def record(
        self, day: date, at: datetime, fired_at: datetime, count: int, event_id: UUID
    ) -> bool:
        if day in self.days:
            return False
        self.days[day] = DigestRow(at, fired_at, count, event_id)
        return True


@dataclass
class MemoryClears:
    latest_by_key: dict[str, datetime] = field(default_factory=dict)

    async def latest(self, keys: Iterable[str]) -> dict[str, datetime]:
        return {key: self.latest_by_key[key] for key in keys if key in self.latest_by_key}

    async def record(self, cleared_as_of: Mapping[str, datetime]) -> None:
        for key, at in cleared_as_of.items():
            self.latest_by_key[key] = max(at, self.latest_by_key.get(key, at))


@dataclass
class MemoryDeadlineReads:
    """The loop's and the digest's reads; the `/deadlines` report is tested against PostgreSQL."""

    deadlines: MemoryDeadlines
    digests: MemoryDigests
    # The database's clock: tests set it apart from the process clock to play clock skew.
    database_clock: Clock = field(default_factory=SystemClock)

    async def database_now(self) -> datetime:
        return self.database_clock.now()

    async def next_fire_at(self) -> datetime | None:
        return await self.deadlines.next_fire_at()

    async def digest_recorded(self, day: date) -> bool:
        return day in self.digests.days

    async def report(self, query: ReportQuery) -> list[Deadline]:
        raise AssertionError(f"{query} is not kept in memory: see the service tests")

    async def report_total(self, query: ReportQuery) -> int:
        raise AssertionError(f"{query} is not kept in memory: see the service tests")

    async def ledger_of(self, keys: Sequence[str]) -> list[LedgerRow]:
        raise AssertionError(f"ledger_of({list(keys)}) is not kept in memory")


@dataclass
class MemoryWatcher:
    """All of deadline-watcher's in-memory state, and a fake unit of work over it."""

    deadlines: MemoryDeadlines = field(default_factory=MemoryDeadlines)
    ledger: MemoryLedger = field(default_factory=MemoryLedger)
    digests: MemoryDigests = field(default_factory=MemoryDigests)
    clears: MemoryClears = field(default_factory=MemoryClears)
    uow: FakeUnitOfWork[WatcherRepos] = field(init=False)
    reads: MemoryDeadlineReads = field(init=False)

    def __post_init__(self) -> None:
        repos = WatcherRepos(self.deadlines, self.ledger, self.digests, self.clears)
        self.uow = FakeUnitOfWork(repos, rollback_repos=True)
        self.reads = MemoryDeadlineReads(self.deadlines, self.digests)

    def deps(
        self, *, policies: Mapping[str, Policy], clock: Clock, instance: str = "one", **options: Any
    ) -> WatcherDeps:
        """A replica's Deps on this state, for handler tests: no NOTIFY is heard, and no
        catch-up settle time (`options` set the other WatcherDeps fields)."""
        return WatcherDeps(
            uow=self.uow,
            reads=self.reads,
            listen=quiet_listener,
            policies=policies,
            events_topic="deadlines.events",
            wake_channel="wake",
            instance=instance,
            clock=clock,
            settle=timedelta(0),
            **options,
        )

    def published_types(self) -> list[tuple[str | None, str]]:
        """(key, short type) of every published event, in publish order."""
        return [(e.key, _short(e)) for e in self.uow.published]


def _short(emitted: Emitted) -> str:
    """`jp.mynaflow.deadline.stage-reached.v1` → `stage-reached`."""
    return emitted.event.type.split(".")[-2]


def schedule_request(key: str, due_at: datetime, policy: str = "pair") -> ScheduleDeadline:
    """A request of a handler test: `key` due at `due_at` for the `records` queue."""
    return ScheduleDeadline(
        key=key,
        policy=policy,
        due_at=due_at,
        subject=DeadlineSubject(type="test", ids={"key": key}),
        audience=DeadlineAudience(queue="records"),
    )


def on_the_wire(request: ScheduleDeadline | ClearDeadline) -> RawCloudEvent:
    """What the subscriber receives: the request's event (source `test`) as bytes, decoded."""
    return decode_event(encode_event(deadline_request_event(request, source="test")))


@contextlib.asynccontextmanager
async def quiet_listener(channel: str, wake: asyncio.Event) -> AsyncIterator[Callable[[], bool]]:
    """A `WakeListener` that never hears a NOTIFY (handler tests do not run the loop)."""
    assert channel, "a wake channel is named"
    _ = wake  # never set from here: nothing is listening
    yield lambda: True
