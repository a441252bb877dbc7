"""The read model behind `mynaflow deadlines`: deadlines with their stages, as plain JSON."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from deadline_watcher.adapters.repository import ReportQuery
from deadline_watcher.domain.deadline import Deadline
from deadline_watcher.service_layer.deps import WatcherDeps

MAX_REPORT_ROWS = 10_000

__all__ = ["MAX_REPORT_ROWS", "ReportQuery", "deadline_report"]


def _stages(deadline: Deadline, ledger: Sequence[Any], deps: WatcherDeps) -> list[dict[str, Any]]:
    """Decided stages from the ledger, then the planned ones not decided yet."""
    rows = [
        {
            "stage": row["stage"],
            "role": row["role"],
            "at": row["at"].isoformat(),
            "repetition": row["repetition"],
            "status": row["status"],
            "late": row["late"],
            "decided_at": row["decided_at"].isoformat(),
        }
        for row in ledger
        if row["generation"] == deadline.generation
    ]
    decided = {(row["stage"], row["repetition"]) for row in rows}
    policy = deps.policies.get(deadline.policy)
    if policy is not None:
        ladder = deps.ladder(policy, deadline.due_at, deadline.starts_at)
        for occurrence in ladder.planned():
            if occurrence.identity not in decided:
                rows.append(
                    {
                        "stage": occurrence.stage,
                        "role": occurrence.role,
                        "at": occurrence.at.isoformat(),
                        "repetition": 0,
                        "status": "pending" if deadline.is_open else "cancelled",
                        "late": None,
                        "decided_at": None,
                    }
                )
    return sorted(rows, key=lambda row: (row["at"], row["repetition"]))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _row(
    deadline: Deadline, ledger: Sequence[Any], deps: WatcherDeps, now: datetime
) -> dict[str, Any]:
    return {
        "key": deadline.key,
        "policy": deadline.policy,
        "generation": deadline.generation,
        "status": deadline.status.value,
        "due_at": deadline.due_at.isoformat(),
        "starts_at": _iso(deadline.starts_at),
        "scheduled_at": deadline.scheduled_at.isoformat(),
        "overdue": deadline.is_open and deadline.due_at < now,
        "breached": deadline.breached_at is not None,
        "breached_at": _iso(deadline.breached_at),
        "cleared_at": _iso(deadline.cleared_at),
        "clear_reason": deadline.clear_reason,
        "met": deadline.met,
        "next_fire_at": _iso(deadline.next_fire_at),
        "subject": dict(deadline.subject),
        "audience": dict(deadline.audience),
        "stages": _stages(deadline, ledger, deps),
    }


async def deadline_report(query: ReportQuery, deps: WatcherDeps) -> dict[str, Any]:
    now = deps.clock.now()
    deadlines = await deps.reads.report(replace(query, limit=min(query.limit, MAX_REPORT_ROWS)))
    # A full page may hide more: say how many match, so a capped list never looks complete.
    total = len(deadlines)
    if total >= query.limit:
        total = await deps.reads.report_total(query)
    by_key: dict[str, list[Any]] = defaultdict(list)
    for row in await deps.reads.ledger_of([d.key for d in deadlines]):
        by_key[row["key"]].append(row)
    return {
        "generated_at": now.isoformat(),
        "count": len(deadlines),
        "total": total,
        "truncated": total > len(deadlines),
        "deadlines": [_row(deadline, by_key[deadline.key], deps, now) for deadline in deadlines],
    }
