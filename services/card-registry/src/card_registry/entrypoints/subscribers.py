"""The one subscriber of card-registry: four input topics, one consumer, thin dispatch.

Each record is parsed as a CloudEvent (a body that is not one is dead-lettered by the platform)
and handed, by the topic it came from, to its handler in `service_layer/`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faststream.kafka.annotations import KafkaMessage
from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.contracts.topics import (
    DEADLINES_EVENTS,
    INTAKE_RECEIPTS,
    REGISTRY_COMMANDS,
    RESIDENT_MOVES,
)
from mynaflow.messaging.errors import PoisonMessage
from mynaflow.messaging.records import record_of
from mynaflow.runtime.definition import ServiceContext

from card_registry.service_layer.commands import handle_command
from card_registry.service_layer.deadline_events import handle_deadline_event
from card_registry.service_layer.deps import RegistryDeps
from card_registry.service_layer.moves import handle_move
from card_registry.service_layer.receipts import handle_receipt

Handler = Callable[[RawCloudEvent, RegistryDeps], Awaitable[None]]
INPUTS = (
    (REGISTRY_COMMANDS, handle_command),
    (RESIDENT_MOVES, handle_move),
    (INTAKE_RECEIPTS, handle_receipt),
    (DEADLINES_EVENTS, handle_deadline_event),
)


def register_subscribers(context: ServiceContext[Any], deps: RegistryDeps) -> None:
    handlers: dict[str, Handler] = {context.topic(spec): handler for spec, handler in INPUTS}
    subscriber = context.subscriber(*(spec for spec, _ in INPUTS))

    async def on_registry_input(event: RawCloudEvent, message: KafkaMessage) -> None:
        topic = record_of(message).topic
        handler = handlers.get(topic)
        if handler is None:
            raise PoisonMessage("unexpected_topic", topic)
        await handler(event, deps)

    # Called, not used as a decorator: FastStream's decorator is untyped.
    subscriber(on_registry_input)
