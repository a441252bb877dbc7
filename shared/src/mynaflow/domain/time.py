"""JST helpers: legal dates are Asia/Tokyo calendar dates, whatever the process's own time zone.

Instants are stored as UTC; every conversion to a legal date goes through `to_jst_date`, and
every "end of the day" deadline through `end_of_jst_day`. Naive datetimes are refused: a naive
value would silently take the process's time zone, which differs between a laptop, a container
and CI.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")

_LAST_INSTANT_OF_DAY = time(23, 59, 59, 999_999)


def require_aware(instant: datetime) -> datetime:
    """Return `instant` unchanged, or raise when it has no time zone."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {instant.isoformat()}")
    return instant


def require_plain_date(day: date) -> date:
    """Refuse a datetime where a calendar date is meant.

    `datetime` is a subclass of `date`; passing a UTC instant would silently use its UTC date
    instead of its JST date. Convert with `to_jst_date` first.
    """
    if isinstance(day, datetime):
        raise TypeError(
            f"expected a date, got the datetime {day.isoformat()}; convert with to_jst_date()"
        )
    return day


def to_jst_date(instant: datetime) -> date:
    """The JST calendar date of an aware instant."""
    return require_aware(instant).astimezone(JST).date()


def now_jst() -> datetime:
    """The current instant, expressed in JST."""
    return datetime.now(JST)


def start_of_jst_day(day: date) -> datetime:
    """00:00:00 JST on `day`, as an aware datetime."""
    return datetime.combine(require_plain_date(day), time.min, tzinfo=JST)


def end_of_jst_day(day: date) -> datetime:
    """23:59:59.999999 JST on `day`, as an aware datetime: the instant a day's deadline ends."""
    return datetime.combine(require_plain_date(day), _LAST_INSTANT_OF_DAY, tzinfo=JST)
