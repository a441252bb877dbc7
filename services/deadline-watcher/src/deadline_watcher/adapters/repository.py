"""Deadlines, the stage ledger and digests: SQL on the unit of work's connection, and the reads
served outside any transaction on the pool. SQL sits next to the call that runs it.

The protocols are what the service layer sees; the classes are their PostgreSQL versions (unit
tests use in-memory ones).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from deadline_watcher.domain.catchup import Decision
from deadline_watcher.domain.deadline import Deadline, Status, build_deadline

if TYPE_CHECKING:
    import asyncpg
    from mynaflow.storage.pool import DbConnection

_DEADLINE_COLUMNS = """
    key, generation, policy, due_at, starts_at, subject, audience, status, scheduled_at,
    settle_until, processed_through, next_fire_at, breached_at, cleared_at, clear_reason, met
"""


# By value, without calling the enum (a lookup, not a call per claimed row; the table's CHECK
# admits no other value).
_STATUSES = {status.value: status for status in Status}


def deadline_from_record(record: asyncpg.Record | dict[str, Any]) -> Deadline:
    return build_deadline(
        {
            "key": record["key"],
            "generation": record["generation"],
            "policy": record["policy"],
            "due_at": record["due_at"],
            "subject": record["subject"],
            "audience": record["audience"],
            "scheduled_at": record["scheduled_at"],
            "starts_at": record["starts_at"],
            "status": _STATUSES[record["status"]],
            "settle_until": record["settle_until"],
            "processed_through": record["processed_through"],
            "next_fire_at": record["next_fire_at"],
            "breached_at": record["breached_at"],
            "cleared_at": record["cleared_at"],
            "clear_reason": record["clear_reason"],
            "met": record["met"],
        }
    )


def _deadline_row(deadline: Deadline) -> tuple[Any, ...]:
    return (
        deadline.key,
        deadline.generation,
        deadline.policy,
        deadline.due_at,
        deadline.starts_at,
        dict(deadline.subject),
        dict(deadline.audience),
        deadline.status.value,
        deadline.scheduled_at,
        deadline.settle_until,
        deadline.processed_through,
        deadline.next_fire_at,
        deadline.breached_at,
        deadline.cleared_at,
        deadline.clear_reason,
        deadline.met,
    )


@dataclass(frozen=True)
class LedgerEntry:
    key: str
    generation: int
    decision: Decision
    decided_at: datetime
    event_id: UUID | None
    decided_by: str | None = None

    @property
    def identity(self) -> tuple[str, int, str, int]:
        occurrence = self.decision.occurrence
        return (self.key, self.generation, occurrence.stage, occurrence.repetition)


@dataclass(frozen=True)
class ReportQuery:
    """Which deadlines `GET /deadlines` lists (soonest due first)."""

    due_before: datetime | None = None
    breached_only: bool = False
    # Past due by this instant (the report's now), whether the breach has fired yet or not.
    overdue_at: datetime | None = None
    policy: str | None = None
    include_cleared: bool = False
    limit: int = 1000


LedgerRow = Mapping[str, Any]
Identity = tuple[str, int, str, int]


class Deadlines(Protocol):
    async def lock(self, keys: Iterable[str]) -> dict[str, Deadline]: ...

    async def save(self, deadlines: Sequence[Deadline]) -> None: ...

    async def claim_due(self, now: datetime, limit: int) -> list[Deadline]: ...

    async def save_progress(self, deadlines: Sequence[Deadline]) -> None: ...

    async def count_pending(self) -> int: ...

    async def next_fire_at(self) -> datetime | None: ...

    async def notify_wake(self, channel: str) -> None: ...

    async def overdue(self, now: datetime, limit: int) -> tuple[int, list[Deadline]]: ...


class Ledger(Protocol):
    async def record(self, entries: Sequence[LedgerEntry]) -> set[Identity]:
        """Insert decisions; returns the identities inserted (the others were decided before)."""
        ...


class Digests(Protocol):
    async def record(
        self, day: date, at: datetime, fired_at: datetime, count: int, event_id: UUID
    ) -> bool: ...


class Clears(Protocol):
    async def latest(self, keys: Iterable[str]) -> dict[str, datetime]:
        """The CloudEvent time of the latest clear of each key that was ever cleared."""
        ...

    async def record(self, cleared_as_of: Mapping[str, datetime]) -> None:
        """Remember these clears; an older time never replaces a newer one."""
        ...


@dataclass(frozen=True)
class WatcherRepos:
    deadlines: Deadlines
    ledger: Ledger
    digests: Digests
    clears: Clears


def make_repos(conn: DbConnection) -> WatcherRepos:
    return WatcherRepos(SqlDeadlines(conn), SqlLedger(conn), SqlDigests(conn), SqlClears(conn))


async def _next_fire_at(db: DbConnection | asyncpg.Pool[asyncpg.Record]) -> datetime | None:
    """The soonest time anything is due (the first entry of the partial index)."""
    value: datetime | None = await db.fetchval(
        """
        SELECT next_fire_at FROM deadlines
        WHERE next_fire_at IS NOT NULL
        ORDER BY next_fire_at
        LIMIT 1
        """
    )
    return value


class SqlDeadlines:
    """`deadlines`, in the unit's transaction."""

    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def lock(self, keys: Iterable[str]) -> dict[str, Deadline]:
        """The current rows of `keys`, locked until the transaction ends (in key order: no deadlock
        between two request batches; the ticker never waits, it skips locked rows)."""
        records = await self._conn.fetch(
            f"""
            SELECT {_DEADLINE_COLUMNS} FROM deadlines
            WHERE key = ANY($1::text[])
            ORDER BY key
            FOR UPDATE
            """,
            sorted(set(keys)),
        )
        return {record["key"]: deadline_from_record(record) for record in records}

    async def save(self, deadlines: Sequence[Deadline]) -> None:
        """Insert or replace whole rows (a schedule, a reschedule, a clear), in one statement.

        One row per key (a batch keeps the latest state of each): an upsert may not touch the
        same row twice.
        """
        if not deadlines:
            return
        rows = [_deadline_row(deadline) for deadline in deadlines]
        await self._conn.execute(
            f"""
            INSERT INTO deadlines ({_DEADLINE_COLUMNS})
            SELECT * FROM unnest(
                $1::text[], $2::int[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                $6::jsonb[], $7::jsonb[], $8::text[], $9::timestamptz[], $10::timestamptz[],
                $11::timestamptz[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[],
                $15::text[], $16::bool[])
            ON CONFLICT (key) DO UPDATE SET
                generation = EXCLUDED.generation, policy = EXCLUDED.policy,
                due_at = EXCLUDED.due_at, starts_at = EXCLUDED.starts_at,
                subject = EXCLUDED.subject, audience = EXCLUDED.audience,
                status = EXCLUDED.status, scheduled_at = EXCLUDED.scheduled_at,
                settle_until = EXCLUDED.settle_until,
                processed_through = EXCLUDED.processed_through,
                next_fire_at = EXCLUDED.next_fire_at, breached_at = EXCLUDED.breached_at,
                cleared_at = EXCLUDED.cleared_at, clear_reason = EXCLUDED.clear_reason,
                met = EXCLUDED.met, updated_at = now()
            """,
            *(list(column) for column in zip(*rows, strict=True)),
        )

    async def claim_due(self, now: datetime, limit: int) -> list[Deadline]:
        """Lock up to `limit` deadlines due by `now`, skipping rows another replica holds.

        Served by `deadlines_next_fire_idx` (a range scan on the partial index, never a full scan).
        """
        records = await self._conn.fetch(
            f"""
            SELECT {_DEADLINE_COLUMNS} FROM deadlines
            WHERE next_fire_at <= $1
            ORDER BY next_fire_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED
            """,
            now,
            limit,
        )
        return [deadline_from_record(record) for record in records]

    async def save_progress(self, deadlines: Sequence[Deadline]) -> None:
        """Store how far each claimed deadline has been decided, in one statement."""
        if not deadlines:
            return
        await self._conn.execute(
            """
            UPDATE deadlines AS d SET
                processed_through = p.processed_through,
                next_fire_at = p.next_fire_at,
                breached_at = p.breached_at,
                updated_at = now()
            FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[])
                AS p(key, processed_through, next_fire_at, breached_at)
            WHERE d.key = p.key
            """,
            [d.key for d in deadlines],
            [d.processed_through for d in deadlines],
            [d.next_fire_at for d in deadlines],
            [d.breached_at for d in deadlines],
        )

    async def count_pending(self) -> int:
        """Deadlines with something left to fire (an index-only count of the partial index)."""
        count: int = await self._conn.fetchval(
            """
            SELECT count(*) FROM deadlines WHERE next_fire_at IS NOT NULL
            """
        )
        return count

    async def next_fire_at(self) -> datetime | None:
        return await _next_fire_at(self._conn)

    async def notify_wake(self, channel: str) -> None:
        """Wake every replica's loop on commit (a new deadline may be due sooner)."""
        await self._conn.execute("SELECT pg_notify($1, '')", channel)

    async def overdue(self, now: datetime, limit: int) -> tuple[int, list[Deadline]]:
        """Open deadlines past due, oldest first (at most `limit`), and how many there are."""
        count: int = await self._conn.fetchval(
            """
            SELECT count(*) FROM deadlines WHERE status = 'open' AND due_at < $1
            """,
            now,
        )
        records = await self._conn.fetch(
            f"""
            SELECT {_DEADLINE_COLUMNS} FROM deadlines
            WHERE status = 'open' AND due_at < $1
            ORDER BY due_at
            LIMIT $2
            """,
            now,
            limit,
        )
        return count, [deadline_from_record(record) for record in records]


