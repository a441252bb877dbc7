"""Keeping the notifier's own views up to date from the events it consumes.

Residents (`resident.moves`), queue members and assignees (`registry.events`), the deadlines it
has seen (for the digest) and the watcher's heartbeat (`deadlines.events`). Every update is an
upsert, so applying an event twice (a held event retried) changes nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from mynaflow.contracts import deadlines, registry, resident
from mynaflow.contracts.envelope import RawCloudEvent

from notifier.domain.digest import TrackedDeadline
from notifier.domain.records import Resident
from notifier.domain.watcher_silence import HeartbeatState, after_heartbeat
from notifier.service_layer.ports import NotifierRepos
from notifier.service_layer.recipients import queue_of

DEADLINE_FACTS = (
    deadlines.DEADLINE_SCHEDULED_V1,
    deadlines.DEADLINE_STAGE_REACHED_V1,
    deadlines.DEADLINE_BREACHED_V1,
)


async def update_directories(repos: NotifierRepos, event: RawCloudEvent, now: datetime) -> None:
    data = event.data
    if event.type in (resident.MOVED_IN_V1, resident.REGISTERED_V1, resident.CHANGED_V1):
        await repos.upsert_resident(_resident(data), now)
    elif event.type == resident.MOVED_OUT_V1:
        moved = resident.ResidentMovedOut.model_validate(data)
        await repos.mark_moved_out(moved.resident_id, moved.household_id, moved.moved_out_on, now)
    elif event.type == registry.QUEUE_MEMBERSHIP_CHANGED_V1:
        change = registry.QueueMembershipChanged.model_validate(data)
        await repos.replace_members(change.queue, change.members)
    elif event.type == registry.NOTICE_ASSIGNED_V1:
        assigned = registry.NoticeAssigned.model_validate(data)
        await repos.set_assignee(assigned.work_item_id, assigned.queue, assigned.assignee)
    elif event.type in DEADLINE_FACTS:
        await _track(repos, data, breached=event.type == deadlines.DEADLINE_BREACHED_V1, now=now)
    elif event.type == deadlines.DEADLINE_CLEARED_V1:
        await repos.close_deadline(str(data["key"]), now)
    elif event.type == deadlines.DEADLINE_HEARTBEAT_V1:
        beat = deadlines.Heartbeat.model_validate(data)
        state = await repos.heartbeat() or HeartbeatState(beat.fired_at)
        await repos.save_heartbeat(after_heartbeat(state, beat.fired_at))


def _resident(data: Mapping[str, Any]) -> Resident:
    return Resident(
        resident_id=str(data["resident_id"]),
        household_id=str(data["household_id"]),
        name=data.get("name"),
        name_kana=data.get("name_kana"),
        postal_code=data.get("postal_code"),
        address=data.get("address"),
        email=data.get("email"),
        phone=data.get("phone"),
        moved_out_on=_date(data.get("moved_out_on")),
    )


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


async def _track(
    repos: NotifierRepos, data: Mapping[str, Any], *, breached: bool, now: datetime
) -> None:
    event = deadlines.DeadlineEvent.model_validate(data)
    tracked = TrackedDeadline(
        key=event.key,
        queue=queue_of(data),
        due_at=event.due_at,
        starts_at=event.starts_at,
        breached=breached,
    )
    await repos.track_deadline(tracked, event.policy, event.subject.model_dump(), now)
