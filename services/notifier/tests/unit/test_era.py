"""Japanese era dates on letters: 令和 from 2019-05-01, 平成 before, 元年 for the first year."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from notifier.domain.era import era_year, japanese_date

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2022, 6, 13), "令和4年6月13日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(2026, 12, 3), "令和8年12月3日"),
    ],
)
def test_dates_are_written_with_the_era(day: date, text: str) -> None:
    assert japanese_date(day) == text


def test_a_date_before_heisei_is_refused() -> None:
    with pytest.raises(ValueError, match="before 平成"):
        era_year(date(1989, 1, 7))


def test_an_instant_is_refused_where_a_jst_date_is_meant() -> None:
    with pytest.raises(TypeError):
        japanese_date(datetime(2022, 6, 13, 15, 0))