class SqlLedger:
    """`stage_firings`: one row per decided (key, generation, stage, repetition)."""

    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def record(self, entries: Sequence[LedgerEntry]) -> set[tuple[str, int, str, int]]:
        """Insert ledger rows; returns the identities actually inserted.

        The primary key (key, generation, stage, repetition) refuses a second decision for the same
        firing; only a stage whose row was inserted here may be emitted.
        """
        if not entries:
            return set()
        records = await self._conn.fetch(
            """
            INSERT INTO stage_firings
                (key, generation, stage, repetition, role, status, at, decided_at, late, event_id,
                 decided_by)
            SELECT * FROM unnest(
                $1::text[], $2::int[], $3::text[], $4::int[], $5::text[], $6::text[],
                $7::timestamptz[], $8::timestamptz[], $9::bool[], $10::uuid[], $11::text[])
            ON CONFLICT (key, generation, stage, repetition) DO NOTHING
            RETURNING key, generation, stage, repetition
            """,
            [e.key for e in entries],
            [e.generation for e in entries],
            [e.decision.occurrence.stage for e in entries],
            [e.decision.occurrence.repetition for e in entries],
            [e.decision.occurrence.role for e in entries],
            ["fired" if e.decision.fire else "skipped" for e in entries],
            [e.decision.occurrence.at for e in entries],
            [e.decided_at for e in entries],
            [e.decision.late for e in entries],
            [e.event_id for e in entries],
            [e.decided_by for e in entries],
        )
        return {(r["key"], r["generation"], r["stage"], r["repetition"]) for r in records}


