"""Pure delivery rules: idempotency key, retry schedule, quiet hours, the silent watcher."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mynaflow.domain.time import JST
from notifier.domain.idempotency import delivery_id_for, idempotency_key, message_id_for
from notifier.domain.quiet_hours import QuietHours
from notifier.domain.retry import RetrySchedule
from notifier.domain.watcher_silence import (
    HeartbeatState,
    after_alert,
    after_heartbeat,
    should_alert,
)

pytestmark = pytest.mark.unit


def test_the_key_is_event_recipient_and_channel_and_gives_stable_ids() -> None:
    key = idempotency_key("ev-1", "R-0042", "email")
    assert key != idempotency_key("ev-1", "R-0042", "letter")
    assert key != idempotency_key("ev-1", "R-0043", "email")
    assert delivery_id_for(key) == delivery_id_for(idempotency_key("ev-1", "R-0042", "email"))
    message_id = message_id_for(key, "ward.example.jp")
    assert message_id.startswith("<")
    assert message_id.endswith("@ward.example.jp>")
    assert "R-0042" not in message_id


@given(attempts=st.integers(min_value=1, max_value=40), seed=st.integers())
def test_backoff_grows_within_its_cap_and_jitter(attempts: int, seed: int) -> None:
    schedule = RetrySchedule(timedelta(seconds=1), timedelta(seconds=60), 10, jitter=0.5)
    delay = schedule.delay_after(attempts, random.Random(seed))
    base = min(timedelta(seconds=2 ** (attempts - 1)), timedelta(seconds=60))
    assert base * 0.5 <= delay <= base


def test_retries_stop_at_the_configured_count() -> None:
    schedule = RetrySchedule(max_attempts=4)
    assert [schedule.gives_up_after(n) for n in (1, 3, 4, 5)] == [False, False, True, True]


def test_quiet_hours_hold_a_night_message_until_eight_jst() -> None:
    hours = QuietHours()
    night = datetime(2026, 12, 3, 21, 30, tzinfo=JST)
    assert not hours.allows(night)
    assert hours.next_allowed(night) == datetime(2026, 12, 4, 8, 0, tzinfo=JST)
    early = datetime(2026, 12, 3, 6, 0, tzinfo=JST)
    assert hours.next_allowed(early) == datetime(2026, 12, 3, 8, 0, tzinfo=JST)
    noon_utc = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)  # 12:00 JST
    assert hours.next_allowed(noon_utc) == noon_utc
    assert not hours.allows(datetime(2026, 12, 3, 20, 0, tzinfo=JST))


def test_the_silent_watcher_alert_fires_once_per_outage() -> None:
    silence = timedelta(minutes=10)
    start = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)
    state = HeartbeatState(start)
    assert not should_alert(state, start + timedelta(minutes=9), silence)
    assert should_alert(state, start + timedelta(minutes=10), silence)
    state = after_alert(state)
    assert not should_alert(state, start + timedelta(hours=5), silence)
    # The watcher comes back, then stops again: a second outage, a second alert.
    state = after_heartbeat(state, start + timedelta(hours=6))
    assert not should_alert(state, start + timedelta(hours=6, minutes=5), silence)
    assert should_alert(state, start + timedelta(hours=6, minutes=10), silence)


def test_an_old_heartbeat_does_not_end_an_outage() -> None:
    start = datetime(2026, 12, 3, tzinfo=UTC)
    state = after_alert(HeartbeatState(start))
    assert after_heartbeat(state, start - timedelta(minutes=1)) == state
