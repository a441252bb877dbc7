"""The delivery worker: claim a due message, render it, send it, record what happened.

- Claimed with `FOR UPDATE SKIP LOCKED`, one message per transaction: replicas never send the
  same message, and one slow relay does not hold up the rest.
- The outcome is recorded in the same transaction as the claim, with a `delivery-logged` event
  per delivery (outbox): `sent`, `retrying` (attempts and the next time live in the table, so a
  restart continues the schedule), `dead` (plus `delivery-failed` and a desk manager alert) or
  `undeliverable_moved` (a letter to a resident who moved out).
- A crash after a send and before the commit sends that message again after the restart: the
  same Message-ID (from the idempotency key) lets the relay or reader see the duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mynaflow.contracts.notifier import DeliveryStatus
from mynaflow.domain.time import to_jst_date
from mynaflow.storage.unit_of_work import UnitOfWork

from notifier.adapters.letters import LetterRequest
from notifier.domain.aggregation import listed
from notifier.domain.content import ResidentView, StaffView, message_context
from notifier.domain.events import delivery_failed, delivery_logged
from notifier.domain.records import Delivery, Message, Resident
from notifier.domain.templates_catalogue import TEMPLATES
from notifier.service_layer.apology import complete_if_done
from notifier.service_layer.deps import NotifierDeps
from notifier.service_layer.planning import Source, plan_for
from notifier.service_layer.ports import NotifierRepos, Outgoing, SendFailed
from notifier.service_layer.recipients import queue_of, staff

log = logging.getLogger(__name__)

NO_ADDRESS = "no_address"
# Context keys a single-item message (digest, watcher alert) hands to its template as they are.
PASSED_THROUGH = ("queues", "breached", "silent_minutes", "last_seen")


async def deliver_next(deps: NotifierDeps) -> bool:
    """Deliver one due message; False when none is due (or all are being sent elsewhere)."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        message = await uow.repos.claim_due_message(now)
        if message is None:
            return False
        deliveries = await uow.repos.deliveries_of(message.message_id)
        await _deliver(uow, message, deliveries, deps, now)
        if message.batch_id is not None:
            await complete_if_done(uow, message.batch_id, deps, now)
        await uow.commit()
    return True


async def seconds_until_next_due(deps: NotifierDeps, cap_s: float) -> float:
    async with deps.uow() as uow:
        due = await uow.repos.next_due_at()
    if due is None:
        return cap_s
    return max(0.0, min(cap_s, (due - deps.clock.now()).total_seconds()))


@dataclass
class _Attempt:
    uow: UnitOfWork[NotifierRepos]
    message: Message
    deliveries: list[Delivery]
    deps: NotifierDeps
    now: datetime

    def log_all(self, status: DeliveryStatus, **fields: Any) -> None:
        self.deps.on_delivery_status(self.message.channel, status, len(self.deliveries))
        for delivery in self.deliveries:
            event = delivery_logged(
                delivery, status, at=self.now, events=len(self.deliveries), **fields
            )
            self.uow.emit(self.deps.deliveries_topic, delivery.recipient_id, event)

    async def record(self, status: DeliveryStatus, attempts: int, **changes: Any) -> None:
        ids = [d.delivery_id for d in self.deliveries]
        await self.uow.repos.set_delivery_status(ids, status, attempts, self.now)
        message_status = "pending" if status == "queued" else status
        updated = self.message.with_status(message_status, attempts=attempts, **changes)
        await self.uow.repos.save_message(updated)


async def _deliver(
    uow: UnitOfWork[NotifierRepos],
    message: Message,
    deliveries: list[Delivery],
    deps: NotifierDeps,
    now: datetime,
) -> None:
    if _held_for_quiet_hours(message, deps, now):
        await uow.repos.save_message(
            message.with_status(message.status, send_after=deps.quiet.next_allowed(now))
        )
        return
    residents = await _residents_of(uow.repos, message, deliveries)
    if message.channel == "letter":
        deliveries = await _drop_moved_out(uow, message, deliveries, residents, deps, now)
        if not deliveries:
            return
    attempt = _Attempt(uow, message, deliveries, deps, now)
    try:
        outgoing = _outgoing(message, deliveries, residents, deps, now)
        await deps.senders[message.channel].send(outgoing)
    except SendFailed as failure:
        await _failed(attempt, failure.reason)
        return
    attempts = message.attempts + 1
    await attempt.record("sent", attempts, sent_at=now, last_error=None)
    attempt.log_all("sent", attempt=attempts)
    log.info(
        "message sent",
        extra={
            "message_id": str(message.message_id),
            "channel": message.channel,
            "template": message.template,
            "events": len(deliveries),
        },
    )


def _held_for_quiet_hours(message: Message, deps: NotifierDeps, now: datetime) -> bool:
    resident_message = message.recipient_kind == "resident" and message.channel in ("email", "sms")
    return resident_message and not deps.quiet.allows(now)


async def _residents_of(
    repos: NotifierRepos, message: Message, deliveries: Sequence[Delivery]
) -> dict[str, Resident]:
    if message.recipient_kind != "resident":
        return {}
    return await repos.residents({d.recipient_id for d in deliveries})


