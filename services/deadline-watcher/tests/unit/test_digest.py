"""The daily digest: 08:30 JST on business days only."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from deadline_watcher.domain.digest import digest_due_today, next_digest_at, overdue_days
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.time import JST

pytestmark = pytest.mark.unit

CALENDAR = BusinessCalendar()


def jst(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=JST)


def test_digest_is_due_after_0830_jst_on_a_business_day() -> None:
    assert digest_due_today(jst(2026, 11, 27, 8, 29), CALENDAR) is None
    assert digest_due_today(jst(2026, 11, 27, 8, 30), CALENDAR) == date(2026, 11, 27)
    assert digest_due_today(jst(2026, 11, 28, 10, 0), CALENDAR) is None  # Saturday


def test_next_digest_skips_weekends_and_golden_week() -> None:
    assert next_digest_at(jst(2026, 11, 27, 9), CALENDAR) == jst(2026, 11, 30, 8, 30)
    assert next_digest_at(jst(2025, 5, 2, 9), CALENDAR) == jst(2025, 5, 7, 8, 30)
    assert next_digest_at(jst(2026, 11, 27, 7), CALENDAR) == jst(2026, 11, 27, 8, 30)


def test_the_digest_time_is_configurable() -> None:
    assert next_digest_at(jst(2026, 11, 27, 7), CALENDAR, time(17, 15)) == jst(2026, 11, 27, 17, 15)


def test_overdue_days_count_jst_dates() -> None:
    due = datetime(2026, 11, 20, 14, 59, 59, tzinfo=UTC)  # 23:59:59 JST on the 20th
    assert overdue_days(due, jst(2026, 11, 20, 23, 59, 59)) == 0
    assert overdue_days(due, jst(2026, 11, 27, 0, 1)) == 7
