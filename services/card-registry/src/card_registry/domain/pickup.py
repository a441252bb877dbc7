"""Pickup of a finished card (docs/domain.md, "Pickup of a finished card").

The pickup notice (交付通知書) gives about 3 months; the re-notice (再通知) 2 to 3 more; the card
is destroyed after that, and never sooner than about a year after the application. The values
differ by municipality, so they come from configuration (`CARD_PICKUP_*` settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class PickupPeriods:
    notice_days: int = 90
    re_notice_days: int = 60
    destroy_after_application_days: int = 365

    def after_notice(self, notice_on: date) -> date:
        """The last day to pick the card up after the first notice (then: re-notice)."""
        return notice_on + timedelta(days=self.notice_days)

    def after_re_notice(self, re_notice_on: date, application_date: date | None) -> date:
        """The last day after the re-notice, and never before a year after application."""
        due = re_notice_on + timedelta(days=self.re_notice_days)
        if application_date is None:
            return due
        return max(due, application_date + timedelta(days=self.destroy_after_application_days))
