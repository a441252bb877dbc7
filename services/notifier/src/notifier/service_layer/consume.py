"""Handling one consumed event: directories, routing, and a delivery per recipient and channel.

One transaction per event: the inbox claim, the directory updates, the deliveries recorded
`queued` and their `delivery-logged` events (outbox). An event whose resident the directory
does not know yet is *held* in the database and retried by `held.retry_held` for up to
`hold_for` from its first receipt, then dead-lettered; the consumer moves on at once, so it
never holds up its partition.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from mynaflow.contracts import deadlines
from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.messaging.records import RawRecord
from mynaflow.storage.unit_of_work import UnitOfWork

from notifier.domain.records import HeldEvent
from notifier.service_layer.deps import EVENTS_CONSUMER, NotifierDeps
from notifier.service_layer.digest import plan_digest
from notifier.service_layer.directory import update_directories
from notifier.service_layer.planning import Source, plan_for
from notifier.service_layer.ports import NotifierRepos
from notifier.service_layer.recipients import RecipientNotYetKnown, resolve

log = logging.getLogger(__name__)

# The first retry of a held event comes soon: the move it waits for is usually just behind.
FIRST_HOLD_RETRY_S = 1.0


async def handle_event(event: RawCloudEvent, record: RawRecord | None, deps: NotifierDeps) -> None:
    now = deps.clock.now()
    async with deps.uow() as uow:
        if not await uow.claim(event.id, consumer=EVENTS_CONSUMER):
            return
        try:
            await apply_event(uow, event, deps, now)
        except RecipientNotYetKnown as unknown:
            await uow.repos.hold(held_event(event, record, unknown.missing, deps, now))
            log.info(
                "recipient not in the directory yet; event held",
                extra={"event_id": event.id, "event_type": event.type, "missing": unknown.missing},
            )
        await uow.commit()


def held_event(
    event: RawCloudEvent, record: RawRecord | None, missing: str, deps: NotifierDeps, now: datetime
) -> HeldEvent:
    """The event as it will wait: its original record (what a dead letter keeps) and its times.

    `record` is None only when a handler is called directly (tests): the event is re-encoded.
    """
    if record is None:
        record = RawRecord("", 0, 0, None, event.model_dump_json().encode(), (), 0)
    return HeldEvent(
        event_id=event.id,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        kafka_key=record.key,
        payload=record.value,
        missing=missing,
        first_received_at=now,
        give_up_at=now + deps.hold_for,
        retry_at=now + timedelta(seconds=FIRST_HOLD_RETRY_S),
    )


async def apply_event(
    uow: UnitOfWork[NotifierRepos], event: RawCloudEvent, deps: NotifierDeps, now: datetime
) -> int:
    """Apply `event`; the number of deliveries recorded. Raises `RecipientNotYetKnown`."""
    await update_directories(uow.repos, event, now)
    if event.type == deadlines.DEADLINE_DIGEST_DUE_V1:
        return await plan_digest(uow, event, deps, now)
    route = deps.routing.route(event.type, event.data)
    if route is None:
        _not_routed(event, deps)
        return 0
    # Everyone is resolved before anything is recorded: a held event records nothing.
    recipients = await resolve(route.audiences, event.data, uow.repos, deps)
    source = Source(event.id, event.type, event.data)
    planned = 0
    for recipient in recipients:
        planned += await plan_for(uow, source, route.template, recipient, deps, now)
    return planned


def _not_routed(event: RawCloudEvent, deps: NotifierDeps) -> None:
    if deps.routing.ignores(event.type):
        return
    deps.on_unrouted(event.type)
    log.warning(
        "event has no route; nobody is told (add a route to the routing file)",
        extra={
            "event_id": event.id,
            "event_type": event.type,
            "policy": event.data.get("policy"),
            "stage": event.data.get("stage"),
        },
    )
