"""Unit tests of the JST helpers, including independence from the process's time zone."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.time import JST, end_of_jst_day, start_of_jst_day, to_jst_date

pytestmark = pytest.mark.unit

_PROBE = """
import time
from datetime import date, datetime, timezone
from mynaflow.domain.time import end_of_jst_day, to_jst_date
time.tzset()
print(end_of_jst_day(date(2025, 12, 26)).astimezone(timezone.utc).isoformat())
print(to_jst_date(datetime(2022, 3, 10, 15, 30, tzinfo=timezone.utc)).isoformat())
print(time.strftime("%Z"))
"""


def test_end_of_jst_day_is_the_last_microsecond_in_tokyo() -> None:
    end = end_of_jst_day(date(2025, 12, 26))
    assert end.tzinfo is JST
    assert end.astimezone(UTC) == datetime(2025, 12, 26, 14, 59, 59, 999_999, tzinfo=UTC)
    assert end + timedelta(microseconds=1) == start_of_jst_day(date(2025, 12, 27))


def test_calendar_exposes_end_of_jst_day() -> None:
    assert BusinessCalendar.end_of_jst_day(date(2025, 1, 6)) == end_of_jst_day(date(2025, 1, 6))


def test_to_jst_date_crosses_midnight_at_15_utc() -> None:
    assert to_jst_date(datetime(2022, 3, 10, 14, 59, 59, tzinfo=UTC)) == date(2022, 3, 10)
    assert to_jst_date(datetime(2022, 3, 10, 15, 0, tzinfo=UTC)) == date(2022, 3, 11)


def test_naive_and_datetime_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_jst_date(datetime(2022, 3, 10, 15, 0))
    with pytest.raises(TypeError):
        end_of_jst_day(datetime(2022, 3, 10, tzinfo=UTC))


@pytest.mark.parametrize(("zone", "abbreviation"), [("UTC", "UTC"), ("America/New_York", "EST")])
def test_results_do_not_depend_on_the_process_time_zone(zone: str, abbreviation: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={"TZ": zone, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    end_utc, jst_date, process_zone = completed.stdout.split()
    assert process_zone == abbreviation  # the child really ran in that zone
    assert end_utc == "2025-12-26T14:59:59.999999+00:00"
    assert jst_date == "2022-03-11"
