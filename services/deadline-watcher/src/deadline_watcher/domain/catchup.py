"""Which of the firings due now are emitted, and which are recorded as skipped.

The rules (docs/deadline-watcher.md, "Catch-up"):
- the breach fact (the breach stage's first firing) always fires: other services act on it;
- a firing is *missed* when it is reached more than `late_after` (60 s) after its time; it then
  fires marked late, unless a more severe reminder of the same deadline is due at the same
  moment, in which case it is recorded as skipped and never emitted: a backlog from 2022 must
  not flood a resident with four reminders at once;
- repetitions of one stage missed in a row collapse into the latest (their numbers are not
  recorded one by one).
Firings reached on time (within `late_after`) are never skipped: a busy watcher that is a few
seconds behind still sends every stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from deadline_watcher.domain.ladder import Occurrence

LATE_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class Decision:
    occurrence: Occurrence
    fire: bool
    late: bool

    @property
    def skipped(self) -> bool:
        return not self.fire


def is_late(at: datetime, now: datetime, late_after: timedelta = LATE_AFTER) -> bool:
    return now - at > late_after


def _severity(occurrence: Occurrence) -> tuple[int, int]:
    return (occurrence.severity, occurrence.repetition)


def _latest_or_on_time_per_stage(
    reminders: Sequence[Occurrence], now: datetime, late_after: timedelta
) -> list[Occurrence]:
    """Per stage: the latest repetition, plus any earlier one still on time."""
    latest: dict[str, Occurrence] = {}
    for occurrence in reminders:
        kept = latest.get(occurrence.stage)
        if kept is None or occurrence.repetition > kept.repetition:
            latest[occurrence.stage] = occurrence
    return [
        occurrence
        for occurrence in reminders
        if occurrence is latest[occurrence.stage] or not is_late(occurrence.at, now, late_after)
    ]


def decide(
    due: Sequence[Occurrence], now: datetime, late_after: timedelta = LATE_AFTER
) -> list[Decision]:
    """Decisions for the firings `due` at `now`, in time order (ladder order within a time)."""
    facts = [occurrence for occurrence in due if occurrence.is_breach_fact]
    reminders = _latest_or_on_time_per_stage(
        [occurrence for occurrence in due if not occurrence.is_breach_fact], now, late_after
    )
    most_severe = max(reminders, key=_severity, default=None)
    decisions = [Decision(fact, True, is_late(fact.at, now, late_after)) for fact in facts]
    for reminder in reminders:
        late = is_late(reminder.at, now, late_after)
        passed_over = late and reminder is not most_severe
        decisions.append(Decision(reminder, not passed_over, late))
    return sorted(
        decisions, key=lambda d: (d.occurrence.at, d.occurrence.severity, d.occurrence.repetition)
    )
