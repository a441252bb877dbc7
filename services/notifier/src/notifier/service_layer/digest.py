"""The daily digest: on `digest-due`, one message per desk manager and section chief.

Built from the deadlines the notifier has seen on `deadlines.events` (never from another
service's tables): per queue they manage, the open and overdue counts and the oldest age, then
the breached deadlines.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.domain.time import to_jst_date
from mynaflow.storage.unit_of_work import UnitOfWork

from notifier.domain.digest import QueueDigest, digest_by_queue, digest_for
from notifier.domain.era import japanese_date
from notifier.service_layer.deps import NotifierDeps
from notifier.service_layer.planning import Source, plan_for
from notifier.service_layer.ports import NotifierRepos
from notifier.service_layer.recipients import staff


async def plan_digest(
    uow: UnitOfWork[NotifierRepos], event: RawCloudEvent, deps: NotifierDeps, now: datetime
) -> int:
    lines = digest_by_queue(await uow.repos.open_deadlines(), now)
    queues = {line.queue for line in lines} | set(await uow.repos.known_queues())
    planned = 0
    for manager in _managers(queues, deps):
        mine = digest_for(deps.staff.queues_managed_by(manager, queues), lines)
        if not mine:
            continue
        source = Source(event.id, event.type, digest_item(mine))
        recipient = staff(manager, deps)
        # Once a day already: never held for an aggregation window.
        planned += await plan_for(
            uow, source, "manager_digest", recipient, deps, now, aggregate=False
        )
    return planned


def _managers(queues: set[str], deps: NotifierDeps) -> list[str]:
    found = {deps.staff.desk_manager(q) for q in queues} | {
        deps.staff.section_chief(q) for q in queues
    }
    return sorted(m for m in found if m)


def digest_item(lines: list[QueueDigest]) -> dict[str, Any]:
    """What the digest template shows (stored with the delivery, so a retry sends the same)."""
    return {
        "queues": [
            {
                "queue": line.queue,
                "open": line.open,
                "overdue": line.overdue,
                "oldest_days": line.oldest_age.days,
            }
            for line in lines
        ],
        "breached": [
            {
                "label": d.key,
                "queue": line.queue,
                "due_date": japanese_date(to_jst_date(d.due_at)),
            }
            for line in lines
            for d in line.breached
        ],
    }
