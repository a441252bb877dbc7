"""The one subscriber of the notifier: five input topics, one consumer, thin dispatch.

Commands (`notifier.commands`) go to the apology handler; every other event to the consume
handler, which updates the directories and records deliveries.
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
from mynaflow.messaging.records import record_of
from mynaflow.runtime.definition import ServiceContext

from notifier.service_layer.apology import handle_command
from notifier.service_layer.consume import handle_event
from notifier.service_layer.deps import NotifierDeps

INPUTS = (DEADLINES_EVENTS, REGISTRY_EVENTS, INTAKE_RECEIPTS, RESIDENT_MOVES, NOTIFIER_COMMANDS)


def register_subscribers(context: ServiceContext[Any], deps: NotifierDeps) -> None:
    commands_topic = context.topic(NOTIFIER_COMMANDS)
    subscriber = context.subscriber(*INPUTS)

    async def on_notifier_input(event: RawCloudEvent, message: KafkaMessage) -> None:
        record = record_of(message)
        if record.topic == commands_topic:
            await handle_command(event, deps)
        else:
            await handle_event(event, record, deps)

    # Called, not used as a decorator: FastStream's decorator is untyped.
    subscriber(on_notifier_input)
