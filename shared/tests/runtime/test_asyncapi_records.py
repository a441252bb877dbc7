"""A batch subscriber's AsyncAPI message is one record (one CloudEvent), not the handler's list."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.runtime.asyncapi import asyncapi_document


def test_a_batch_subscriber_is_documented_by_the_event_each_record_carries() -> None:
    broker = KafkaBroker("documentation-only:9092")

    @broker.subscriber("somewhere.events", batch=True)
    async def on_events(events: list[RawCloudEvent]) -> None:  # noqa: ARG001
        return None

    document = asyncapi_document(broker, "notifier")

    messages = document["components"]["messages"]
    (consumed,) = [m for name, m in messages.items() if name.startswith("somewhere.events:")]
    assert consumed["payload"] == {"$ref": "#/components/schemas/RawCloudEvent"}
    schemas = document["components"]["schemas"]
    assert not any(schema.get("type") == "array" for schema in schemas.values())
