"""Unit tests of the business-day calendar (開庁日): known dates (`docs/domain.md`), properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mynaflow.domain.calendar import (
    BusinessCalendar,
    is_year_end_closure,
    national_holidays,
    parse_date_list,
)
from mynaflow.domain.time import JST

pytestmark = pytest.mark.unit

CALENDAR = BusinessCalendar()

days = st.dates(min_value=date(1995, 1, 1), max_value=date(2095, 12, 31))
counts = st.integers(min_value=0, max_value=400)
closures = st.frozensets(
    st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31)), max_size=30
)
near_days = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 6, 30))


def naive_add(calendar: BusinessCalendar, start: date, n: int) -> date:
    """Reference implementation: walk day by day."""
    day = start
    while n > 0:
        day += timedelta(days=1)
        if calendar.is_business_day(day):
            n -= 1
    return day


def business_day_strategy(calendar: BusinessCalendar) -> st.SearchStrategy[date]:
    return days.map(calendar.business_day_on_or_after)


# --- known answers (docs/domain.md) --------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        (date(2022, 3, 10), 3, date(2022, 3, 15)),
        (date(2025, 5, 1), 3, date(2025, 5, 8)),
        (date(2025, 12, 26), 5, date(2026, 1, 9)),
    ],
)
def test_domain_examples(start: date, n: int, due: date) -> None:
    assert CALENDAR.add_business_days(start, n) == due
    issued_at = datetime.combine(start, datetime.min.time(), tzinfo=JST).replace(hour=10)
    assert CALENDAR.sla_due_on(issued_at, n) == due


def test_golden_week_2025() -> None:
    closed = [date(2025, 4, 29), *(date(2025, 5, d) for d in (3, 4, 5, 6))]
    open_ = [
        date(2025, 4, 28),
        date(2025, 4, 30),
        date(2025, 5, 1),
        date(2025, 5, 2),
        date(2025, 5, 7),
    ]
    assert [CALENDAR.is_business_day(d) for d in closed] == [False] * len(closed)
    assert [CALENDAR.is_business_day(d) for d in open_] == [True] * len(open_)


def test_year_end_closure_2025_is_closed_every_day() -> None:
    closure = [date(2025, 12, 29) + timedelta(days=i) for i in range(6)]
    assert closure[-1] == date(2026, 1, 3)
    assert not any(CALENDAR.is_business_day(d) for d in closure)
    assert CALENDAR.is_business_day(date(2025, 12, 26))
    assert CALENDAR.is_business_day(date(2026, 1, 5))
    assert CALENDAR.next_business_day(date(2025, 12, 26)) == date(2026, 1, 5)


def test_year_end_closure_applies_on_weekdays_without_holidays() -> None:
    # 2024-12-30 is a Monday and not a national holiday: closed only by the year-end rule.
    assert date(2024, 12, 30).weekday() == 0
    assert date(2024, 12, 30) not in national_holidays(2024)
    assert is_year_end_closure(date(2024, 12, 30))
    assert not CALENDAR.is_business_day(date(2024, 12, 30))


def test_substitute_holiday_is_closed() -> None:
    # 天皇誕生日 2025-02-23 falls on a Sunday, so Monday 2025-02-24 is a 振替休日.
    assert date(2025, 2, 23).weekday() == 6
    assert not CALENDAR.is_business_day(date(2025, 2, 24))
    assert CALENDAR.add_business_days(date(2025, 2, 21), 1) == date(2025, 2, 25)


def test_citizens_holiday_between_two_holidays_is_closed() -> None:
    # 2026-09-22 sits between 敬老の日 and 秋分の日: a 国民の休日.
    assert not CALENDAR.is_business_day(date(2026, 9, 22))
    assert CALENDAR.add_business_days(date(2026, 9, 18), 1) == date(2026, 9, 24)


def test_sla_uses_the_jst_date_of_the_issue_instant() -> None:
    # 2022-03-10 15:30 UTC is already Friday 2022-03-11 00:30 in Tokyo.
    issued_at = datetime(2022, 3, 10, 15, 30, tzinfo=UTC)
    assert CALENDAR.sla_due_on(issued_at, 3) == date(2022, 3, 16)
    just_before = datetime(2022, 3, 10, 14, 59, 59, tzinfo=UTC)
    assert CALENDAR.sla_due_on(just_before, 3) == date(2022, 3, 15)


def test_sla_refuses_a_naive_instant() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CALENDAR.sla_due_on(datetime(2022, 3, 10, 10, 0), 3)


def test_datetime_where_a_date_is_meant_is_refused() -> None:
    with pytest.raises(TypeError, match="to_jst_date"):
        CALENDAR.add_business_days(datetime(2022, 3, 10, tzinfo=UTC), 3)


def test_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        CALENDAR.add_business_days(date(2025, 1, 6), -1)
    with pytest.raises(ValueError, match=">= 0"):
        CALENDAR.subtract_business_days(date(2025, 1, 6), -1)


# --- configuration --------------------------------------------------------------------------


def test_configured_extra_closure_is_respected() -> None:
    calendar = BusinessCalendar([date(2026, 6, 1)])
    assert not calendar.is_business_day(date(2026, 6, 1))
    assert CALENDAR.is_business_day(date(2026, 6, 1))
    # Friday 2026-05-29 + 1: Monday 06-01 is closed, so Tuesday 06-02.
    assert calendar.add_business_days(date(2026, 5, 29), 1) == date(2026, 6, 2)


def test_extra_open_day_counts_a_saturday() -> None:
    calendar = BusinessCalendar(extra_open_days=[date(2026, 3, 28)])
    assert calendar.is_business_day(date(2026, 3, 28))
    assert calendar.add_business_days(date(2026, 3, 27), 1) == date(2026, 3, 28)


def test_a_day_cannot_be_both_closed_and_open() -> None:
    with pytest.raises(ValueError, match="2026-06-01"):
        BusinessCalendar([date(2026, 6, 1)], extra_open_days=[date(2026, 6, 1)])


def test_settings_string_accepts_lists_and_ranges() -> None:
    parsed = parse_date_list(" 2026-06-01, 2026-06-10..2026-06-12;2026-07-01\n")
    assert parsed == {
        date(2026, 6, 1),
        date(2026, 6, 10),
        date(2026, 6, 11),
        date(2026, 6, 12),
        date(2026, 7, 1),
    }
    assert parse_date_list("") == frozenset()


@pytest.mark.parametrize("bad", ["2026-6-1x", "tomorrow", "2026-06-05..2026-06-01", "2026-02-30"])
def test_settings_string_rejects_bad_dates(bad: str) -> None:
    with pytest.raises(ValueError, match="date"):
        parse_date_list(bad)


def test_settings_string_reads_ward_closures_and_open_days() -> None:
    calendar = BusinessCalendar.from_settings_string("2026-06-01,2026-06-02", "2026-03-28")
    assert calendar.extra_closures == {date(2026, 6, 1), date(2026, 6, 2)}
    assert calendar.extra_open_days == {date(2026, 3, 28)}
    assert not calendar.is_business_day(date(2026, 6, 2))
    assert calendar.is_business_day(date(2026, 3, 28))  # a Saturday


# --- properties -----------------------------------------------------------------------------


@given(start=days, n=counts)
def test_add_matches_a_day_by_day_walk(start: date, n: int) -> None:
    assert CALENDAR.add_business_days(start, n) == naive_add(CALENDAR, start, n)


@given(extra=closures, start=near_days, n=st.integers(min_value=0, max_value=60))
def test_add_matches_a_day_by_day_walk_with_ward_closures(
    extra: frozenset[date], start: date, n: int
) -> None:
    calendar = BusinessCalendar(extra)
    result = calendar.add_business_days(start, n)
    assert result == naive_add(calendar, start, n)
    assert result not in extra or n == 0


@given(start=days, n=counts)
def test_zero_is_identity_and_result_is_open_and_later(start: date, n: int) -> None:
    assert CALENDAR.add_business_days(start, 0) == start
    result = CALENDAR.add_business_days(start, n + 1)
    assert CALENDAR.is_business_day(result)
    assert result > start


@given(start=days, n=counts)
def test_add_is_monotonic_in_n(start: date, n: int) -> None:
    assert CALENDAR.add_business_days(start, n) < CALENDAR.add_business_days(start, n + 1)


@given(first=days, gap=st.integers(min_value=0, max_value=40), n=counts)
def test_add_is_monotonic_in_start(first: date, gap: int, n: int) -> None:
    later = first + timedelta(days=gap)
    assert CALENDAR.add_business_days(first, n) <= CALENDAR.add_business_days(later, n)


@given(start=business_day_strategy(CALENDAR), n=counts)
def test_subtract_undoes_add_from_a_business_day(start: date, n: int) -> None:
    due = CALENDAR.add_business_days(start, n)
    assert CALENDAR.subtract_business_days(due, n) == start


@given(due=business_day_strategy(CALENDAR), n=counts)
def test_add_undoes_subtract_to_a_business_day(due: date, n: int) -> None:
    start = CALENDAR.subtract_business_days(due, n)
    assert CALENDAR.add_business_days(start, n) == due
    if n >= 1:
        assert CALENDAR.is_business_day(start)
        assert start < due


@given(start=days, n=counts)
def test_business_days_between_counts_what_add_added(start: date, n: int) -> None:
    due = CALENDAR.add_business_days(start, n)
    assert CALENDAR.business_days_between(start, due) == n
    assert CALENDAR.business_days_between(due, start) == -n


@given(a=days, span=st.integers(min_value=0, max_value=800))
def test_business_days_between_matches_a_day_count(a: date, span: int) -> None:
    b = a + timedelta(days=span)
    expected = sum(CALENDAR.is_business_day(a + timedelta(days=i)) for i in range(1, span + 1))
    assert CALENDAR.business_days_between(a, b) == expected


@given(day=days)
def test_next_business_day_is_the_first_open_day_after(day: date) -> None:
    following = CALENDAR.next_business_day(day)
    assert following > day
    assert CALENDAR.is_business_day(following)
    gap = (following - day).days
    assert not any(CALENDAR.is_business_day(day + timedelta(days=i)) for i in range(1, gap))


@given(day=days)
def test_open_exactly_when_no_closing_rule_applies(day: date) -> None:
    closed = day.weekday() >= 5 or is_year_end_closure(day) or day in national_holidays(day.year)
    assert CALENDAR.is_business_day(day) is not closed