class SqlDigests:
    """`digests`: one row per day whose digest went out."""

    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def record(
        self, day: date, at: datetime, fired_at: datetime, count: int, event_id: UUID
    ) -> bool:
        """Claim the digest of `day`; False when another replica (or an earlier run) sent it."""
        inserted = await self._conn.fetchval(
            """
            INSERT INTO digests (digest_on, at, fired_at, overdue_count, event_id)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (digest_on) DO NOTHING
            RETURNING true
            """,
            day,
            at,
            fired_at,
            count,
            event_id,
        )
        return inserted is True


class SqlClears:
    """`deadline_clears`: the latest clear time per key."""

    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def latest(self, keys: Iterable[str]) -> dict[str, datetime]:
        records = await self._conn.fetch(
            """
            SELECT key, cleared_as_of FROM deadline_clears WHERE key = ANY($1::text[])
            """,
            sorted(set(keys)),
        )
        return {record["key"]: record["cleared_as_of"] for record in records}

    async def record(self, cleared_as_of: Mapping[str, datetime]) -> None:
        if not cleared_as_of:
            return
        await self._conn.execute(
            """
            INSERT INTO deadline_clears (key, cleared_as_of)
            SELECT * FROM unnest($1::text[], $2::timestamptz[]) ORDER BY 1
            ON CONFLICT (key) DO UPDATE
            SET cleared_as_of = greatest(deadline_clears.cleared_as_of, EXCLUDED.cleared_as_of),
                recorded_at = now()
            """,
            list(cleared_as_of),
            list(cleared_as_of.values()),
        )


