"""Sequence numbers and gaps: SQL on the unit of work's connection.

Lock order: a municipality's `sequence_heads` row is locked before its gaps are read or
written, by the batch handler (in code order, waiting) and by the gap reporter (SKIP LOCKED,
never waiting). That makes the two safe against each other and across replicas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from notice_intake.domain.sequence_gaps import Gap, MunicipalitySequence

if TYPE_CHECKING:
    from mynaflow.storage.pool import DbConnection


def _gap_from_row(row: Any) -> Gap:
    return Gap(
        gap_id=row["gap_id"],
        first_missing=row["first_missing"],
        last_missing=row["last_missing"],
        first_seen_missing_at=row["first_seen_missing_at"],
        missing=tuple((int(first), int(last)) for first, last in row["missing"]),
        reported_at=row["reported_at"],
        closed_at=row["closed_at"],
    )


def _gap_values(code: str, gap: Gap) -> tuple[Any, ...]:
    return (
        gap.gap_id,
        code,
        gap.first_missing,
        gap.last_missing,
        [list(r) for r in gap.missing],
        gap.first_seen_missing_at,
        gap.reported_at,
        gap.closed_at,
    )


@dataclass(frozen=True)
class MunicipalityGap:
    municipality_code: str
    gap: Gap


class Sequences(Protocol):
    async def lock(self, numbers: Sequence[tuple[str, int]]) -> dict[str, MunicipalitySequence]:
        """The heads (locked) and the gaps holding `numbers`, per municipality."""
        ...

    async def save(
        self,
        before: Mapping[str, Mapping[UUID, Gap]],
        states: Mapping[str, MunicipalitySequence],
    ) -> None: ...

    async def claim_due_gaps(
        self, due_before: datetime, reported_at: datetime
    ) -> list[MunicipalityGap]: ...


class SqlSequences:
    """`sequence_heads` and `sequence_gaps`."""

    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def lock(self, numbers: Sequence[tuple[str, int]]) -> dict[str, MunicipalitySequence]:
        """Lock the heads of the municipalities in `numbers` and load the gaps those numbers fall
        in. A new municipality starts at its first number.

        Only gaps whose range holds one of the numbers are loaded: a number between the lowest and
        highest seen is missing exactly when some stored gap holds it, and a backlog can leave
        thousands of gaps that a batch never touches.
        """
        first_numbers: dict[str, int] = {}
        for code, number in numbers:
            first_numbers.setdefault(code, number)
        codes = sorted(first_numbers)
        # One round trip: a new municipality's head is created at its first number; an existing
        # one is locked by the no-op update (as `SELECT ... FOR UPDATE` would) and returned.
        heads = await self._conn.fetch(
            """
            INSERT INTO sequence_heads AS h (municipality_code, low, high)
            SELECT code, number, number FROM unnest($1::text[], $2::bigint[]) AS s(code, number)
            ORDER BY code
            ON CONFLICT (municipality_code) DO UPDATE SET low = h.low
            RETURNING municipality_code, low, high
            """,
            codes,
            [first_numbers[code] for code in codes],
        )
        states = {
            row["municipality_code"]: MunicipalitySequence(
                row["municipality_code"], row["low"], row["high"]
            )
            for row in heads
        }
        for gap_row in await self._gap_rows_holding(codes, numbers):
            gap = _gap_from_row(gap_row)
            states[gap_row["municipality_code"]].gaps[gap.gap_id] = gap
        return states

    async def _gap_rows_holding(
        self, codes: list[str], numbers: Sequence[tuple[str, int]]
    ) -> list[Any]:
        # Open gap ranges never overlap, so the only candidate for a number is the open gap with
        # the greatest start at or below it: one index probe per number.
        return await self._conn.fetch(
            """
            SELECT DISTINCT ON (g.gap_id)
                   g.gap_id, g.municipality_code, g.first_missing, g.last_missing, g.missing,
                   g.first_seen_missing_at, g.reported_at, g.closed_at
            FROM unnest($2::text[], $3::bigint[]) AS n(code, number)
            CROSS JOIN LATERAL (
                SELECT * FROM sequence_gaps
                WHERE municipality_code = n.code AND closed_at IS NULL
                  AND first_missing <= n.number
                ORDER BY first_missing DESC
                LIMIT 1
            ) AS g
            WHERE n.number <= g.last_missing AND g.municipality_code = ANY($1::text[])
            """,
            codes,
            [code for code, _ in numbers],
            [number for _, number in numbers],
        )

    async def save(
        self,
        before: Mapping[str, Mapping[UUID, Gap]],
        states: Mapping[str, MunicipalitySequence],
    ) -> None:
        """Write back the heads and only the gaps that changed since `before` (as loaded)."""
        await self._conn.executemany(
            "UPDATE sequence_heads SET low = $2, high = $3 WHERE municipality_code = $1",
            [(code, s.low, s.high) for code, s in sorted(states.items())],
        )
        removed = [
            gid for code, gaps in before.items() for gid in gaps if gid not in states[code].gaps
        ]
        if removed:
            await self._conn.execute(
                "DELETE FROM sequence_gaps WHERE gap_id = ANY($1::uuid[]) AND reported_at IS NULL",
                removed,
            )
        changed = [
            _gap_values(code, gap)
            for code, state in states.items()
            for gap in state.gaps.values()
            if before[code].get(gap.gap_id) != gap
        ]
        if not changed:  # the usual batch: numbers in order, no gap opened or closed
            return
        await self._conn.executemany(
            """
            INSERT INTO sequence_gaps (gap_id, municipality_code, first_missing, last_missing,
                                       missing, first_seen_missing_at, reported_at, closed_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (gap_id) DO UPDATE
            SET missing = excluded.missing, closed_at = excluded.closed_at
            """,
            changed,
        )

    async def claim_due_gaps(
        self, due_before: datetime, reported_at: datetime
    ) -> list[MunicipalityGap]:
        """Mark unreported open gaps first seen at or before `due_before` as reported; return them.

        Municipalities whose numbers are being applied right now are skipped (SKIP LOCKED) and
        picked up on the next round, so a gap is never reported by two replicas, nor reported
        while a batch is filling it.
        """
        codes = await self._conn.fetch(
            """
            SELECT municipality_code FROM sequence_heads
            WHERE municipality_code IN (
                SELECT municipality_code FROM sequence_gaps
                WHERE reported_at IS NULL AND closed_at IS NULL AND first_seen_missing_at <= $1
            )
            ORDER BY municipality_code
            FOR UPDATE SKIP LOCKED
            """,
            due_before,
        )
        if not codes:
            return []
        rows = await self._conn.fetch(
            """
            UPDATE sequence_gaps SET reported_at = $3
            WHERE municipality_code = ANY($1::text[])
              AND reported_at IS NULL AND closed_at IS NULL AND first_seen_missing_at <= $2
            RETURNING gap_id, municipality_code, first_missing, last_missing, missing,
                      first_seen_missing_at, reported_at, closed_at
            """,
            [row["municipality_code"] for row in codes],
            due_before,
            reported_at,
        )
        ordered = sorted(rows, key=lambda r: (r["first_seen_missing_at"], r["first_missing"]))
        return [MunicipalityGap(row["municipality_code"], _gap_from_row(row)) for row in ordered]
