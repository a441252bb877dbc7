"""The read side: reports served by the HTTP endpoints, straight SQL on the pool.

Reads run outside any unit of work; each is one statement on indexed columns. Ages and overdue
flags are computed against the `now` passed in (the service's clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from mynaflow.contracts.registry import CaseKind, CaseLike, CasesLikeReport
from mynaflow.domain.time import start_of_jst_day
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import asyncpg


class BacklogItem(BaseModel):
    """One open work item: age in whole days since it was opened, its SLA and assignee."""

    model_config = ConfigDict(frozen=True)

    work_item_id: str
    notice_id: str | None
    kind: str | None
    queue: str
    status: str
    resident_id: str | None
    assignee: str | None
    opened_at: datetime
    age_days: int
    sla_due_on: date | None
    overdue: bool


class QueueReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    queue: str
    members: list[str]
    orphaned: bool
    open_items: int
    overdue_items: int


class HistoryLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    entity_type: str
    entity_id: str
    action: str
    outcome: str
    staff_id: str | None
    performed_at: datetime | None
    recorded_at: datetime
    event_id: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Reports:
    pool: asyncpg.Pool[asyncpg.Record]

    async def backlog(
        self, now: datetime, *, queue: str | None = None, overdue_only: bool = False
    ) -> list[BacklogItem]:
        rows = await self.pool.fetch(
            """SELECT key, notice_id, kind, queue, status, resident_id, assignee, opened_at,
                      sla_due_on, due_at
               FROM work_items
               WHERE resolved_at IS NULL AND ($1::text IS NULL OR queue = $1)
                 AND (NOT $2 OR due_at < $3)
               ORDER BY due_at NULLS LAST, opened_at, key""",
            queue,
            overdue_only,
            now,
        )
        return [_backlog_item(row, now) for row in rows]

    async def queues(self, now: datetime) -> list[QueueReport]:
        rows = await self.pool.fetch(
            """SELECT name, coalesce(q.members, '{}') AS members,
                      coalesce(q.orphaned, false) AS orphaned,
                      count(w.key) AS open_items,
                      count(w.key) FILTER (WHERE w.due_at < $1) AS overdue_items
               FROM (SELECT name FROM queues UNION
                     SELECT DISTINCT queue FROM work_items WHERE resolved_at IS NULL) names
               LEFT JOIN queues q USING (name)
               LEFT JOIN work_items w ON w.queue = names.name AND w.resolved_at IS NULL
               GROUP BY name, q.members, q.orphaned
               ORDER BY name""",
            now,
        )
        return [
            QueueReport(
                queue=row["name"],
                members=list(row["members"]),
                orphaned=row["orphaned"],
                open_items=row["open_items"],
                overdue_items=row["overdue_items"],
            )
            for row in rows
        ]

    async def history(
        self, entity_type: str, entity_id: str, limit: int = 1000
    ) -> list[HistoryLine]:
        rows = await self.pool.fetch(
            """SELECT entity_type, entity_id, action, outcome, staff_id, performed_at,
                      recorded_at, event_id, detail
               FROM history WHERE entity_type = $1 AND entity_id = $2 ORDER BY id LIMIT $3""",
            entity_type,
            entity_id,
            limit,
        )
        return [HistoryLine(**dict(row)) for row in rows]

    async def cases_like(
        self, kind: str, now: datetime, *, overdue_only: bool = False, since: date | None = None
    ) -> CasesLikeReport:
        since_at = start_of_jst_day(since) if since is not None else None
        if kind in (CaseKind.CHIP_REWRITE, CaseKind.SURFACE_CHIP_MISMATCH):
            cases = await self._move_in_cases(kind, now, since_at)
        else:
            cases = await self._notice_cases(kind, now, since_at)
        if overdue_only:
            cases = [case for case in cases if case.overdue]
        return CasesLikeReport(
            kind=kind, overdue_only=overdue_only, since=since, generated_at=now, cases=cases
        )

    async def _move_in_cases(
        self, kind: str, now: datetime, since_at: datetime | None
    ) -> list[CaseLike]:
        rows = await self.pool.fetch(
            """SELECT card_id, resident_id, household_id, state, move_in_case, case_due_at
               FROM cards
               WHERE move_in_case IS NOT NULL
                 AND (NOT $1 OR (move_in_case->>'mismatch_reported')::boolean)
               ORDER BY case_due_at, card_id""",
            kind == CaseKind.SURFACE_CHIP_MISMATCH,
        )
        cases = [_move_in_case(kind, row, now) for row in rows]
        return [case for case in cases if since_at is None or case.opened_at >= since_at]

    async def _notice_cases(
        self, kind: str, now: datetime, since_at: datetime | None
    ) -> list[CaseLike]:
        rows = await self.pool.fetch(
            """SELECT w.key, w.notice_id, w.queue, w.resident_id, w.opened_at, w.due_at,
                      w.resolved_at, r.household_id, c.card_id
               FROM work_items w
               LEFT JOIN residents r ON r.resident_id = w.resident_id
               LEFT JOIN cards c ON c.card_id = w.application_id
               WHERE w.kind = $1 AND ($2::timestamptz IS NULL OR w.opened_at >= $2)
               ORDER BY w.opened_at, w.key""",
            kind,
            since_at,
        )
        return [_notice_case(kind, row, now) for row in rows]


def _overdue(due_at: datetime | None, closed_at: datetime | None, now: datetime) -> bool:
    return due_at is not None and (closed_at or now) > due_at


def _backlog_item(row: asyncpg.Record, now: datetime) -> BacklogItem:
    return BacklogItem(
        work_item_id=row["key"],
        notice_id=row["notice_id"],
        kind=row["kind"],
        queue=row["queue"],
        status=row["status"],
        resident_id=row["resident_id"],
        assignee=row["assignee"],
        opened_at=row["opened_at"],
        age_days=(now - row["opened_at"]).days,
        sla_due_on=row["sla_due_on"],
        overdue=_overdue(row["due_at"], None, now),
    )


def _move_in_case(kind: str, row: asyncpg.Record, now: datetime) -> CaseLike:
    case = row["move_in_case"]
    closed = case.get("verified_at") or case.get("lapsed_at")
    closed_at = datetime.fromisoformat(closed) if closed else None
    return CaseLike(
        kind=kind,
        case_id=row["card_id"],
        resident_id=row["resident_id"],
        household_id=row["household_id"],
        card_id=row["card_id"],
        notice_id=None,
        queue=None,
        state=f"{case['status']}/{row['state']}",
        opened_at=start_of_jst_day(date.fromisoformat(case["notified_on"])),
        due_at=row["case_due_at"],
        closed_at=closed_at,
        overdue=_overdue(row["case_due_at"], closed_at, now),
    )


def _notice_case(kind: str, row: asyncpg.Record, now: datetime) -> CaseLike:
    return CaseLike(
        kind=kind,
        case_id=row["key"],
        resident_id=row["resident_id"],
        household_id=row["household_id"],
        card_id=row["card_id"],
        notice_id=row["notice_id"],
        queue=row["queue"],
        state="resolved" if row["resolved_at"] else "open",
        opened_at=row["opened_at"],
        due_at=row["due_at"],
        closed_at=row["resolved_at"],
        overdue=_overdue(row["due_at"], row["resolved_at"], now),
    )
