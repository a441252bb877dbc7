"""A policy applied to one due time: when each stage (and each repetition) falls due.

Times are computed in JST (day offsets move the JST date, whatever the server's time zone) and
returned as UTC instants. Stages are ranked by their first time: a later stage is a more severe
one (the catch-up rule fires only the most severe of several missed reminders).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from mynaflow.contracts.deadlines import Role
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.time import JST, require_aware, to_jst_date

from deadline_watcher.domain.policies import Offset, OffsetUnit, Policy, StageRule

# In one catch-up window, at most this many repetitions of one stage are looked at (the latest
# ones): earlier repetitions were missed long ago and would be passed over anyway.
MAX_REPETITIONS_PER_WINDOW = 100


@dataclass(frozen=True)
class Occurrence:
    """One firing of one stage: `repetition` 0 is the stage itself, 1, 2, … its repeats."""

    stage: str
    repetition: int
    at: datetime
    role: Role
    # Position of the stage in the ladder (ordered by first time): higher is more severe.
    severity: int
    is_breach: bool

    @property
    def is_breach_fact(self) -> bool:
        """The first firing of the breach: a fact, never skipped. Its repeats are reminders."""
        return self.is_breach and self.repetition == 0

    @property
    def identity(self) -> tuple[str, int]:
        return (self.stage, self.repetition)


def _latest_repetitions(window: list[Occurrence]) -> list[Occurrence]:
    """The latest `MAX_REPETITIONS_PER_WINDOW` of a window, and always the breach fact."""
    latest = window[-MAX_REPETITIONS_PER_WINDOW:]
    if window and window[0].is_breach_fact and window[0] not in latest:
        return [window[0], *latest]
    return latest


# Day shifts already computed, by (JST date, offset, JST time of day, calendar id). A day shift
# depends on nothing else, so the deadlines due on one JST day share their ladder's reminder
# times even when their due instants differ (a ladder is computed per due instant, ~30 us).
# Bounded and emptied when full, as few objects as possible for the garbage collector to walk.
MAX_CACHED_DAY_SHIFTS = 4096
_DayShiftKey = tuple[date, Offset, time, int]
_day_shifts: dict[_DayShiftKey, tuple[BusinessCalendar, datetime]] = {}


def shift(
    instant: datetime, offset: Offset, calendar: BusinessCalendar, at_time: time | None = None
) -> datetime:
    """`instant` moved by `offset`; day offsets land on `at_time` JST (or the same time of day)."""
    require_aware(instant)
    if not offset.unit.counts_days:
        return (instant + timedelta(seconds=offset.amount * offset.unit.seconds)).astimezone(UTC)
    local = instant.astimezone(JST)
    clock = at_time if at_time is not None else local.time()
    key = (local.date(), offset, clock, id(calendar))
    cached = _day_shifts.get(key)
    # The calendar is kept with the answer, so its id cannot be reused while the entry lives.
    if cached is not None and cached[0] is calendar:
        return cached[1]
    if len(_day_shifts) >= MAX_CACHED_DAY_SHIFTS:
        _day_shifts.clear()
    shifted = _shift_day(local.date(), offset, calendar, clock)
    _day_shifts[key] = (calendar, shifted)
    return shifted


def _shift_day(day: date, offset: Offset, calendar: BusinessCalendar, clock: time) -> datetime:
    if offset.unit is OffsetUnit.CALENDAR_DAYS:
        day += timedelta(days=offset.amount)
    elif offset.amount >= 0:
        day = calendar.add_business_days(day, offset.amount)
    else:
        day = calendar.subtract_business_days(day, -offset.amount)
    return datetime.combine(day, clock, tzinfo=JST).astimezone(UTC)


class Ladder:
    """The stages of `policy` for one deadline due at `due_at`."""

    def __init__(
        self,
        policy: Policy,
        due_at: datetime,
        calendar: BusinessCalendar,
        starts_at: datetime | None = None,
    ) -> None:
        self.policy = policy
        self.due_at = require_aware(due_at).astimezone(UTC)
        self.starts_at = starts_at
        self._calendar = calendar
        firsts = {stage.name: self._first_time(stage) for stage in policy.stages}
        # Stable sort: stages due at the same time keep their configured order.
        ordered = sorted(policy.stages, key=lambda stage: firsts[stage.name])
        self._stages = [(rank, stage, firsts[stage.name]) for rank, stage in enumerate(ordered)]
        # The last answer of each query: a batch asks one shared ladder (deadlines due at the
        # same time under the same policy) the same question once per deadline.
        self._planned: list[Occurrence] | None = None
        self._last_between: tuple[datetime | None, datetime, list[Occurrence]] | None = None
        self._last_next_after: tuple[datetime, datetime | None] | None = None

    def _first_time(self, stage: StageRule) -> datetime:
        if stage.is_breach:
            return self.due_at
        return shift(self.due_at, stage.offset, self._calendar, stage.at_time)

    def _applies(self, stage: StageRule, at: datetime) -> bool:
        """Stages that would fall before the obligation began are not part of it."""
        return stage.is_breach or self.starts_at is None or at >= self.starts_at

    def _repetition_at(self, stage: StageRule, first: datetime, repetition: int) -> datetime:
        """When repetition `repetition` of `stage` falls (0: the stage itself).

        Computed directly, not by walking the repeats: n steps of `every` are one step of n ×
        `every` (business days compose too: the a-th business day after the b-th one after d
        is the (a+b)-th after d), and a repeat keeps its JST time of day, or takes `at`.
        """
        repeat = stage.repeat
        if repetition == 0 or repeat is None:
            return first
        total = Offset(repeat.every.amount * repetition, repeat.every.unit)
        return shift(first, total, self._calendar, repeat.at_time)

    def _repetitions(
        self, stage: StageRule, first: datetime, start: int = 0
    ) -> Iterator[tuple[int, datetime]]:
        """(repetition, time) from `start` on, for ever or up to the stage's maximum."""
        if stage.repeat is None:
            if start == 0:
                yield 0, first
            return
        limit = stage.repeat.max_repetitions
        repetition = start
        while limit is None or repetition <= limit:
            yield repetition, self._repetition_at(stage, first, repetition)
            repetition += 1

    def _start_near(
        self, stage: StageRule, first: datetime, after: datetime | None
    ) -> Iterator[tuple[int, datetime]]:
        """Repetitions from just below `after`: a deadline breached for years does not walk
        through its thousand repeats on every look."""
        repeat = stage.repeat
        if after is None or repeat is None or after <= first:
            return self._repetitions(stage, first)
        estimate = self._repetitions_before(first, after, repeat.every) - 1
        if repeat.max_repetitions is not None:
            estimate = min(estimate, repeat.max_repetitions)
        return self._repetitions(stage, first, max(0, estimate))

    def _repetitions_before(self, first: datetime, after: datetime, every: Offset) -> int:
        """About how many steps of `every` fit between `first` and `after` (never more)."""
        if every.unit is OffsetUnit.BUSINESS_DAYS:
            days = self._calendar.business_days_between(to_jst_date(first), to_jst_date(after))
            return max(0, days - 1) // every.amount
        if every.unit is OffsetUnit.CALENDAR_DAYS:
            days = (to_jst_date(after) - to_jst_date(first)).days
            return max(0, days - 1) // every.amount
        step = timedelta(seconds=every.amount * every.unit.seconds)
        return int((after - first) / step)

    def _occurrence(self, rank: int, stage: StageRule, repetition: int, at: datetime) -> Occurrence:
        return Occurrence(stage.name, repetition, at, stage.role, rank, stage.is_breach)

    def planned(self) -> list[Occurrence]:
        """The first firing of every stage that applies, in ladder order."""
        if self._planned is None:
            self._planned = [
                self._occurrence(rank, stage, 0, first)
                for rank, stage, first in self._stages
                if self._applies(stage, first)
            ]
        return list(self._planned)  # a copy: the caller may change its list

    def between(self, after: datetime | None, until: datetime) -> list[Occurrence]:
        """Every firing with `after < at <= until` (all up to `until` when `after` is None).

        Sorted by time, then ladder order. Per stage at most the latest
        `MAX_REPETITIONS_PER_WINDOW` repetitions are returned (plus the breach fact, always).
        """
        last = self._last_between
        if last is None or last[0] != after or last[1] != until:
            last = self._last_between = (after, until, self._between(after, until))
        return list(last[2])  # a copy: the caller may change its list

    def _between(self, after: datetime | None, until: datetime) -> list[Occurrence]:
        found: list[Occurrence] = []
        for rank, stage, first in self._stages:
            start = self._first_repetition_to_look_at(stage, first, after, until)
            window = [
                self._occurrence(rank, stage, repetition, at)
                for repetition, at in self._until(self._repetitions(stage, first, start), until)
                if (after is None or at > after) and self._applies(stage, at)
            ]
            if start > 0 and stage.is_breach and (after is None or first > after):
                window.insert(0, self._occurrence(rank, stage, 0, first))  # the fact
            found.extend(_latest_repetitions(window))
        return sorted(found, key=lambda o: (o.at, o.severity, o.repetition))

    def _first_repetition_to_look_at(
        self, stage: StageRule, first: datetime, after: datetime | None, until: datetime
    ) -> int:
        """Skip what cannot be in the window's latest `MAX_REPETITIONS_PER_WINDOW`, or is not
        after `after` (both estimates err low: a repetition looked at needlessly is filtered)."""
        repeat = stage.repeat
        if repeat is None or until <= first:
            return 0
        limit = repeat.max_repetitions
        last = self._repetitions_before(first, until, repeat.every)
        lower = (last if limit is None else min(last, limit)) - MAX_REPETITIONS_PER_WINDOW
        if after is not None and after > first:
            past = self._repetitions_before(first, after, repeat.every) - 1
            lower = max(lower, past if limit is None else min(past, limit))
        return max(0, lower)

    def next_after(self, after: datetime) -> datetime | None:
        """The time of the first firing strictly after `after`, or None when none is left."""
        last = self._last_next_after
        if last is None or last[0] != after:
            last = self._last_next_after = (after, self._next_after(after))
        return last[1]

    def _next_after(self, after: datetime) -> datetime | None:
        candidates = []
        for _, stage, first in self._stages:
            for _, at in self._start_near(stage, first, after):
                if at > after and self._applies(stage, at):
                    candidates.append(at)
                    break
        return min(candidates, default=None)

    def first_time(self) -> datetime:
        """When the first applicable stage falls due (the breach at the latest)."""
        return min(occurrence.at for occurrence in self.planned())

    @staticmethod
    def _until(
        repetitions: Iterator[tuple[int, datetime]], until: datetime
    ) -> Iterator[tuple[int, datetime]]:
        for repetition, at in repetitions:
            if at > until:
                return
            yield repetition, at
