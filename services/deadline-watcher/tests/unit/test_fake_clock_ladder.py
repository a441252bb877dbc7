"""A whole ladder walked with the fake clock: 100 days pass an hour at a time, and every stage
of `chip_rewrite_90d` and `notice_sla` fires once, in order, on time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from deadline_watcher.domain.deadline import ScheduleRequest, advance, clear, schedule
from deadline_watcher.domain.ladder import Ladder
from deadline_watcher.domain.policies import load_policies
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.clock import FakeClock
from mynaflow.domain.time import end_of_jst_day

pytestmark = pytest.mark.unit

POLICIES = load_policies()
CALENDAR = BusinessCalendar()
# The watcher looks at least this often (real watchers wake at each stage's own time).
STEP = timedelta(seconds=30)


def walk(policy: str, due_on: date, start: datetime, until: datetime) -> list[tuple[str, int]]:
    clock = FakeClock(start)
    due = end_of_jst_day(due_on)
    ladder = Ladder(POLICIES[policy], due, CALENDAR)
    deadline = schedule(None, ScheduleRequest("k", policy, due, {}, {}), ladder, clock.now())
    assert deadline is not None
    fired: list[tuple[str, int]] = []
    while clock.now() < until:
        # Jump straight to the next due time when there is one (as the loop sleeps until it).
        target = deadline.next_fire_at or until
        clock.set(max(min(target, until), clock.now() + STEP))
        result = advance(deadline, ladder, clock.now())
        deadline = result.deadline
        assert all(d.fire and not d.late for d in result.decisions)
        fired.extend(d.occurrence.identity for d in result.decisions)
    return fired


def test_chip_rewrite_ladder_fires_in_order_over_100_days() -> None:
    fired = walk(
        "chip_rewrite_90d",
        date(2022, 6, 13),
        start=datetime(2022, 3, 15, 1, tzinfo=UTC),
        until=datetime(2022, 6, 30, tzinfo=UTC),
    )
    assert fired == [
        ("resident_60d", 0),
        ("resident_30d", 0),
        ("resident_14d", 0),
        ("desk_manager_7d", 0),
        ("breach", 0),
        ("section_chief", 0),
    ]


def test_notice_sla_repeats_the_breach_every_business_day_until_cleared() -> None:
    start = datetime(2025, 5, 1, 1, tzinfo=UTC)
    fired = walk("notice_sla", date(2025, 5, 8), start, until=datetime(2025, 5, 15, 12, tzinfo=UTC))
    assert fired == [
        ("due_tomorrow", 0),  # Wed 7 May 09:00 (Golden Week before it)
        ("due_today", 0),
        ("breach", 0),  # end of Thu 8 May
        ("breach", 1),  # Fri 9 May 09:00
        ("breach", 2),  # Mon 12 May 09:00 ...
        ("escalate", 0),  # ... with the section chief's escalation the same morning
        ("breach", 3),
        ("breach", 4),
        ("breach", 5),
    ]


def test_a_clear_on_the_fake_clock_ends_the_ladder() -> None:
    clock = FakeClock(datetime(2025, 5, 1, 1, tzinfo=UTC))
    due = end_of_jst_day(date(2025, 5, 8))
    ladder = Ladder(POLICIES["notice_sla"], due, CALENDAR)
    deadline = schedule(None, ScheduleRequest("k", "notice_sla", due, {}, {}), ladder, clock.now())
    assert deadline is not None
    clock.advance(timedelta(days=6, hours=1))  # 7 May 02:00 UTC: due_tomorrow is due
    deadline = advance(deadline, ladder, clock.now()).deadline
    cleared = clear(deadline, ladder, clock.advance(timedelta(hours=1)), "notice_resolved")
    assert cleared is not None
    assert cleared.deadline.met is True
    assert advance(cleared.deadline, ladder, clock.advance(timedelta(days=30))).decisions == []
