"""The one subscriber of card-registry: four input topics, one consumer, thin dispatch.

Records are read in batches and handled in the order they came, each in its own transaction by
its topic's handler in `service_layer/`; the offsets are committed once per batch, while the
next batch is fetched. That is what lets the registry keep up with notice-intake: one record at
a time, each waiting for its own offset commit's round trip (~6 ms), the registry opened about
115 work items a second while intake acknowledged thousands (docs/BENCHMARKS.md, full flow).

Why the guarantees hold as before:
- every handler that changes something claims its event id in the inbox in the same
  transaction, so a record read again (a batch retried after a transient fault, a commit
  lost in a crash) is recognised and changes nothing twice;
- a record that cannot be handled makes the platform replay its batch record by record
  (mynaflow.messaging.reliable_consume), where the records already applied are skipped by
  their claims and only the bad one is dead-lettered;
- a body that is not a CloudEvent fails the batch's decoding, and the same replay
  dead-letters that one record alone.
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
# Records per batch at most: large enough that the commit's round trip is shared by many,
# small enough that a batch replayed after a fault is over quickly.
INPUT_BATCH = 200


def register_subscribers(context: ServiceContext[Any], deps: RegistryDeps) -> None:
    handlers: dict[str, Handler] = {context.topic(spec): handler for spec, handler in INPUTS}
    subscriber = context.subscriber(
        *(spec for spec, _ in INPUTS),
        batch=True,
        max_records=INPUT_BATCH,
        background_commit=True,
    )

    async def on_registry_inputs(events: list[RawCloudEvent], message: KafkaMessage) -> None:
        for record, event in zip(records_of(message), events, strict=True):
            handler = handlers.get(record.topic)
            if handler is None:
                raise PoisonMessage("unexpected_topic", record.topic)
            await handler(event, deps)

    # Called, not used as a decorator: FastStream's decorator is untyped.
    subscriber(on_registry_inputs)
