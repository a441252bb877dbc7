"""A silent watcher is noticed: no heartbeat for a while raises one alert per outage.

State is two instants: the last heartbeat seen, and the heartbeat an alert was raised for. An
outage is identified by the last heartbeat before it, so the alert fires once however often the
check runs, and again only after a heartbeat has come back and gone silent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_SILENCE = timedelta(minutes=10)


@dataclass(frozen=True)
class HeartbeatState:
    # The last heartbeat, or when the notifier began watching if none has come yet.
    last_seen_at: datetime
    alerted_for: datetime | None = None


def should_alert(state: HeartbeatState, now: datetime, silence: timedelta) -> bool:
    return now - state.last_seen_at >= silence and state.alerted_for != state.last_seen_at


def after_alert(state: HeartbeatState) -> HeartbeatState:
    return HeartbeatState(state.last_seen_at, alerted_for=state.last_seen_at)


def after_heartbeat(state: HeartbeatState, fired_at: datetime) -> HeartbeatState:
    """A heartbeat ends the outage; an older one (redelivered, out of order) changes nothing."""
    if fired_at <= state.last_seen_at:
        return state
    return HeartbeatState(fired_at, state.alerted_for)


def next_check_at(state: HeartbeatState, silence: timedelta) -> datetime:
    return state.last_seen_at + silence
