"""`GET /stats`: what `mynaflow intake stats` shows (counts, open gaps, the oldest receipt)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notice_intake.service_layer.deps import IntakeDeps

UNREADABLE_KIND = "(unreadable)"
OPEN_GAPS_LISTED = 100


async def intake_stats(deps: IntakeDeps, _query: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Counts by status and kind (duplicates counted once per duplicate message), open gaps
    (reported or still within grace), and the oldest stored receipt."""
    async with deps.pool.acquire() as conn:
        counts = await conn.fetch(
            """
            SELECT status, coalesce(kind, $1) AS kind, count(*) AS stored,
                   sum(duplicate_count) AS duplicates, sum(conflict_count) AS conflicts
            FROM receipts GROUP BY status, coalesce(kind, $1)
            """,
            UNREADABLE_KIND,
        )
        gaps = await conn.fetch(
            """
            SELECT gap_id, municipality_code, first_missing, last_missing, missing,
                   first_seen_missing_at, reported_at
            FROM sequence_gaps WHERE closed_at IS NULL
            ORDER BY first_seen_missing_at LIMIT $1
            """,
            OPEN_GAPS_LISTED,
        )
        open_gap_count = await conn.fetchval(
            "SELECT count(*) FROM sequence_gaps WHERE closed_at IS NULL"
        )
        oldest = await conn.fetchrow(
            """
            SELECT receipt_id, notice_id, status, kind, owner_queue, received_at, issued_at,
                   sla_due_on
            FROM receipts ORDER BY received_at, receipt_id LIMIT 1
            """
        )
    return {
        **_count_summary(counts),
        "open_gap_count": open_gap_count,
        "open_gaps": [_gap_summary(row) for row in gaps],
        "oldest_receipt": _jsonable(dict(oldest)) if oldest else None,
        "generated_at": deps.clock().isoformat(),
    }


def _count_summary(rows: list[Any]) -> dict[str, Any]:
    by_status = {"accepted": 0, "duplicate": 0, "quarantined": 0}
    by_kind: dict[str, dict[str, int]] = {}
    conflicts = 0
    for row in rows:
        kind = by_kind.setdefault(row["kind"], {"accepted": 0, "duplicate": 0, "quarantined": 0})
        kind[row["status"]] += row["stored"]
        kind["duplicate"] += row["duplicates"] or 0
        by_status[row["status"]] += row["stored"]
        by_status["duplicate"] += row["duplicates"] or 0
        conflicts += row["conflicts"] or 0
    return {
        "stored_receipts": by_status["accepted"] + by_status["quarantined"],
        "by_status": by_status,
        "by_kind": dict(sorted(by_kind.items())),
        "content_conflicts": conflicts,
    }


def _gap_summary(row: Any) -> dict[str, Any]:
    missing = sum(int(last) - int(first) + 1 for first, last in row["missing"])
    return _jsonable(
        {
            "gap_id": row["gap_id"],
            "municipality_code": row["municipality_code"],
            "first_missing": row["first_missing"],
            "last_missing": row["last_missing"],
            "missing_count": missing,
            "first_seen_missing_at": row["first_seen_missing_at"],
            "reported": row["reported_at"] is not None,
        }
    )


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat()
        if hasattr(value, "isoformat")
        else (
            str(value) if value is not None and not isinstance(value, int | str | bool) else value
        )
        for key, value in values.items()
    }
