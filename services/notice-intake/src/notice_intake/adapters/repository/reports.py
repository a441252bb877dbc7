"""Reads outside any transaction, on the pool: `GET /stats` and the gap watcher's next wake-up."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncpg

Row = Mapping[str, Any]


class IntakeReads(Protocol):
    async def receipt_counts(self, unreadable_kind: str) -> list[Row]: ...

    async def open_gaps(self, limit: int) -> list[Row]: ...

    async def open_gap_count(self) -> int: ...

    async def oldest_receipt(self) -> Row | None: ...

    async def next_unreported_gap_seen_at(self) -> datetime | None: ...


class SqlIntakeReads:
    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool

    async def receipt_counts(self, unreadable_kind: str) -> list[Row]:
        """Stored receipts, duplicates and conflicts per (status, kind)."""
        rows = await self._pool.fetch(
            """
            SELECT status, coalesce(kind, $1) AS kind, count(*) AS stored,
                   sum(duplicate_count) AS duplicates, sum(conflict_count) AS conflicts
            FROM receipts GROUP BY status, coalesce(kind, $1)
            """,
            unreadable_kind,
        )
        return [dict(row) for row in rows]

    async def open_gaps(self, limit: int) -> list[Row]:
        """Open gaps (reported or still within grace), oldest first."""
        rows = await self._pool.fetch(
            """
            SELECT gap_id, municipality_code, first_missing, last_missing, missing,
                   first_seen_missing_at, reported_at
            FROM sequence_gaps WHERE closed_at IS NULL
            ORDER BY first_seen_missing_at LIMIT $1
            """,
            limit,
        )
        return [dict(row) for row in rows]

    async def open_gap_count(self) -> int:
        count = await self._pool.fetchval(
            "SELECT count(*) FROM sequence_gaps WHERE closed_at IS NULL"
        )
        return int(count)

    async def oldest_receipt(self) -> Row | None:
        row = await self._pool.fetchrow(
            """
            SELECT receipt_id, notice_id, status, kind, owner_queue, received_at, issued_at,
                   sla_due_on
            FROM receipts ORDER BY received_at, receipt_id LIMIT 1
            """
        )
        return dict(row) if row is not None else None

    async def next_unreported_gap_seen_at(self) -> datetime | None:
        """When the oldest unreported open gap was first seen (its report falls due after grace)."""
        value = await self._pool.fetchval(
            """
            SELECT first_seen_missing_at FROM sequence_gaps
            WHERE reported_at IS NULL AND closed_at IS NULL
            ORDER BY first_seen_missing_at LIMIT 1
            """
        )
        return value if isinstance(value, datetime) else None
