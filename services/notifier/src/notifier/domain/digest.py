"""The managers' daily digest, built from the deadline events the notifier has seen.

Per queue: how many deadlines are open, how many of them are overdue, and the age of the oldest
(from when its obligation started, else from its due time); then the breached ones. No other
service's tables are read: the notifier keeps its own view of `deadlines.events`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

NO_QUEUE = "(キュー未設定)"


@dataclass(frozen=True)
class TrackedDeadline:
    key: str
    queue: str | None
    due_at: datetime
    starts_at: datetime | None
    breached: bool


@dataclass(frozen=True)
class QueueDigest:
    queue: str
    open: int
    overdue: int
    oldest_age: timedelta
    breached: tuple[TrackedDeadline, ...]


def digest_by_queue(deadlines: Iterable[TrackedDeadline], now: datetime) -> list[QueueDigest]:
    """One line per queue with open deadlines, queues in name order, breaches oldest first."""
    by_queue: dict[str, list[TrackedDeadline]] = {}
    for deadline in deadlines:
        by_queue.setdefault(deadline.queue or NO_QUEUE, []).append(deadline)
    return [_queue_digest(queue, items, now) for queue, items in sorted(by_queue.items())]


def _queue_digest(queue: str, items: list[TrackedDeadline], now: datetime) -> QueueDigest:
    overdue = [d for d in items if d.breached or d.due_at < now]
    oldest = min((d.starts_at or d.due_at) for d in items)
    breached = sorted((d for d in items if d.breached), key=lambda d: d.due_at)
    return QueueDigest(
        queue=queue,
        open=len(items),
        overdue=len(overdue),
        oldest_age=max(now - oldest, timedelta(0)),
        breached=tuple(breached),
    )


def digest_for(queues: Iterable[str], digests: Iterable[QueueDigest]) -> list[QueueDigest]:
    """The lines of one manager's digest: only the queues they manage."""
    wanted = set(queues)
    return [line for line in digests if line.queue in wanted]
