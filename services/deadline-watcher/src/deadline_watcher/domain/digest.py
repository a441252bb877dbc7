"""When the managers' daily digest is due: the configured JST time on every business day.

A digest is identified by its JST date, so it is emitted at most once a day whatever the number
of replicas (the date is a primary key). After downtime only today's digest is sent, late; the
days missed in between are not sent again: the next digest lists everything still overdue.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.time import JST, to_jst_date

DEFAULT_DIGEST_TIME = time(8, 30)


def digest_instant(day: date, digest_time: time) -> datetime:
    return datetime.combine(day, digest_time, tzinfo=JST).astimezone(UTC)


def digest_due_today(
    now: datetime, calendar: BusinessCalendar, digest_time: time = DEFAULT_DIGEST_TIME
) -> date | None:
    """Today's JST date when today is a business day and its digest time has passed."""
    today = to_jst_date(now)
    if calendar.is_business_day(today) and now >= digest_instant(today, digest_time):
        return today
    return None


def next_digest_at(
    now: datetime, calendar: BusinessCalendar, digest_time: time = DEFAULT_DIGEST_TIME
) -> datetime:
    """The first digest time strictly after `now`."""
    day = to_jst_date(now)
    if not (calendar.is_business_day(day) and digest_instant(day, digest_time) > now):
        day = calendar.next_business_day(day)
    return digest_instant(day, digest_time)


def overdue_days(due_at: datetime, now: datetime) -> int:
    """Whole JST calendar days past due (0 on the due day itself)."""
    return max(0, (to_jst_date(now) - to_jst_date(due_at)).days)
