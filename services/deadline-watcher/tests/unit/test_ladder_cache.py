"""Ladders are computed once per (policy, calendar, due time, start) and their answers reused:
a reused answer is the same as a fresh one, and no caller can change it for the next."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from deadline_watcher.domain.ladder import Ladder
from deadline_watcher.domain.policies import load_policies
from deadline_watcher.service_layer.deps import WatcherDeps
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.clock import FakeClock
from mynaflow.domain.time import JST
from mynaflow_testing.memory.deadline_watcher import MemoryWatcher

pytestmark = pytest.mark.unit

POLICIES = load_policies()
DUE = datetime(2025, 5, 16, 17, tzinfo=JST)
NOW = DUE + timedelta(days=3)


def deps_with() -> WatcherDeps:
    return MemoryWatcher().deps(policies=POLICIES, clock=FakeClock(NOW))


def test_equal_instants_share_one_ladder_and_anything_else_gets_its_own() -> None:
    deps = deps_with()
    policy = POLICIES["notice_sla"]
    ladder = deps.ladder(policy, DUE, None)
    assert deps.ladder(policy, DUE.astimezone(UTC), None) is ladder
    assert deps.ladder(policy, DUE + timedelta(seconds=1), None) is not ladder
    assert deps.ladder(policy, DUE, DUE - timedelta(days=30)) is not ladder
    assert deps.ladder(POLICIES["chip_rewrite_90d"], DUE, None) is not ladder


def test_a_replaced_calendar_never_sees_ladders_of_the_old_one() -> None:
    deps = deps_with()
    policy = POLICIES["notice_sla"]
    closed = BusinessCalendar(extra_closures=[date(2025, 5, 19), date(2025, 5, 20)])
    other = replace(deps, calendar=closed)
    assert [o.at for o in other.ladder(policy, DUE, None).planned()] == [
        o.at for o in Ladder(policy, DUE, closed).planned()
    ]
    assert other.ladder(policy, DUE, None) is not deps.ladder(policy, DUE, None)


def test_reused_answers_equal_fresh_ones_and_callers_cannot_change_them() -> None:
    policy = POLICIES["chip_rewrite_90d"]
    cached = deps_with().ladder(policy, DUE, None)
    for after, until in [(None, NOW), (None, NOW), (DUE, NOW), (None, NOW)]:
        fresh = Ladder(policy, DUE, BusinessCalendar())
        answer = cached.between(after, until)
        assert answer == fresh.between(after, until)
        answer.clear()  # a caller's change must not reach the next caller
        assert cached.between(after, until) == fresh.between(after, until)
        assert cached.next_after(until) == fresh.next_after(until)
    planned = cached.planned()
    planned.pop()
    assert cached.planned() == Ladder(policy, DUE, BusinessCalendar()).planned()
