"""Recording deliveries: each (event, recipient, channel) `queued` at once, joined to a message.

The delivery row is recorded before any batching; the *message* it joins is what is sent: its
own, or an open bucket of the same aggregation key (`domain.aggregation`). A delivery whose
idempotency key exists was recorded before (a redelivery, a restart, a replay): nothing happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mynaflow.contracts.notifier import Channel
from mynaflow.domain.ids import new_id
from mynaflow.storage.unit_of_work import UnitOfWork

from notifier.domain.aggregation import aggregation_key, send_at
from notifier.domain.events import delivery_logged
from notifier.domain.idempotency import delivery_id_for, idempotency_key
from notifier.domain.records import Delivery, Message
from notifier.domain.templates_catalogue import TEMPLATES
from notifier.service_layer.deps import NotifierDeps
from notifier.service_layer.ports import NotifierRepos
from notifier.service_layer.recipients import Recipient


@dataclass(frozen=True)
class Source:
    """The event a delivery answers: its id, its type and the data the template shows."""

    event_id: str
    event_type: str
    data: Mapping[str, Any]


async def plan_for(
    uow: UnitOfWork[NotifierRepos],
    source: Source,
    template: str,
    recipient: Recipient,
    deps: NotifierDeps,
    now: datetime,
    *,
    aggregate: bool = True,
    bucket: str | None = None,
    batch_id: str | None = None,
) -> int:
    """Record one delivery per channel of `recipient`; how many were new."""
    new = 0
    for channel in recipient.channels:
        key = idempotency_key(source.event_id, recipient.id, channel)
        if await uow.repos.delivery_exists(key):
            continue
        chosen = bucket or (_bucket_of(source, template, recipient, channel) if aggregate else None)
        message = await _message_for(
            uow.repos, chosen, key, template, recipient, channel, deps, now, batch_id
        )
        delivery = Delivery(
            delivery_id=delivery_id_for(key),
            idempotency_key=key,
            source_event_id=source.event_id,
            source_type=source.event_type,
            recipient_kind=recipient.kind,
            recipient_id=recipient.id,
            channel=channel,
            template=template,
            message_id=message.message_id,
            status="queued",
            item=dict(source.data),
            batch_id=batch_id,
        )
        if await uow.repos.insert_delivery(delivery, now):
            uow.emit(
                deps.deliveries_topic, recipient.id, delivery_logged(delivery, "queued", at=now)
            )
            deps.on_delivery_status(channel, "queued", 1)
            new += 1
    if new:
        deps_wake_after_commit(deps)
    return new


def deps_wake_after_commit(deps: NotifierDeps) -> None:
    """The worker looks again soon; setting it early is harmless (it re-reads the table)."""
    deps.wake.set()


def _bucket_of(source: Source, template: str, recipient: Recipient, channel: Channel) -> str | None:
    return aggregation_key(
        reader=TEMPLATES[template].reader,
        recipient_id=recipient.id,
        household_id=recipient.household_id,
        template=template,
        channel=channel,
        data=source.data,
    )


async def _message_for(
    repos: NotifierRepos,
    bucket: str | None,
    key: str,
    template: str,
    recipient: Recipient,
    channel: Channel,
    deps: NotifierDeps,
    now: datetime,
    batch_id: str | None,
) -> Message:
    """The open bucket to join, or a new message (held for the window when it is a bucket)."""
    if bucket is not None and (open_bucket := await repos.open_bucket(bucket)) is not None:
        return open_bucket
    # Apology letters go out as soon as their batch is released: no window.
    held = bucket is not None and batch_id is None
    due = send_at(now, deps.window) if held else now
    if TEMPLATES[template].reader == "resident" and channel in ("email", "sms"):
        due = deps.quiet.next_allowed(due)
    message = Message(
        message_id=new_id(),
        aggregation_key=bucket,
        recipient_kind=recipient.kind,
        recipient_id=recipient.id,
        household_id=recipient.household_id,
        channel=channel,
        template=template,
        status="pending",
        send_after=due,
        message_key=key,
        created_at=now,
        batch_id=batch_id,
    )
    await repos.save_message(message)
    return message
