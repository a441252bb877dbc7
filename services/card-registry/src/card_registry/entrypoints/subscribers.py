"""The one subscriber of card-registry: four input topics, one consumer, thin dispatch.

Records come in batches (`ServiceContext.inbox_batch_subscriber`) and are handed in their order,
by the topic each came from, to its handler in `service_layer/`, each in its own transaction.
That is what lets the registry keep up with notice-intake: one record at a time, each waiting
for its own offset commit, it opened about 115 work items a second while intake acknowledged
thousands (docs/BENCHMARKS.md, "Full flow"). It is safe because every handler that changes
something claims its event in the inbox first; a body that is not a CloudEvent fails the
batch's decoding, and the platform's record-by-record replay dead-letters that record alone.
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
from mynaflow.messaging.records import records_of
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
    subscriber = context.inbox_batch_subscriber(*(spec for spec, _ in INPUTS))

    async def on_registry_input(events: list[RawCloudEvent], message: KafkaMessage) -> None:
        for record, event in zip(records_of(message), events, strict=True):
            handler = handlers.get(record.topic)
            if handler is None:
                raise PoisonMessage("unexpected_topic", record.topic)
            await handler(event, deps)

    # Called, not used as a decorator: FastStream's decorator is untyped.
    subscriber(on_registry_input)
