"""Aggregation, so that a backlog does not become a flood.

- Staff and managers get at most one message per (recipient, template, channel) in a trailing
  window (10 minutes by default): the first event opens a bucket, which is sent one window
  later with everything that arrived meanwhile: the count, and the first 50 listed.
- A household's letters about the same deadline (same policy, stage and JST due date) become
  one letter to the household. They are held for the same window, since the members'
  deadlines fire separately.
- A resident's email or SMS is never merged: each is its own message, and residents are never
  merged with other residents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from mynaflow.contracts.notifier import Channel

from notifier.domain.templates_catalogue import Reader

DEFAULT_WINDOW = timedelta(minutes=10)
LISTED_ITEMS = 50

T = TypeVar("T")


def aggregation_key(
    *,
    reader: Reader,
    recipient_id: str,
    household_id: str | None,
    template: str,
    channel: Channel,
    data: Mapping[str, Any],
) -> str | None:
    """The bucket a delivery joins, or None when it is sent on its own."""
    if reader == "staff":
        return f"staff|{recipient_id}|{template}|{channel}"
    if channel == "letter" and household_id and _is_deadline(data):
        due_on = str(data.get("due_on") or data.get("due_at", ""))[:10]
        return f"household|{household_id}|{template}|{data['policy']}|{data['stage']}|{due_on}"
    return None


def _is_deadline(data: Mapping[str, Any]) -> bool:
    return bool(data.get("policy")) and bool(data.get("stage"))


def send_at(opened_at: datetime, window: timedelta) -> datetime:
    """A bucket goes out one window after its first event: at most one message per window."""
    return opened_at + window


def listed(items: Sequence[T], limit: int = LISTED_ITEMS) -> tuple[list[T], int]:
    """The items shown in an aggregated message, and how many there are in all."""
    return list(items[:limit]), len(items)
