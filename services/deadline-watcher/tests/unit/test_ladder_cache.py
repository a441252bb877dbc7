"""Ladders are computed once per (policy, calendar, due time, start) and their answers reused:
a reused answer is the same as a fresh one, and no caller can change it for the next. Day
shifts are remembered per (JST date, offset, time of day, calendar): the same as computed
afresh."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import deadline_watcher.domain.ladder as ladder_module
import pytest
from deadline_watcher.domain.ladder import Ladder, shift
from deadline_watcher.domain.policies import Offset, OffsetUnit, load_policies
from deadline_watcher.service_layer.deps import WatcherDeps
from hypothesis import given
from hypothesis import strategies as st
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.clock import FakeClock
from mynaflow.domain.time import JST
from mynaflow_testing.memory.deadline_watcher import MemoryWatcher

pytestmark = pytest.mark.unit

POLICIES = load_policies()
CALENDAR_DEFAULT = BusinessCalendar()
DUE = datetime(2025, 5, 16, 17, tzinfo=JST)
NOW = DUE + timedelta(days=3)


def deps_with() -> WatcherDeps:
    return MemoryWatcher().deps(policies=POLICIES, clock=FakeClock(NOW))


def test_equal_instants_share_one_ladder_and_anything_else_gets_its_own() -> None:
    deps = deps_with()
    policy = POLICIES["notice_sla"]
    ladder = deps.ladder(policy, DUE, None)
    assert deps.ladder(policy, DUE.astimezone(UTC), None) is ladder
    assert deps.ladder(policy, DUE + timedelta(seconds=1), None) is not ladder
    assert deps.ladder(policy, DUE, DUE - timedelta(days=30)) is not ladder
    assert deps.ladder(POLICIES["chip_rewrite_90d"], DUE, None) is not ladder


def test_a_replaced_calendar_never_sees_ladders_of_the_old_one() -> None:
    deps = deps_with()
    policy = POLICIES["notice_sla"]
    closed = BusinessCalendar(extra_closures=[date(2025, 5, 19), date(2025, 5, 20)])
    other = replace(deps, calendar=closed)
    assert [o.at for o in other.ladder(policy, DUE, None).planned()] == [
        o.at for o in Ladder(policy, DUE, closed).planned()
    ]
    assert other.ladder(policy, DUE, None) is not deps.ladder(policy, DUE, None)


def test_reused_answers_equal_fresh_ones_and_callers_cannot_change_them() -> None:
    policy = POLICIES["chip_rewrite_90d"]
    cached = deps_with().ladder(policy, DUE, None)
    for after, until in [(None, NOW), (None, NOW), (DUE, NOW), (None, NOW)]:
        fresh = Ladder(policy, DUE, BusinessCalendar())
        answer = cached.between(after, until)
        assert answer == fresh.between(after, until)
        answer.clear()  # a caller's change must not reach the next caller
        assert cached.between(after, until) == fresh.between(after, until)
        assert cached.next_after(until) == fresh.next_after(until)
    planned = cached.planned()
    planned.pop()
    assert cached.planned() == Ladder(policy, DUE, BusinessCalendar()).planned()


# --- day shifts, remembered by (JST date, offset, time of day, calendar) -----------------------

_DAY_OFFSETS = st.builds(
    Offset,
    st.integers(-400, 400),
    st.sampled_from([OffsetUnit.CALENDAR_DAYS, OffsetUnit.BUSINESS_DAYS]),
)
_CLOSED = BusinessCalendar([date(2025, 5, 19), date(2025, 5, 20), date(2025, 5, 21)])


def _uncached_shift(
    instant: datetime, offset: Offset, calendar: BusinessCalendar, at: time | None
) -> datetime:
    ladder_module._day_shifts.clear()
    return shift(instant, offset, calendar, at)


@given(
    instant=st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
    offset=_DAY_OFFSETS,
    at=st.none() | st.times(),
    calendar=st.sampled_from([CALENDAR_DEFAULT, _CLOSED]),
)
def test_a_remembered_day_shift_is_the_one_computed_afresh(
    instant: datetime, offset: Offset, at: time | None, calendar: BusinessCalendar
) -> None:
    fresh = _uncached_shift(instant, offset, calendar, at)
    # Another instant of the same JST day first (its answer is remembered), then this one.
    shift(instant.astimezone(JST).replace(hour=0, minute=0), offset, calendar, at)
    assert shift(instant, offset, calendar, at) == fresh


def test_a_day_shift_remembered_for_one_calendar_is_not_given_for_another() -> None:
    friday = datetime(2025, 5, 16, 17, tzinfo=JST)
    one = Offset(1, OffsetUnit.BUSINESS_DAYS)
    assert shift(friday, one, CALENDAR_DEFAULT, time(9)) == datetime(2025, 5, 19, 9, tzinfo=JST)
    # The closures move the next business day: a cache keyed without the calendar would not.
    assert shift(friday, one, _CLOSED, time(9)) == datetime(2025, 5, 22, 9, tzinfo=JST)


def test_the_time_of_day_is_part_of_a_remembered_day_shift() -> None:
    morning = datetime(2025, 5, 16, 8, tzinfo=JST)
    minus_one = Offset(-1, OffsetUnit.CALENDAR_DAYS)
    assert shift(morning, minus_one, CALENDAR_DEFAULT) == datetime(2025, 5, 15, 8, tzinfo=JST)
    later = morning + timedelta(hours=9)
    assert shift(later, minus_one, CALENDAR_DEFAULT) == datetime(2025, 5, 15, 17, tzinfo=JST)


def test_remembered_day_shifts_are_bounded() -> None:
    start = datetime(2025, 1, 1, 9, tzinfo=JST)
    for day in range(ladder_module.MAX_CACHED_DAY_SHIFTS + 10):
        shift(start + timedelta(days=day), Offset(-1, OffsetUnit.CALENDAR_DAYS), CALENDAR_DEFAULT)
    assert len(ladder_module._day_shifts) <= ladder_module.MAX_CACHED_DAY_SHIFTS