class DeadlineReads(Protocol):
    async def next_fire_at(self) -> datetime | None: ...

    async def digest_recorded(self, day: date) -> bool: ...

    async def report(self, query: ReportQuery) -> list[Deadline]: ...

    async def report_total(self, query: ReportQuery) -> int:
        """How many deadlines `report` would list without its limit."""
        ...

    async def ledger_of(self, keys: Sequence[str]) -> list[LedgerRow]: ...

    async def database_now(self) -> datetime:
        """The database's clock, the one every replica shares."""
        ...


def _report_conditions(query: ReportQuery) -> tuple[str, list[object]]:
    """The WHERE clause of a report and its arguments ($1, $2, ... in order)."""
    conditions: list[str] = []
    args: list[object] = []
    for wanted, condition, value in (
        (query.due_before is not None, "due_at <= ${}", query.due_before),
        (query.breached_only, "breached_at IS NOT NULL", None),
        (query.overdue_at is not None, "due_at < ${}", query.overdue_at),
        (query.policy is not None, "policy = ${}", query.policy),
        (not query.include_cleared, "status = 'open'", None),
    ):
        if wanted:
            if "{}" in condition:
                args.append(value)
                condition = condition.format(len(args))
            conditions.append(condition)
    return " AND ".join(conditions) or "true", args


class SqlDeadlineReads:
    """Single statements on the pool, outside any transaction: the loop's next wake-up (once a
    tick, so no BEGIN/COMMIT round trips), the digest check and `GET /deadlines`."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool

    async def next_fire_at(self) -> datetime | None:
        return await _next_fire_at(self._pool)

    async def database_now(self) -> datetime:
        # clock_timestamp(), not now(): outside a transaction both are the same instant, but
        # this one stays right if the read is ever moved into one.
        instant: datetime = await self._pool.fetchval("SELECT clock_timestamp()")
        return instant

    async def digest_recorded(self, day: date) -> bool:
        found: bool = await self._pool.fetchval(
            """
            SELECT EXISTS (SELECT 1 FROM digests WHERE digest_on = $1)
            """,
            day,
        )
        return found

    async def report(self, query: ReportQuery) -> list[Deadline]:
        """Deadlines for `mynaflow deadlines`, soonest due first.

        Only the conditions asked for are in the query, so the planner can use
        `deadlines_open_due_idx` for the usual "open, due before" report.
        """
        where, args = _report_conditions(query)
        args.append(query.limit)
        records = await self._pool.fetch(
            f"""
            SELECT {_DEADLINE_COLUMNS} FROM deadlines
            WHERE {where}
            ORDER BY due_at, key
            LIMIT ${len(args)}
            """,
            *args,
        )
        return [deadline_from_record(record) for record in records]

    async def report_total(self, query: ReportQuery) -> int:
        where, args = _report_conditions(query)
        total: int = await self._pool.fetchval(
            f"""
            SELECT count(*) FROM deadlines WHERE {where}
            """,
            *args,
        )
        return total

    async def ledger_of(self, keys: Sequence[str]) -> list[LedgerRow]:
        """Every ledger row of these keys (all generations), in decision order."""
        rows = await self._pool.fetch(
            """
            SELECT key, generation, stage, repetition, role, status, at, decided_at, late
            FROM stage_firings
            WHERE key = ANY($1::text[])
            ORDER BY key, generation, at, repetition
            """,
            list(keys),
        )
        return [dict(row) for row in rows]
