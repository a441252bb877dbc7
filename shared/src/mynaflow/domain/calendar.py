"""The ward's business-day calendar (開庁日).

A day is closed when it is a Saturday or Sunday, a Japanese national holiday (国民の祝日,
振替休日 and 国民の休日, from the maintained `holidays` package), part of the year-end closure
12/29 to 1/3, or one of the ward's own extra closures. A ward may also declare extra open days
(for example a Saturday opening of the card counter, 休日開庁) that count as business days even
though the rules above would close them. A date cannot be both an extra closure and an extra
open day.

Counting follows 初日不算入: the start day is never counted, even when it is a business day.
`add_business_days(Thursday 2022-03-10, 3)` is Tuesday 2022-03-15.

Speed: one calendar is asked for up to a million deadlines, so each year's business days are
computed once into a sorted list of ordinals, and every query is a binary search on it.

Configuration is read by the settings (`WARD_CLOSURES`, `WARD_OPEN_DAYS`;
`MynaflowSettings.business_calendar()` builds the calendar); this module reads no environment.
The string format (`BusinessCalendar.from_settings_string`, `parse_date_list`):
    "2026-06-01,2026-06-02"          single days
    "2026-06-01..2026-06-05"         an inclusive range
Dates and ranges may be separated by commas, semicolons or whitespace.

The `holidays` package knows Japanese holidays from 1949 to 2099; outside those years only
weekends, the year-end closure and the ward's own closures apply.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import cache

import holidays

from mynaflow.domain.time import end_of_jst_day, require_plain_date, to_jst_date

__all__ = [
    "BusinessCalendar",
    "end_of_jst_day",
    "is_year_end_closure",
    "national_holidays",
    "parse_date_list",
]

_SATURDAY = 5
_DATE_LIST_SEPARATORS = re.compile(r"[,;\s]+")
_RANGE_SEPARATOR = ".."


@cache
def national_holidays(year: int) -> frozenset[date]:
    """Japanese national holidays of `year`, 振替休日 and 国民の休日 included (cached per year)."""
    return frozenset(holidays.country_holidays("JP", years=year).keys())


def is_year_end_closure(day: date) -> bool:
    """12/29 to 1/3: the closure every Japanese municipal office observes (年末年始)."""
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def parse_date_list(text: str) -> frozenset[date]:
    """Parse `"2026-06-01,2026-06-03..2026-06-05"` into dates; ranges are inclusive."""
    days: set[date] = set()
    for token in _DATE_LIST_SEPARATORS.split(text.strip()):
        if token:
            days.update(_parse_date_token(token))
    return frozenset(days)


def _parse_date_token(token: str) -> list[date]:
    first, _, last = token.partition(_RANGE_SEPARATOR)
    try:
        start = date.fromisoformat(first)
        end = date.fromisoformat(last) if last else start
    except ValueError as error:
        raise ValueError(
            f"not a date or date range (YYYY-MM-DD[..YYYY-MM-DD]): {token!r}"
        ) from error
    if end < start:
        raise ValueError(f"date range ends before it starts: {token!r}")
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


class BusinessCalendar:
    """開庁日: which days count for SLAs and reminder ladders, and arithmetic over them."""

    def __init__(
        self, extra_closures: Iterable[date] = (), *, extra_open_days: Iterable[date] = ()
    ) -> None:
        self._extra_closures = frozenset(require_plain_date(day) for day in extra_closures)
        self._extra_open_days = frozenset(require_plain_date(day) for day in extra_open_days)
        both = self._extra_closures & self._extra_open_days
        if both:
            listed = ", ".join(sorted(day.isoformat() for day in both))
            raise ValueError(f"dates configured both as closures and as open days: {listed}")
        # year -> sorted ordinals of that year's business days; filled lazily, never changed.
        self._business_ordinals_by_year: dict[int, list[int]] = {}

    def __repr__(self) -> str:
        closures = ",".join(sorted(day.isoformat() for day in self._extra_closures))
        open_days = ",".join(sorted(day.isoformat() for day in self._extra_open_days))
        return f"BusinessCalendar(extra_closures=[{closures}], extra_open_days=[{open_days}])"

    @classmethod
    def from_settings_string(cls, closures: str = "", open_days: str = "") -> BusinessCalendar:
        """Build from the string format of `WARD_CLOSURES` / `WARD_OPEN_DAYS` (see the module)."""
        return cls(parse_date_list(closures), extra_open_days=parse_date_list(open_days))

    @property
    def extra_closures(self) -> frozenset[date]:
        return self._extra_closures

    @property
    def extra_open_days(self) -> frozenset[date]:
        return self._extra_open_days

    # Also available as a plain function in `mynaflow.domain.time`.
    end_of_jst_day = staticmethod(end_of_jst_day)

    def is_business_day(self, d: date) -> bool:
        """True when the ward is open on `d`."""
        require_plain_date(d)
        if d in self._extra_open_days:
            return True
        return not self._is_closed_by_rule(d)

    def _is_closed_by_rule(self, d: date) -> bool:
        return (
            d.weekday() >= _SATURDAY
            or is_year_end_closure(d)
            or d in self._extra_closures
            or d in national_holidays(d.year)
        )

    def add_business_days(self, start: date, n: int) -> date:
        """The n-th business day after `start`; `start` itself is not counted (初日不算入).

        n=0 returns `start` unchanged, even when it is closed.
        """
        _require_non_negative(n)
        require_plain_date(start)
        if n == 0:
            return start
        year, remaining = start.year, n
        ordinals = self._business_ordinals(year)
        index = bisect_right(ordinals, start.toordinal())
        while remaining > len(ordinals) - index:
            remaining -= len(ordinals) - index
            year += 1
            ordinals, index = self._business_ordinals(year), 0
        return date.fromordinal(ordinals[index + remaining - 1])

    def subtract_business_days(self, d: date, n: int) -> date:
        """The n-th business day before `d`, `d` itself not counted; n=0 returns `d`.

        For every business day `s`: `subtract_business_days(add_business_days(s, n), n) == s`.
        """
        _require_non_negative(n)
        require_plain_date(d)
        if n == 0:
            return d
        year, remaining = d.year, n
        ordinals = self._business_ordinals(year)
        index = bisect_left(ordinals, d.toordinal())
        while remaining > index:
            remaining -= index
            year -= 1
            ordinals = self._business_ordinals(year)
            index = len(ordinals)
        return date.fromordinal(ordinals[index - remaining])

    def business_days_between(self, a: date, b: date) -> int:
        """Business days in (a, b]: `business_days_between(a, add_business_days(a, n)) == n`.

        Negative when b is before a.
        """
        if b < a:
            return -self.business_days_between(b, a)
        require_plain_date(a)
        require_plain_date(b)
        if a.year == b.year:
            return self._business_days_in_year_up_to(b) - self._business_days_in_year_up_to(a)
        after_a = len(self._business_ordinals(a.year)) - self._business_days_in_year_up_to(a)
        whole_years = sum(len(self._business_ordinals(y)) for y in range(a.year + 1, b.year))
        return after_a + whole_years + self._business_days_in_year_up_to(b)

    def _business_days_in_year_up_to(self, d: date) -> int:
        """Business days from 1 January of `d.year` to `d`, inclusive."""
        return bisect_right(self._business_ordinals(d.year), d.toordinal())

    def next_business_day(self, d: date) -> date:
        """The first business day strictly after `d` (same as `add_business_days(d, 1)`)."""
        return self.add_business_days(d, 1)

    def business_day_on_or_after(self, d: date) -> date:
        """`d` when it is a business day, else the next one (roll forward)."""
        return d if self.is_business_day(d) else self.next_business_day(d)

    def sla_due_on(self, issued_at: datetime, business_days: int) -> date:
        """The JST date an SLA of `business_days` ends, for a notice issued at `issued_at`.

        The issue instant is converted to its JST date first, then counting starts the next
        day (初日不算入). The deadline is the end of that day: `end_of_jst_day(due)`.
        """
        return self.add_business_days(to_jst_date(issued_at), business_days)

    def _business_ordinals(self, year: int) -> list[int]:
        cached = self._business_ordinals_by_year.get(year)
        if cached is None:
            cached = self._compute_business_ordinals(year)
            self._business_ordinals_by_year[year] = cached
        return cached

    def _compute_business_ordinals(self, year: int) -> list[int]:
        if not date.min.year <= year <= date.max.year:
            raise OverflowError(f"business-day arithmetic left the supported years: {year}")
        first = date(year, 1, 1).toordinal()
        last = date(year, 12, 31).toordinal()
        return [
            ordinal
            for ordinal in range(first, last + 1)
            if self.is_business_day(date.fromordinal(ordinal))
        ]


def _require_non_negative(n: int) -> None:
    if n < 0:
        raise ValueError(f"business-day count must be >= 0, got {n}")
