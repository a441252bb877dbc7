"""SQL for sequence numbers and gaps (asyncpg, caller's transaction).

Lock order: a municipality's `sequence_heads` row is locked before its gaps are read or
written, by the batch handler (in code order, waiting) and by the gap reporter (SKIP LOCKED,
never waiting). That makes the two safe against each other and across replicas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from notice_intake.domain.sequence_gaps import Gap, MunicipalitySequence

if TYPE_CHECKING:
    from mynaflow.storage.pool import DbConnection


async def lock_sequences(
    conn: DbConnection, first_numbers: Mapping[str, int]
) -> dict[str, MunicipalitySequence]:
    """Lock and load the state of each municipality; a new one starts at its first number."""
    codes = sorted(first_numbers)
    await conn.execute(
        """
        INSERT INTO sequence_heads (municipality_code, low, high)
        SELECT code, number, number FROM unnest($1::text[], $2::bigint[]) AS s(code, number)
        ORDER BY code
        ON CONFLICT DO NOTHING
        """,
        codes,
        [first_numbers[code] for code in codes],
    )
    heads = await conn.fetch(
        """
        SELECT municipality_code, low, high FROM sequence_heads
        WHERE municipality_code = ANY($1::text[])
        ORDER BY municipality_code
        FOR UPDATE
        """,
        codes,
    )
    states = {
        row["municipality_code"]: MunicipalitySequence(
            row["municipality_code"], row["low"], row["high"]
        )
        for row in heads
    }
    for gap_row in await _open_gap_rows(conn, codes):
        gap = _gap_from_row(gap_row)
        states[gap_row["municipality_code"]].gaps[gap.gap_id] = gap
    return states


async def _open_gap_rows(conn: DbConnection, codes: list[str]) -> list[Any]:
    return await conn.fetch(
        """
        SELECT gap_id, municipality_code, first_missing, last_missing, missing,
               first_seen_missing_at, reported_at, closed_at
        FROM sequence_gaps
        WHERE municipality_code = ANY($1::text[]) AND closed_at IS NULL
        """,
        codes,
    )


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


async def save_sequences(
    conn: DbConnection,
    before: Mapping[str, frozenset[UUID]],
    states: Mapping[str, MunicipalitySequence],
) -> None:
    """Write back heads and the gaps that changed since `before` (gap ids open at load)."""
    await conn.executemany(
        "UPDATE sequence_heads SET low = $2, high = $3 WHERE municipality_code = $1",
        [(code, s.low, s.high) for code, s in sorted(states.items())],
    )
    removed = [gid for code, ids in before.items() for gid in ids if gid not in states[code].gaps]
    await conn.execute(
        "DELETE FROM sequence_gaps WHERE gap_id = ANY($1::uuid[]) AND reported_at IS NULL",
        removed,
    )
    await conn.executemany(
        """
        INSERT INTO sequence_gaps (gap_id, municipality_code, first_missing, last_missing, missing,
                                   first_seen_missing_at, reported_at, closed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (gap_id) DO UPDATE
        SET missing = excluded.missing, closed_at = excluded.closed_at
        """,
        [_gap_values(code, gap) for code, state in states.items() for gap in state.gaps.values()],
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


async def claim_due_gaps(
    conn: DbConnection, due_before: datetime, reported_at: datetime
) -> list[MunicipalityGap]:
    """Mark unreported open gaps first seen at or before `due_before` as reported; return them.

    Municipalities whose numbers are being applied right now are skipped (SKIP LOCKED) and
    picked up on the next round, so a gap is never reported by two replicas, nor reported
    while a batch is filling it.
    """
    codes = await conn.fetch(
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
    rows = await conn.fetch(
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


async def next_unreported_gap_seen_at(conn: DbConnection) -> datetime | None:
    """When the oldest unreported open gap was first seen (its report falls due after grace)."""
    value = await conn.fetchval(
        """
        SELECT first_seen_missing_at FROM sequence_gaps
        WHERE reported_at IS NULL AND closed_at IS NULL
        ORDER BY first_seen_missing_at LIMIT 1
        """
    )
    return value if isinstance(value, datetime) else None
