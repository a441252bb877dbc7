"""Catch-up rules: missed stages fire once and late; of several missed reminders only the most
severe fires; the breach is a fact and always fires exactly once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from deadline_watcher.domain.deadline import Deadline, ScheduleRequest, advance, clear, schedule
from deadline_watcher.domain.ladder import Ladder
from deadline_watcher.domain.policies import Policy, load_policies, policy_from_config
from hypothesis import given, settings
from hypothesis import strategies as st
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.time import end_of_jst_day

pytestmark = pytest.mark.unit

CALENDAR = BusinessCalendar()
POLICIES = load_policies()
SUBJECT = {"type": "resident_card", "ids": {"resident_id": "R-1"}}


def request(policy: str, due_at: datetime, key: str = "k1") -> ScheduleRequest:
    return ScheduleRequest(key, policy, due_at, SUBJECT, {"resident_id": "R-1"})


def scheduled(policy: Policy, due_at: datetime, now: datetime) -> tuple[Deadline, Ladder]:
    ladder = Ladder(policy, due_at, CALENDAR)
    deadline = schedule(None, request(policy.name, due_at), ladder, now)
    assert deadline is not None
    return deadline, ladder


def test_backdated_chip_rewrite_fires_the_breach_and_only_the_most_severe_reminder() -> None:
    due = end_of_jst_day(date(2022, 6, 13))
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    deadline, ladder = scheduled(POLICIES["chip_rewrite_90d"], due, now)
    assert deadline.settle_until == now + timedelta(seconds=5)
    assert advance(deadline, ladder, now + timedelta(seconds=1)).decisions == []

    result = advance(deadline, ladder, now + timedelta(seconds=5))
    outcome = {(d.occurrence.stage, d.fire, d.late) for d in result.decisions}
    assert outcome == {
        ("resident_60d", False, True),
        ("resident_30d", False, True),
        ("resident_14d", False, True),
        ("desk_manager_7d", False, True),
        ("breach", True, True),
        ("section_chief", True, True),
    }
    assert result.deadline.next_fire_at is None
    assert result.deadline.breached_at is not None


def test_a_deadline_breached_for_years_sends_the_breach_fact_once_and_one_reminder() -> None:
    """notice_sla repeats its breach every business day: 1,000+ repetitions are overdue."""
    due = end_of_jst_day(date(2022, 3, 15))
    now = datetime(2026, 11, 27, 3, tzinfo=UTC)
    deadline, ladder = scheduled(POLICIES["notice_sla"], due, now)
    result = advance(deadline, ladder, now + timedelta(seconds=5))
    fired = [(d.occurrence.stage, d.occurrence.repetition) for d in result.decisions if d.fire]
    assert fired == [("breach", 0), ("escalate", 0)]
    skipped = {d.occurrence.stage for d in result.decisions if not d.fire}
    assert skipped == {"due_tomorrow", "due_today", "breach"}  # the latest repeat, passed over
    # The breach keeps repeating every business day from now on, until cleared.
    assert result.deadline.next_fire_at == datetime(2026, 11, 30, 0, tzinfo=UTC)  # Mon 09:00 JST
    later = advance(result.deadline, ladder, datetime(2026, 11, 30, 0, 0, 1, tzinfo=UTC))
    assert [(d.occurrence.stage, d.fire, d.late) for d in later.decisions] == [
        ("breach", True, False)
    ]


def test_a_stage_missed_while_down_fires_once_marked_late() -> None:
    due = end_of_jst_day(date(2026, 6, 13))
    deadline, ladder = scheduled(
        POLICIES["chip_rewrite_90d"], due, datetime(2026, 1, 1, tzinfo=UTC)
    )
    first = ladder.planned()[0]
    back_up = first.at + timedelta(hours=5)  # the watcher was down over the first stage
    result = advance(deadline, ladder, back_up)
    assert [(d.occurrence.stage, d.fire, d.late) for d in result.decisions] == [
        ("resident_60d", True, True)
    ]
    assert advance(result.deadline, ladder, back_up + timedelta(minutes=1)).decisions == []


def test_stages_reached_on_time_are_all_sent_even_when_due_together() -> None:
    policy = policy_from_config(
        "burst",
        {
            "stages": [
                {"name": "a", "offset": "-2s", "role": "resident"},
                {"name": "b", "offset": "-1s", "role": "assignee"},
                {"name": "breach", "role": "desk_manager"},
            ]
        },
    )
    due = datetime(2026, 3, 1, tzinfo=UTC)
    deadline, ladder = scheduled(policy, due, due - timedelta(hours=1))
    result = advance(deadline, ladder, due + timedelta(seconds=3))
    assert [(d.occurrence.stage, d.fire, d.late) for d in result.decisions] == [
        ("a", True, False),
        ("b", True, False),
        ("breach", True, False),
    ]


def test_a_clear_within_the_settle_delay_suppresses_the_breach() -> None:
    due = end_of_jst_day(date(2022, 6, 13))
    now = datetime(2026, 11, 27, tzinfo=UTC)
    deadline, ladder = scheduled(POLICIES["chip_rewrite_90d"], due, now)
    cleared = clear(deadline, ladder, now + timedelta(seconds=2), "replayed")
    assert cleared is not None
    assert cleared.breach is None
    assert cleared.deadline.met is False
    assert advance(cleared.deadline, ladder, now + timedelta(days=1)).decisions == []


def test_a_clear_after_an_unbreached_due_time_still_emits_the_breach_fact() -> None:
    due = datetime(2026, 3, 1, tzinfo=UTC)
    deadline, ladder = scheduled(POLICIES["card_renewal"], due, due - timedelta(days=400))
    cleared = clear(deadline, ladder, due + timedelta(hours=2), "renewed")
    assert cleared is not None
    assert cleared.breach is not None
    assert (cleared.breach.occurrence.stage, cleared.breach.late) == ("breach", True)
    assert clear(cleared.deadline, ladder, due + timedelta(hours=3), "again") is None


def test_a_clear_in_time_is_met_and_stops_every_later_stage() -> None:
    due = datetime(2026, 3, 1, tzinfo=UTC)
    deadline, ladder = scheduled(POLICIES["card_renewal"], due, due - timedelta(days=400))
    cleared = clear(deadline, ladder, due - timedelta(days=20), "renewed")
    assert cleared is not None
    assert (cleared.deadline.met, cleared.breach, cleared.deadline.next_fire_at) == (
        True,
        None,
        None,
    )
    assert advance(cleared.deadline, ladder, due + timedelta(days=30)).decisions == []


def test_resolved_at_from_the_producer_decides_met() -> None:
    due = datetime(2026, 3, 1, tzinfo=UTC)
    deadline, ladder = scheduled(POLICIES["card_renewal"], due, due - timedelta(days=400))
    cleared = clear(
        deadline, ladder, due + timedelta(days=2), "late import", due - timedelta(days=1)
    )
    assert cleared is not None
    assert (cleared.deadline.met, cleared.breach) == (True, None)


def test_rescheduling_starts_a_new_generation_and_repeating_the_same_request_does_not() -> None:
    due = datetime(2026, 3, 1, tzinfo=UTC)
    now = due - timedelta(days=100)
    deadline, ladder = scheduled(POLICIES["card_renewal"], due, now)
    assert schedule(deadline, request("card_renewal", due), ladder, now) is None
    moved_due = due + timedelta(days=10)
    moved = schedule(
        deadline,
        request("card_renewal", moved_due),
        Ladder(POLICIES["card_renewal"], moved_due, CALENDAR),
        now,
    )
    assert moved is not None
    assert (moved.generation, moved.due_at, moved.processed_through) == (2, moved_due, None)


# --- properties ------------------------------------------------------------------------------

_UNITS = st.sampled_from(["s", "min", "h"])


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """Random ladders: reminders before and after the due time, an optional breach repeat."""
    count = draw(st.integers(min_value=0, max_value=5))
    stages: list[dict[str, object]] = [
        {
            "name": f"s{index}",
            "offset": f"{draw(st.integers(-500, 300))}{draw(_UNITS)}",
            "role": draw(st.sampled_from(["resident", "assignee", "desk_manager"])),
        }
        for index in range(count)
    ]
    breach: dict[str, object] = {"name": "breach", "role": "desk_manager"}
    if draw(st.booleans()):
        # Unbounded repeats too: a long-breached deadline has hundreds of them overdue.
        limit = draw(st.one_of(st.none(), st.integers(1, 5)))
        unit = draw(st.sampled_from(["min", "h"])) if limit is None else draw(_UNITS)
        breach["repeat"] = {"every": f"{draw(st.integers(1, 90))}{unit}", "max": limit}
    return policy_from_config("random", {"stages": [*stages, breach]})


DUE = datetime(2026, 6, 1, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(
    policy=policies(),
    scheduled_before=st.integers(-86_400, 86_400),
    steps=st.lists(st.integers(1, 200_000), min_size=1, max_size=25),
)
def test_every_firing_is_decided_once_and_the_breach_fires_once(
    policy: Policy, scheduled_before: int, steps: list[int]
) -> None:
    now = DUE - timedelta(seconds=scheduled_before)
    deadline, ladder = scheduled(policy, DUE, now)
    decided: list[tuple[str, int]] = []
    for step in steps:
        now += timedelta(seconds=step)
        result = advance(deadline, ladder, now)
        deadline = result.deadline
        decided.extend(d.occurrence.identity for d in result.decisions)
        fired_late_reminders = [
            d for d in result.decisions if d.fire and d.late and not d.occurrence.is_breach_fact
        ]
        # Of several missed reminders at once, at most one (the most severe) is sent.
        assert len(fired_late_reminders) <= 1
        for d in result.decisions:
            assert d.late == (now - d.occurrence.at > timedelta(seconds=60))
            assert d.occurrence.at <= now
    assert len(decided) == len(set(decided))
    breach_fired = decided.count(("breach", 0))
    assert breach_fired == (1 if now >= max(DUE, deadline.settle_until or DUE) else 0)


@settings(max_examples=200, deadline=None)
@given(policy=policies(), steps=st.lists(st.integers(1, 59), min_size=1, max_size=400))
def test_a_watcher_that_keeps_up_sends_every_stage_on_time_and_skips_nothing(
    policy: Policy, steps: list[int]
) -> None:
    start = DUE - timedelta(hours=10)  # before every stage (offsets reach -500h at most… clamp)
    ladder = Ladder(policy, DUE, CALENDAR)
    first = ladder.first_time()
    now = min(start, first - timedelta(seconds=1))
    deadline = schedule(None, request(policy.name, DUE), ladder, now)
    assert deadline is not None
    fired: list[tuple[str, int]] = []
    for step in steps:
        now += timedelta(seconds=step)
        result = advance(deadline, ladder, now)
        deadline = result.deadline
        assert all(d.fire and not d.late for d in result.decisions)
        fired.extend(d.occurrence.identity for d in result.decisions)
    expected = [o.identity for o in ladder.between(None, now)]
    assert sorted(fired) == sorted(expected)


@settings(max_examples=200, deadline=None)
@given(policy=policies(), clear_after=st.integers(0, 200_000), later=st.integers(1, 200_000))
def test_nothing_fires_after_a_clear(policy: Policy, clear_after: int, later: int) -> None:
    now = DUE - timedelta(days=30)
    deadline, ladder = scheduled(policy, DUE, now)
    cleared = clear(deadline, ladder, now + timedelta(seconds=clear_after), "done")
    assert cleared is not None
    assert (
        advance(cleared.deadline, ladder, now + timedelta(seconds=clear_after + later)).decisions
        == []
    )
