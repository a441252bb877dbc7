"""Sequence gaps per municipality (docs/domain.md, "nothing slips" 2: gaps are visible).

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

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID

from mynaflow.domain import ids

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


class _MissingIndex:
    """Every missing range of a municipality, sorted by start, for O(log n) lookups.

    The missing ranges of different gaps never overlap, so a range start identifies a range.
    A backlog arrives across partitions out of order and can leave thousands of small holes;
    scanning them for each number made a batch quadratic.
    """

    def __init__(self, gaps: dict[UUID, Gap]) -> None:
        self._starts: list[int] = []
        self._ranges: dict[int, tuple[int, UUID]] = {}
        for gap in gaps.values():
            if gap.closed_at is None:
                self.add(gap)

    def add(self, gap: Gap) -> None:
        for first, last in gap.missing:
            insort(self._starts, first)
            self._ranges[first] = (last, gap.gap_id)

    def remove(self, gap: Gap) -> None:
        for first, _ in gap.missing:
            del self._starts[bisect_left(self._starts, first)]
            del self._ranges[first]

    def gap_containing(self, number: int) -> UUID | None:
        position = bisect_right(self._starts, number) - 1
        if position < 0:
            return None
        last, gap_id = self._ranges[self._starts[position]]
        return gap_id if number <= last else None


@dataclass
class MunicipalitySequence:
    """Everything known about one municipality's numbering. Mutated by `record_number`."""

    municipality_code: str
    low: int | None = None
    high: int | None = None
    gaps: dict[UUID, Gap] = field(default_factory=dict)
    _index: _MissingIndex | None = field(default=None, repr=False, compare=False)

    def open_gaps(self) -> list[Gap]:
        return [gap for gap in self.gaps.values() if gap.closed_at is None]

    @property
    def index(self) -> _MissingIndex:
        # Built on first use, after the caller has loaded the gaps.
        if self._index is None:
            self._index = _MissingIndex(self.gaps)
        return self._index

    def put(self, gap: Gap) -> None:
        """Add or replace a gap, keeping the index in step."""
        index = self.index  # built from the gaps as they were, before this change
        previous = self.gaps.get(gap.gap_id)
        if previous is not None and previous.closed_at is None:
            index.remove(previous)
        self.gaps[gap.gap_id] = gap
        if gap.closed_at is None:
            index.add(gap)

    def drop(self, gap: Gap) -> None:
        self.index.remove(gap)
        del self.gaps[gap.gap_id]


def new_gap(first: int, last: int, seen_at: datetime, new_id: Callable[[], UUID]) -> Gap:
    return Gap(new_id(), first, last, seen_at, ((first, last),))


def record_number(
    state: MunicipalitySequence,
    number: int,
    now: datetime,
    new_id: Callable[[], UUID] = ids.new_id,
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
        state.put(new_gap(first, last, now, new_id))


def _fill(
    state: MunicipalitySequence, number: int, now: datetime, new_id: Callable[[], UUID]
) -> Gap | None:
    gap_id = state.index.gap_containing(number)
    if gap_id is None:
        return None  # seen before: a duplicate notice, or a redelivery
    gap = state.gaps[gap_id]
    missing = _remove(gap.missing, number)
    if gap.reported_at is None:
        state.drop(gap)
        for first, last in missing:
            state.put(Gap(new_id(), first, last, gap.first_seen_missing_at, ((first, last),)))
        return None
    closed_at = now if not missing else None
    updated = replace(gap, missing=missing, closed_at=closed_at)
    state.put(updated)
    return updated if closed_at else None


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
