"""Sequence gaps per municipality (DOMAIN.md "nothing slips" 2: gaps are visible).

J-LIS numbers notices per municipality. They arrive out of order across partitions, so a hole
is only a gap once it has stayed open longer than a grace period.

The state of one municipality is the lowest and highest number seen plus the open gaps; it
determines exactly which numbers have arrived (anything in [low, high] not in a gap), so no
per-number table is needed. A gap is a contiguous missing range:
- while it is not reported yet, an arrival inside it splits it, and the pieces keep the time the
  hole was first seen, so what gets reported is exactly what is missing;
- once reported, it keeps the reported range and only its `missing` sub-ranges shrink; when the
  last one fills, the gap is closed and a `sequence-gap-closed` event follows.
Numbers below the first one ever seen are not "missing": intake may start mid-stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID

Range = tuple[int, int]


@dataclass(frozen=True)
class Gap:
    gap_id: UUID
    first_missing: int
    last_missing: int
    first_seen_missing_at: datetime
    missing: tuple[Range, ...]
    reported_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def missing_count(self) -> int:
        return sum(last - first + 1 for first, last in self.missing)

    def contains(self, number: int) -> bool:
        return any(first <= number <= last for first, last in self.missing)

    def is_due(self, now: datetime, grace: timedelta) -> bool:
        return self.reported_at is None and self.first_seen_missing_at + grace <= now


@dataclass
class MunicipalitySequence:
    """Everything known about one municipality's numbering. Mutated by `record_number`."""

    municipality_code: str
    low: int | None = None
    high: int | None = None
    gaps: dict[UUID, Gap] = field(default_factory=dict)

    def open_gaps(self) -> list[Gap]:
        return [gap for gap in self.gaps.values() if gap.closed_at is None]


def new_gap(first: int, last: int, seen_at: datetime, new_id: Callable[[], UUID]) -> Gap:
    return Gap(new_id(), first, last, seen_at, ((first, last),))


def record_number(
    state: MunicipalitySequence,
    number: int,
    now: datetime,
    new_id: Callable[[], UUID] = uuid.uuid4,
) -> Gap | None:
    """Record an arrived number; return the reported gap it closed, if it closed one."""
    if state.low is None or state.high is None:
        state.low = state.high = number
        return None
    if number > state.high:
        _open_gap(state, state.high + 1, number - 1, now, new_id)
        state.high = number
        return None
    if number < state.low:
        _open_gap(state, number + 1, state.low - 1, now, new_id)
        state.low = number
        return None
    return _fill(state, number, now, new_id)


def _open_gap(
    state: MunicipalitySequence,
    first: int,
    last: int,
    now: datetime,
    new_id: Callable[[], UUID],
) -> None:
    if first <= last:
        gap = new_gap(first, last, now, new_id)
        state.gaps[gap.gap_id] = gap


def _fill(
    state: MunicipalitySequence, number: int, now: datetime, new_id: Callable[[], UUID]
) -> Gap | None:
    gap = next((g for g in state.open_gaps() if g.contains(number)), None)
    if gap is None:
        return None  # seen before: a duplicate notice, or a redelivery
    missing = _remove(gap.missing, number)
    if gap.reported_at is None:
        del state.gaps[gap.gap_id]
        for first, last in missing:
            piece = Gap(new_id(), first, last, gap.first_seen_missing_at, ((first, last),))
            state.gaps[piece.gap_id] = piece
        return None
    closed_at = now if not missing else None
    state.gaps[gap.gap_id] = replace(gap, missing=missing, closed_at=closed_at)
    return state.gaps[gap.gap_id] if closed_at else None


def _remove(ranges: tuple[Range, ...], number: int) -> tuple[Range, ...]:
    result: list[Range] = []
    for first, last in ranges:
        if not first <= number <= last:
            result.append((first, last))
            continue
        if first <= number - 1:
            result.append((first, number - 1))
        if number + 1 <= last:
            result.append((number + 1, last))
    return tuple(result)


def missing_numbers(state: MunicipalitySequence) -> set[int]:
    """Every number currently missing (for tests and small reports; ranges can be large)."""
    return {
        number
        for gap in state.open_gaps()
        for first, last in gap.missing
        for number in range(first, last + 1)
    }
