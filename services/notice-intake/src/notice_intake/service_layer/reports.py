"""The read model behind `GET /stats` (`mynaflow intake stats`): counts, open gaps, the oldest
receipt, as plain JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from notice_intake.service_layer.deps import IntakeDeps

UNREADABLE_KIND = "(unreadable)"
OPEN_GAPS_LISTED = 100


async def intake_stats(deps: IntakeDeps) -> dict[str, Any]:
    """Counts by status and kind (duplicates counted once per duplicate message), open gaps
    (reported or still within grace), and the oldest stored receipt."""
    counts = await deps.reads.receipt_counts(UNREADABLE_KIND)
    gaps = await deps.reads.open_gaps(OPEN_GAPS_LISTED)
    open_gap_count = await deps.reads.open_gap_count()
    oldest = await deps.reads.oldest_receipt()
    return {
        **_count_summary(counts),
        "open_gap_count": open_gap_count,
        "open_gaps": [_gap_summary(row) for row in gaps],
        "oldest_receipt": _jsonable(dict(oldest)) if oldest else None,
        "generated_at": deps.clock.now().isoformat(),
    }


def _count_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
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


def _gap_summary(row: Mapping[str, Any]) -> dict[str, Any]:
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
