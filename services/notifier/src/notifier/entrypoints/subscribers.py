"""The one subscriber of the notifier: five input topics, one consumer, thin dispatch.

Commands (`notifier.commands`) go to the apology handler; every other event to the consume
handler, which updates the directories and records deliveries. Records come in batches
(`ServiceContext.inbox_batch_subscriber`) and are handled in their order, each in its own
transaction: both handlers claim every event in the inbox first, so a batch read again changes
nothing twice, and the offset commit's round trip is paid once per batch, not per event (the
~115 events a second that capped card-registry, docs/BENCHMARKS.md, "Full flow"). Sending is
not done here: deliveries are recorded `queued` and sent by the delivery task.
"""

from __future__ import annotations

from typing import Any

from faststream.kafka.annotations import KafkaMessage
from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.contracts.topics import (
    DEADLINES_EVENTS,
    INTAKE_RECEIPTS,
    NOTIFIER_COMMANDS,
    REGISTRY_EVENTS,
    RESIDENT_MOVES,
)
from mynaflow.messaging.records import records_of
from mynaflow.runtime.definition import ServiceContext

from notifier.service_layer.apology import handle_command
from notifier.service_layer.consume import handle_event
from notifier.service_layer.deps import NotifierDeps

INPUTS = (DEADLINES_EVENTS, REGISTRY_EVENTS, INTAKE_RECEIPTS, RESIDENT_MOVES, NOTIFIER_COMMANDS)


def register_subscribers(context: ServiceContext[Any], deps: NotifierDeps) -> None:
    commands_topic = context.topic(NOTIFIER_COMMANDS)
    subscriber = context.inbox_batch_subscriber(*INPUTS)

    async def on_notifier_input(events: list[RawCloudEvent], message: KafkaMessage) -> None:
        for record, event in zip(records_of(message), events, strict=True):
            if record.topic == commands_topic:
                await handle_command(event, deps)
            else:
                await handle_event(event, record, deps)

    # Called, not used as a decorator: FastStream's decorator is untyped.
    subscriber(on_notifier_input)
