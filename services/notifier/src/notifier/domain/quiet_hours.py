"""Residents are not woken: their email and SMS go out only inside the day window (JST).

Letters are printed and posted, so they have no quiet hours; staff messages go out at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from mynaflow.domain.time import JST, require_aware


@dataclass(frozen=True)
class QuietHours:
    opens: time = time(8, 0)
    closes: time = time(20, 0)

    def __post_init__(self) -> None:
        if self.opens >= self.closes:
            raise ValueError("the sending window must open before it closes (JST, same day)")

    def allows(self, instant: datetime) -> bool:
        local = require_aware(instant).astimezone(JST).time()
        return self.opens <= local < self.closes

    def next_allowed(self, instant: datetime) -> datetime:
        """`instant` itself if allowed, else the next opening of the window (as aware JST)."""
        if self.allows(instant):
            return instant
        local = instant.astimezone(JST)
        opening = datetime.combine(local.date(), self.opens, tzinfo=JST)
        if local.time() >= self.closes:
            opening += timedelta(days=1)
        return opening
