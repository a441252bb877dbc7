"""Sequence gaps: exactly the missing numbers, whatever the arrival order (pure, hypothesis)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from notice_intake.domain.sequence_gaps import (
    MunicipalitySequence,
    missing_numbers,
    record_number,
)

pytestmark = pytest.mark.unit

T0 = datetime(2025, 5, 1, tzinfo=UTC)
GRACE = timedelta(minutes=15)


def test_a_hole_is_a_gap_and_an_arrival_inside_splits_it() -> None:
    state = MunicipalitySequence("141046")
    for number in (1, 2, 6):
        record_number(state, number, T0)
    assert missing_numbers(state) == {3, 4, 5}
    record_number(state, 4, T0 + timedelta(minutes=1))
    gaps = sorted(state.open_gaps(), key=lambda g: g.first_missing)
    assert [(g.first_missing, g.last_missing) for g in gaps] == [(3, 3), (5, 5)]
    # The pieces keep the time the hole was first seen: the grace is not restarted.
    assert {g.first_seen_missing_at for g in gaps} == {T0}


def test_numbers_before_the_first_one_seen_are_not_missing() -> None:
    state = MunicipalitySequence("141046")
    record_number(state, 100, T0)
    record_number(state, 101, T0)
    assert missing_numbers(state) == set()
    record_number(state, 97, T0)  # a lower one arrives late: 98 and 99 are now missing
    assert missing_numbers(state) == {98, 99}


def test_a_reported_gap_closes_only_when_every_number_arrived() -> None:
    state = MunicipalitySequence("141046")
    for number in (1, 5):
        record_number(state, number, T0)
    (gap,) = state.open_gaps()
    assert gap.is_due(T0 + GRACE, GRACE)
    assert not gap.is_due(T0 + GRACE / 2, GRACE)
    state.gaps[gap.gap_id] = gap.__class__(**{**gap.__dict__, "reported_at": T0 + GRACE})
    assert record_number(state, 3, T0 + GRACE) is None
    assert record_number(state, 2, T0 + GRACE) is None
    closed = record_number(state, 4, T0 + 2 * GRACE)
    assert closed is not None
    assert (closed.first_missing, closed.last_missing) == (2, 4)
    assert closed.closed_at == T0 + 2 * GRACE
    assert state.open_gaps() == []


def test_duplicates_change_nothing() -> None:
    state = MunicipalitySequence("141046")
    for number in (1, 3, 3, 1):
        record_number(state, number, T0)
    assert missing_numbers(state) == {2}
    assert len(state.gaps) == 1


@given(st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=80))
def test_missing_is_exactly_the_holes_between_lowest_and_highest(numbers: list[int]) -> None:
    state = MunicipalitySequence("141046")
    for number in numbers:
        record_number(state, number, T0)
    expected = set(range(min(numbers), max(numbers) + 1)) - set(numbers)
    assert missing_numbers(state) == expected
    # The lookup index agrees with the gaps themselves, number by number.
    looked_up = {n for n in range(-1, 62) if state.index.gap_containing(n) is not None}
    assert looked_up == expected
    ranges = sorted(r for gap in state.open_gaps() for r in gap.missing)
    assert all(a[1] + 1 < b[0] for a, b in itertools.pairwise(ranges))


@given(
    st.permutations(list(range(1, 25))),
    st.sets(st.integers(min_value=2, max_value=23), max_size=8),
)
def test_reported_gaps_close_once_when_filled(order: list[int], held_back: set[int]) -> None:
    state = MunicipalitySequence("141046")
    for number in order:
        if number not in held_back:
            record_number(state, number, T0)
    for gap in list(state.open_gaps()):
        state.gaps[gap.gap_id] = gap.__class__(**{**gap.__dict__, "reported_at": T0})
    reported = {gap.gap_id for gap in state.open_gaps()}
    closed = [record_number(state, n, T0) for n in sorted(held_back) * 2]
    closed_ids = [gap.gap_id for gap in closed if gap is not None]
    assert sorted(closed_ids) == sorted(reported)  # each exactly once, duplicates ignored
    assert missing_numbers(state) == set()
