"""Japanese era dates (和暦) for letters: 令和 from 2019-05-01, 平成 before it.

Letters write dates the way a ward office does: 令和4年6月13日, with 元年 for an era's first
year. Dates before 平成 never reach a letter (cards exist since 2016), so they are refused.
"""

from __future__ import annotations

from datetime import date

from mynaflow.domain.time import require_plain_date

# (first day, name), newest first.
ERAS: tuple[tuple[date, str], ...] = (
    (date(2019, 5, 1), "令和"),
    (date(1989, 1, 8), "平成"),
)


def era_year(day: date) -> tuple[str, int]:
    """The era and the year within it (1 for the era's first, partial year)."""
    require_plain_date(day)
    for first_day, name in ERAS:
        if day >= first_day:
            return name, day.year - first_day.year + 1
    raise ValueError(f"{day.isoformat()} is before 平成; no letter carries such a date")


def japanese_date(day: date) -> str:
    """`令和4年6月13日`; the first year of an era is written 元年 (`令和元年5月1日`)."""
    name, year = era_year(day)
    year_text = "元" if year == 1 else str(year)
    return f"{name}{year_text}年{day.month}月{day.day}日"
