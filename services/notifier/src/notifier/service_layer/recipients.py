"""Who an event's audience is, as people with addresses: residents and staff.

Residents come from the notifier's own directory (`resident.moves`); queue members and
assignees from the registry's events; managers and staff addresses from the staff
configuration. A resident the directory does not know *yet* raises `RecipientNotYetKnown`:
topics are not ordered against each other, so the event is held and retried, not dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mynaflow.contracts.notifier import Channel, RecipientKind

from notifier.domain.routing import Audience
from notifier.service_layer.deps import NotifierDeps
from notifier.service_layer.ports import NotifierRepos

log = logging.getLogger(__name__)


class RecipientNotYetKnown(Exception):
    def __init__(self, missing: str) -> None:
        super().__init__(missing)
        self.missing = missing


@dataclass(frozen=True)
class Recipient:
    kind: RecipientKind
    id: str
    channels: tuple[Channel, ...]
    household_id: str | None = None


def _audience(data: Mapping[str, Any]) -> Mapping[str, Any]:
    audience = data.get("audience")
    return audience if isinstance(audience, Mapping) else {}


def resident_id_of(data: Mapping[str, Any]) -> str | None:
    value = _audience(data).get("resident_id") or data.get("resident_id")
    value = value or data.get("resident_ref")
    return str(value) if value else None


def queue_of(data: Mapping[str, Any]) -> str | None:
    value = _audience(data).get("queue") or data.get("queue") or data.get("owner_queue")
    return str(value) if value else None


def assignee_of(data: Mapping[str, Any]) -> str | None:
    value = _audience(data).get("assignee") or data.get("assignee")
    value = value or data.get("surface_printed_by")
    return str(value) if value else None


async def resolve(
    audiences: tuple[Audience, ...],
    data: Mapping[str, Any],
    repos: NotifierRepos,
    deps: NotifierDeps,
) -> list[Recipient]:
    """Every person the audiences name, once each, in a stable order."""
    found: dict[str, Recipient] = {}
    for audience in audiences:
        for recipient in await _resolve_one(audience, data, repos, deps):
            found.setdefault(recipient.id, recipient)
    return list(found.values())


async def _resolve_one(
    audience: Audience, data: Mapping[str, Any], repos: NotifierRepos, deps: NotifierDeps
) -> list[Recipient]:
    queue = queue_of(data)
    if audience == "resident":
        return await _resident(data, repos, deps)
    if audience == "queue":
        members = (await repos.members(queue) if queue else None) or []
        # A queue with nobody in it is orphaned (the registry says so); its manager hears.
        return [staff(m, deps) for m in members] or _managers("desk_manager", queue, deps)
    if audience == "assignee":
        assignee = await _current_assignee(data, queue, repos)
        return [staff(assignee, deps)] if assignee else _managers("desk_manager", queue, deps)
    if audience == "staff":
        staff_id = data.get("staff_id")
        return [staff(str(staff_id), deps)] if staff_id else []
    if audience == "all_desk_managers":
        return [staff(m, deps) for m in deps.staff.all_desk_managers()]
    return _managers(audience, queue, deps)


async def _current_assignee(
    data: Mapping[str, Any], queue: str | None, repos: NotifierRepos
) -> str | None:
    """The assignee, unless they have left the queue: then nobody (the manager hears)."""
    key = data.get("key") or data.get("work_item_id")
    assignee = assignee_of(data) or (await repos.assignee_of(str(key)) if key else None)
    members = await repos.members(queue) if queue and assignee else None
    if assignee and members is not None and assignee not in members:
        log.info("assignee has left the queue; the desk manager is told instead")
        return None
    return assignee


def _managers(role: str, queue: str | None, deps: NotifierDeps) -> list[Recipient]:
    manager = (
        deps.staff.section_chief(queue)
        if role == "section_chief"
        else deps.staff.desk_manager(queue)
    )
    return [staff(manager, deps)] if manager else []


def staff(staff_id: str, deps: NotifierDeps) -> Recipient:
    """A staff member's channels: email and webhook, as far as addresses are configured."""
    member = deps.staff.member(staff_id)
    channels: list[Channel] = []
    if member is not None and member.email:
        channels.append("email")
    if (member is not None and member.webhook) or deps.staff_webhook_url:
        channels.append("webhook")
    # No address at all: still recorded (on email), so that it ends `dead` and a manager hears.
    return Recipient("staff", staff_id, tuple(channels) or ("email",))


async def _resident(
    data: Mapping[str, Any], repos: NotifierRepos, deps: NotifierDeps
) -> list[Recipient]:
    resident_id = resident_id_of(data)
    if resident_id is None:
        log.warning("resident route but the event names no resident")
        return []
    known = (await repos.residents([resident_id])).get(resident_id)
    if known is None:
        raise RecipientNotYetKnown(f"resident {resident_id}")
    channels: list[Channel] = ["letter"]
    if known.email:
        channels.append("email")
    if known.phone and deps.sms_enabled:
        channels.append("sms")
    return [Recipient("resident", resident_id, tuple(channels), known.household_id)]
