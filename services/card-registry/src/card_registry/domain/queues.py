"""Queue membership and orphan detection (docs/domain.md, "Every queue has an owner").

Invariants:
- `members` is the queue's whole current membership: reminders go only to them.
- A queue is *orphaned* when it has open work and no member (Case 1's missing handover). That
  is reported once, when the last member leaves with work open or when work arrives in a queue
  with no member, and not again until someone joins (which reports it staffed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from mynaflow.contracts.registry import RejectionReason

from card_registry.domain.rejections import Rejected

OrphanReason = Literal["last_member_left", "work_arrived_unstaffed"]


@dataclass(frozen=True)
class Queue:
    name: str
    members: tuple[str, ...] = ()
    orphaned: bool = False


@dataclass(frozen=True)
class QueueChange:
    """A queue after a change, and what to report: orphaned (with why) or staffed again."""

    queue: Queue
    orphaned: OrphanReason | None = None
    staffed: bool = False


def join(queue: Queue, staff_id: str) -> QueueChange:
    if staff_id in queue.members:
        raise Rejected(RejectionReason.ALREADY_A_MEMBER, f"{staff_id} is in {queue.name} already")
    members = tuple(sorted((*queue.members, staff_id)))
    return QueueChange(replace(queue, members=members, orphaned=False), staffed=queue.orphaned)


def leave(queue: Queue, staff_id: str, open_items: int) -> QueueChange:
    if staff_id not in queue.members:
        raise Rejected(RejectionReason.NOT_A_MEMBER, f"{staff_id} is not in {queue.name}")
    members = tuple(member for member in queue.members if member != staff_id)
    left = replace(queue, members=members)
    if members or open_items == 0 or queue.orphaned:
        return QueueChange(left)
    return QueueChange(replace(left, orphaned=True), orphaned="last_member_left")


def work_arrived(queue: Queue) -> QueueChange:
    """A work item opened in the queue: orphaned if nobody is there (once until staffed)."""
    if queue.members or queue.orphaned:
        return QueueChange(queue)
    return QueueChange(replace(queue, orphaned=True), orphaned="work_arrived_unstaffed")
