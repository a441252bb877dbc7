"""How far this replica's clock is from the database's, and whether it may fire.

Every replica decides what is due by its own clock. A replica whose clock runs fast would fire
stages, breaches included, before they are due; the database is the one clock all replicas
share, so each replica measures itself against it and stops firing while it runs ahead by more
than the tolerance (another replica, or this one once its clock is corrected, fires the work,
late if need be, with the usual catch-up rules). A clock that runs slow only fires late, which
catch-up already handles, so it is reported but not refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def measured_skew(sent_at: datetime, database_now: datetime, received_at: datetime) -> timedelta:
    """Process clock minus database clock; the round trip is split evenly, so a slow answer
    does not count as skew."""
    return sent_at + (received_at - sent_at) / 2 - database_now


def refuses_to_fire(skew: timedelta, tolerance: timedelta) -> bool:
    """True when this replica's clock runs ahead of the database's by more than `tolerance`."""
    return skew > tolerance
