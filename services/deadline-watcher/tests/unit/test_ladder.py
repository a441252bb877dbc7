"""Stage times: calendar days, business days (開庁日), hours, repetitions, JST whatever the TZ."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from deadline_watcher.domain.ladder import Ladder, shift
from deadline_watcher.domain.policies import Offset, load_policies, policy_from_config
from hypothesis import given, settings
from hypothesis import strategies as st
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.time import JST, end_of_jst_day

pytestmark = pytest.mark.unit

CALENDAR = BusinessCalendar()
POLICIES = load_policies()


def jst(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=JST).astimezone(UTC)


def test_chip_rewrite_of_case_2_family() -> None:
    """Move-in notified 2022-03-15: the last valid day is 2022-06-13 (docs/domain.md)."""
    ladder = Ladder(POLICIES["chip_rewrite_90d"], end_of_jst_day(date(2022, 6, 13)), CALENDAR)
    assert [(o.stage, o.role, o.at) for o in ladder.planned()] == [
        ("resident_60d", "resident", jst(2022, 4, 14, 9)),
        ("resident_30d", "resident", jst(2022, 5, 14, 9)),
        ("resident_14d", "resident", jst(2022, 5, 30, 9)),
        ("desk_manager_7d", "desk_manager", jst(2022, 6, 6, 9)),
        ("breach", "desk_manager", end_of_jst_day(date(2022, 6, 13)).astimezone(UTC)),
        # Monday 13 June + 2 business days = Wednesday 15 June.
        ("section_chief", "section_chief", jst(2022, 6, 15, 9)),
    ]


def test_notice_sla_counts_business_days_across_golden_week() -> None:
    due = end_of_jst_day(date(2025, 5, 8))  # issued 2025-05-01 with 3 business days
    ladder = Ladder(POLICIES["notice_sla"], due, CALENDAR)
    assert [(o.stage, o.at) for o in ladder.planned()] == [
        ("due_tomorrow", jst(2025, 5, 7, 9)),  # 5/3-5/6 are closed
        ("due_today", jst(2025, 5, 8, 9)),
        ("breach", due.astimezone(UTC)),
        ("escalate", jst(2025, 5, 12, 9)),  # Fri 9th, Mon 12th
    ]


def test_breach_repeats_every_business_day_until_cleared() -> None:
    due = end_of_jst_day(date(2025, 12, 26))
    ladder = Ladder(POLICIES["notice_sla"], due, CALENDAR)
    repeats = [
        (o.repetition, o.at)
        for o in ladder.between(due, jst(2026, 1, 8, 12))
        if o.stage == "breach"
    ]
    # The year-end closure 12/29-1/3 and the weekend of 1/4 are skipped.
    assert repeats == [
        (1, jst(2026, 1, 5, 9)),
        (2, jst(2026, 1, 6, 9)),
        (3, jst(2026, 1, 7, 9)),
        (4, jst(2026, 1, 8, 9)),
    ]


def test_hour_and_second_offsets_are_exact_instants() -> None:
    policy = policy_from_config(
        "tight",
        {
            "stages": [
                {"name": "soon", "offset": "-2h", "role": "assignee"},
                {"name": "now", "offset": "-30s", "role": "queue"},
                {"name": "breach", "role": "desk_manager"},
                {"name": "after", "offset": "+90min", "role": "section_chief"},
            ]
        },
    )
    due = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert [o.at - due for o in Ladder(policy, due, CALENDAR).planned()] == [
        timedelta(hours=-2),
        timedelta(seconds=-30),
        timedelta(0),
        timedelta(minutes=90),
    ]


def test_stages_before_the_start_do_not_apply_but_the_breach_always_does() -> None:
    due = end_of_jst_day(date(2022, 6, 13))
    ladder = Ladder(POLICIES["chip_rewrite_90d"], due, CALENDAR, starts_at=jst(2022, 5, 20))
    assert [o.stage for o in ladder.planned()] == [
        "resident_14d",
        "desk_manager_7d",
        "breach",
        "section_chief",
    ]


def test_next_after_walks_the_ladder_and_ends() -> None:
    due = end_of_jst_day(date(2022, 6, 13))
    ladder = Ladder(POLICIES["chip_rewrite_90d"], due, CALENDAR)
    assert ladder.next_after(jst(2022, 5, 14, 9)) == jst(2022, 5, 30, 9)
    assert ladder.next_after(jst(2022, 6, 15, 9)) is None


def test_repetition_with_a_maximum_stops() -> None:
    policy = policy_from_config(
        "limited",
        {"stages": [{"name": "breach", "role": "queue", "repeat": {"every": "10s", "max": 2}}]},
    )
    due = datetime(2026, 3, 1, tzinfo=UTC)
    ladder = Ladder(policy, due, CALENDAR)
    assert [o.repetition for o in ladder.between(None, due + timedelta(hours=1))] == [0, 1, 2]
    assert ladder.next_after(due + timedelta(seconds=20)) is None


def test_fixed_length_repetitions_long_overdue_are_found_without_walking_from_the_start() -> None:
    policy = policy_from_config(
        "nagging",
        {"stages": [{"name": "breach", "role": "queue", "repeat": {"every": "1s"}}]},
    )
    due = datetime(2020, 1, 1, tzinfo=UTC)
    ladder = Ladder(policy, due, CALENDAR)
    after = due + timedelta(days=365)
    window = ladder.between(after, after + timedelta(seconds=3))
    assert [o.repetition for o in window] == [365 * 86400 + 1, 365 * 86400 + 2, 365 * 86400 + 3]
    assert ladder.next_after(after) == after + timedelta(seconds=1)


def walked_repetitions(
    ladder: Ladder, policy_every: str, at: str | None, until: datetime
) -> list[datetime]:
    """Repetitions of the breach by walking one step at a time (the definition)."""
    every = Offset.parse(policy_every)
    times, current = [ladder.due_at], ladder.due_at
    while True:
        current = shift(current, every, CALENDAR, time.fromisoformat(at) if at else None)
        if current > until:
            return times
        times.append(current)


@settings(max_examples=150, deadline=None)
@given(
    due_day=st.dates(min_value=date(2021, 1, 1), max_value=date(2027, 12, 31)),
    every=st.sampled_from(["1d", "2d", "1bd", "3bd", "7d"]),
    at=st.sampled_from([None, "09:00", "17:30"]),
    after_days=st.integers(0, 900),
    window_days=st.integers(0, 40),
)
def test_repetitions_found_by_jumping_equal_those_found_by_walking(
    due_day: date, every: str, at: str | None, after_days: int, window_days: int
) -> None:
    repeat: dict[str, object] = {"every": every}
    if at:
        repeat["at"] = at
    policy = policy_from_config(
        "walk", {"stages": [{"name": "breach", "role": "queue", "repeat": repeat}]}
    )
    ladder = Ladder(policy, end_of_jst_day(due_day), CALENDAR)
    after = ladder.due_at + timedelta(days=after_days, hours=5)
    until = after + timedelta(days=window_days)
    expected = [t for t in walked_repetitions(ladder, every, at, until) if t > after]
    assert [o.at for o in ladder.between(after, until)] == expected[-100:]
    following = walked_repetitions(ladder, every, at, until + timedelta(days=30))
    assert ladder.next_after(until) == min((t for t in following if t > until), default=None)