async def _drop_moved_out(
    uow: UnitOfWork[NotifierRepos],
    message: Message,
    deliveries: list[Delivery],
    residents: dict[str, Resident],
    deps: NotifierDeps,
    now: datetime,
) -> list[Delivery]:
    """Letters never go to an old address: moved-out residents' deliveries end here."""
    moved = [d for d in deliveries if (r := residents.get(d.recipient_id)) and r.moved_out]
    if not moved:
        return deliveries
    await uow.repos.set_delivery_status(
        [d.delivery_id for d in moved], "undeliverable_moved", 0, now
    )
    deps.on_delivery_status(message.channel, "undeliverable_moved", len(moved))
    for delivery in moved:
        event = delivery_logged(delivery, "undeliverable_moved", at=now)
        uow.emit(deps.deliveries_topic, delivery.recipient_id, event)
    remaining = [d for d in deliveries if d not in moved]
    if not remaining:
        await uow.repos.save_message(message.with_status("undeliverable_moved"))
    return remaining


def _outgoing(
    message: Message,
    deliveries: list[Delivery],
    residents: dict[str, Resident],
    deps: NotifierDeps,
    now: datetime,
) -> Outgoing:
    items, count = listed([d.item for d in deliveries])
    extra = {k: items[0][k] for k in PASSED_THROUGH if items and k in items[0]}
    if message.recipient_kind == "resident":
        people = [residents[d.recipient_id] for d in deliveries if d.recipient_id in residents]
        if not people:
            raise SendFailed("unknown_resident")
        reader: ResidentView | StaffView = _resident_view(people)
    else:
        member = deps.staff.member(message.recipient_id)
        reader = StaffView(member.name if member else "")
    context = message_context(
        ward=deps.ward, reader=reader, items=items, count=count, now=now, extra=extra
    )
    rendered = deps.renderer.render(message.template, context)
    if message.channel == "letter":
        assert isinstance(reader, ResidentView)
        return Outgoing(
            message, rendered, letter=_letter(message, deliveries, reader, rendered, now)
        )
    address = _address(message, residents, deps)
    if address is None:
        raise SendFailed(NO_ADDRESS)
    return Outgoing(message, rendered, address=address)


def _resident_view(people: list[Resident]) -> ResidentView:
    first = people[0]
    unique = list(dict.fromkeys(people))
    return ResidentView(
        names=tuple(p.name or "" for p in unique),
        address=first.address or "",
        postal_code=first.postal_code,
        name_kana=tuple(p.name_kana for p in unique if p.name_kana),
    )


def _letter(
    message: Message,
    deliveries: list[Delivery],
    reader: ResidentView,
    rendered: Any,
    now: datetime,
) -> LetterRequest:
    batch = message.batch_id or to_jst_date(now).isoformat()
    return LetterRequest(
        file_stem=str(message.message_id),
        batch=batch,
        household_id=message.household_id,
        resident_ids=tuple(sorted({d.recipient_id for d in deliveries})),
        reader=reader,
        message=rendered,
        written_at=now,
    )


def _address(message: Message, residents: dict[str, Resident], deps: NotifierDeps) -> str | None:
    if message.recipient_kind == "resident":
        resident = residents.get(message.recipient_id)
        if resident is None:
            return None
        return resident.email if message.channel == "email" else resident.phone
    member = deps.staff.member(message.recipient_id)
    if message.channel == "email":
        return member.email if member else None
    if message.channel == "webhook":
        return (member.webhook if member else None) or deps.staff_webhook_url
    return None


async def _failed(attempt: _Attempt, reason: str) -> None:
    deps, message = attempt.deps, attempt.message
    attempts = message.attempts + 1
    final = reason == NO_ADDRESS or deps.retry.gives_up_after(attempts)
    log.warning(
        "send failed",
        extra={
            "message_id": str(message.message_id),
            "channel": message.channel,
            "attempt": attempts,
            "final": final,
            "error": reason,
        },
    )
    if not final:
        retry_at = attempt.now + deps.retry.delay_after(attempts)
        await attempt.record("retrying", attempts, send_after=retry_at, last_error=reason)
        attempt.log_all("retrying", attempt=attempts, next_attempt_at=retry_at, error=reason)
        return
    await attempt.record("dead", attempts, last_error=reason)
    attempt.log_all("dead", attempt=attempts, error=reason)
    for delivery in attempt.deliveries:
        failed = delivery_failed(delivery, attempts=attempts, error=reason, at=attempt.now)
        attempt.uow.emit(deps.deliveries_topic, delivery.recipient_id, failed)
    await _alert_desk_manager(attempt, attempts, reason)


async def _alert_desk_manager(attempt: _Attempt, attempts: int, reason: str) -> None:
    """Final failure: the desk manager of the queue concerned hears (never about an alert
    that itself failed, which would loop)."""
    message = attempt.message
    if message.template == "delivery_failed":
        return
    first = attempt.deliveries[0]
    manager = attempt.deps.staff.desk_manager(queue_of(first.item))
    if manager is None:
        return
    item = {
        "template_subject": TEMPLATES[message.template].subject,
        "recipient_id": message.recipient_id,
        "channel": message.channel,
        "attempts": attempts,
        "error": reason,
        "queue": queue_of(first.item),
    }
    source = Source(f"delivery-failed:{message.message_id}", "delivery-failed", item)
    recipient = staff(manager, attempt.deps)
    await plan_for(attempt.uow, source, "delivery_failed", recipient, attempt.deps, attempt.now)
