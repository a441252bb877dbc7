"""Validity of a My Number Card and of its electronic certificate (docs/domain.md, "Card validity").

- The card is valid until the holder's 10th birthday after issue; the 5th when the holder was a
  minor at application. A minor is under 18 for applications from 2022-04-01, under 20 before
  (the age of majority changed that day).
- The certificate is valid until the 5th birthday after issue, or the card's end if earlier.

"After issue" does not count the issue day itself: a card issued on a birthday counts from the
next one. A 29 February birthday falls on 28 February in common years (decision; see
docs/domain.md).
"""

from __future__ import annotations

import calendar
from datetime import date

# Applications from this date use 18 as the age limit, earlier ones 20.
AGE_OF_MAJORITY_CHANGED_ON = date(2022, 4, 1)
ADULT_CARD_BIRTHDAYS = 10
MINOR_CARD_BIRTHDAYS = 5
CERTIFICATE_BIRTHDAYS = 5


def birthday_in(year: int, birth_date: date) -> date:
    """The holder's birthday in `year` (29 February → 28 February in a common year)."""
    if birth_date.month == 2 and birth_date.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return birth_date.replace(year=year)


def nth_birthday_after(birth_date: date, day: date, n: int) -> date:
    """The `n`-th birthday strictly after `day` (n >= 1)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    first_year = day.year if birthday_in(day.year, birth_date) > day else day.year + 1
    return birthday_in(first_year + n - 1, birth_date)


def age_on(birth_date: date, day: date) -> int:
    """Completed years on `day`; the birthday itself counts."""
    had_birthday = birthday_in(day.year, birth_date) <= day
    return day.year - birth_date.year - (0 if had_birthday else 1)


def minor_age_limit(application_date: date) -> int:
    """Below this age at application, the card gets 5 birthdays instead of 10."""
    return 18 if application_date >= AGE_OF_MAJORITY_CHANGED_ON else 20


def is_minor_at_application(birth_date: date, application_date: date) -> bool:
    return age_on(birth_date, application_date) < minor_age_limit(application_date)


def card_valid_until(birth_date: date, application_date: date, issued_on: date) -> date:
    """The last day the card is valid."""
    minor = is_minor_at_application(birth_date, application_date)
    birthdays = MINOR_CARD_BIRTHDAYS if minor else ADULT_CARD_BIRTHDAYS
    return nth_birthday_after(birth_date, issued_on, birthdays)


def certificate_valid_until(birth_date: date, issued_on: date, card_until: date) -> date:
    """The certificate's last valid day: its 5th birthday after issue, or the card's end."""
    return min(nth_birthday_after(birth_date, issued_on, CERTIFICATE_BIRTHDAYS), card_until)
