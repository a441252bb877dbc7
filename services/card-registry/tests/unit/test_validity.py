"""Validity dates at the age and date boundaries (docs/domain.md, "Card validity")."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from card_registry.domain.validity import (
    age_on,
    birthday_in,
    card_valid_until,
    certificate_valid_until,
    minor_age_limit,
    nth_birthday_after,
)
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

births = st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 12, 31))
days = st.dates(min_value=date(2016, 1, 1), max_value=date(2040, 12, 31))


def test_the_age_limit_is_20_before_2022_04_01_and_18_from_it() -> None:
    assert minor_age_limit(date(2022, 3, 31)) == 20
    assert minor_age_limit(date(2022, 4, 1)) == 18


@pytest.mark.parametrize(
    ("birth", "application", "issued", "expected"),
    [
        # 18 on application day, from 2022-04-01: an adult, 10 birthdays.
        (date(2004, 4, 1), date(2022, 4, 1), date(2022, 5, 10), date(2032, 4, 1)),
        # One day short of 18: a minor, 5 birthdays.
        (date(2004, 4, 2), date(2022, 4, 1), date(2022, 5, 10), date(2027, 4, 2)),
        # 19 before 2022-04-01: still a minor under the old age-20 limit.
        (date(2002, 6, 1), date(2022, 3, 31), date(2022, 5, 10), date(2026, 6, 1)),
        # 20 on the day, before 2022-04-01: an adult.
        (date(2002, 3, 31), date(2022, 3, 31), date(2022, 5, 10), date(2032, 3, 31)),
        # Issued on a birthday: that birthday does not count.
        (date(1980, 5, 10), date(2022, 4, 20), date(2022, 5, 10), date(2032, 5, 10)),
        # 29 February in common years is 28 February.
        (date(2008, 2, 29), date(2025, 3, 3), date(2025, 4, 25), date(2030, 2, 28)),
    ],
)
def test_card_validity_at_the_boundaries(
    birth: date, application: date, issued: date, expected: date
) -> None:
    assert card_valid_until(birth, application, issued) == expected


def test_the_certificate_ends_at_the_5th_birthday_or_the_card_whichever_first() -> None:
    birth, issued = date(1980, 7, 1), date(2022, 5, 10)
    assert certificate_valid_until(birth, issued, date(2031, 7, 1)) == date(2026, 7, 1)
    assert certificate_valid_until(birth, issued, date(2026, 1, 1)) == date(2026, 1, 1)


@given(births, days, st.integers(min_value=1, max_value=12))
def test_the_nth_birthday_after_is_a_birthday_after_the_day_with_n_minus_1_between(
    birth: date, day: date, n: int
) -> None:
    result = nth_birthday_after(birth, day, n)
    assert result > day
    assert result == birthday_in(result.year, birth)
    between = [birthday_in(y, birth) for y in range(day.year, result.year)]
    assert len([b for b in between if b > day]) == n - 1


@given(births, days)
def test_age_grows_by_one_exactly_on_the_birthday(birth: date, day: date) -> None:
    if day.year <= birth.year:
        return
    birthday = birthday_in(day.year, birth)
    assert age_on(birth, birthday) == age_on(birth, birthday - timedelta(days=1)) + 1


@given(births, days, days)
def test_minors_get_5_birthdays_adults_10_and_the_certificate_never_outlives_the_card(
    birth: date, application: date, issued: date
) -> None:
    if issued < application or application <= birth:
        return
    until = card_valid_until(birth, application, issued)
    minor = age_on(birth, application) < minor_age_limit(application)
    assert until == nth_birthday_after(birth, issued, 5 if minor else 10)
    assert certificate_valid_until(birth, issued, until) <= until
