"""Each service's AsyncAPI 3.0 document, through FastStream's built-in support.

FastStream describes what a broker's subscribers consume. The services emit through the
transactional outbox, not FastStream publishers, so the topics each one writes
(docs/architecture.md) are declared on a second broker that is never connected, as
documentation-only publishers of the CloudEvents envelope listing the types they carry, and the
two documents are merged. Every running service serves the result at `GET /asyncapi.json`;
`scripts/asyncapi.py` writes the same documents to docs/asyncapi/ and checks them in CI.
"""

from __future__ import annotations

from typing import Any, cast

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from mynaflow.contracts import deadlines, intake, notifier, registry
from mynaflow.contracts.dead_letter import DEAD_LETTER_REPLAYED_V1, message_dead_lettered_type
from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.contracts.topics import (
    DEADLINES_EVENTS,
    DEADLINES_REQUESTS,
    INTAKE_RECEIPTS,
    NOTIFIER_DELIVERIES,
    REGISTRY_EVENTS,
    TopicSpec,
    dead_letter_topic_for,
    topic_name,
)

ASYNCAPI_PATH = "/asyncapi.json"
# What each service writes (docs/architecture.md), with the event types each topic carries.
EMITS: dict[str, list[tuple[TopicSpec, tuple[str, ...]]]] = {
    "notice-intake": [
        (INTAKE_RECEIPTS, intake.EVENT_TYPES),
        (DEADLINES_REQUESTS, deadlines.REQUEST_TYPES),
    ],
    "card-registry": [
        (REGISTRY_EVENTS, registry.EVENT_TYPES),
        (DEADLINES_REQUESTS, deadlines.REQUEST_TYPES),
    ],
    "deadline-watcher": [(DEADLINES_EVENTS, deadlines.EVENT_TYPES)],
    "notifier": [(NOTIFIER_DELIVERIES, notifier.EVENT_TYPES)],
}
# The sections of an AsyncAPI 3.0 document that name channels, operations and their messages.
_MERGED_SECTIONS = ("channels", "operations")
_MERGED_COMPONENTS = ("messages", "schemas")


def _emitted(service: str) -> list[tuple[TopicSpec, tuple[str, ...]]]:
    dead_letter = dead_letter_topic_for(service)
    replayed = (message_dead_lettered_type(service), DEAD_LETTER_REPLAYED_V1)
    return [*EMITS.get(service, []), (dead_letter, replayed)]


def _emitted_broker(service: str, topic_prefix: str) -> KafkaBroker:
    # Never started: it only carries publisher declarations for the document.
    broker = KafkaBroker("documentation-only:9092")
    for spec, types in _emitted(service):
        broker.publisher(
            topic_name(spec, topic_prefix),
            title=f"{topic_name(spec, topic_prefix)}:Publish",
            description=f"CloudEvents (structured JSON), types: {', '.join(types)}. "
            f"{spec.description}. Written through the transactional outbox.",
            schema=RawCloudEvent,
        )
    return broker


def _specification(broker: KafkaBroker, service: str) -> dict[str, Any]:
    spec = AsyncAPI(
        broker,
        title=service,
        version="1",
        description=f"mynaflow {service}: what it consumes and emits (docs/events.md).",
        schema_version="3.0.0",
    )
    return cast(dict[str, Any], spec.to_specification().to_jsonable())


def _merge(consumed: dict[str, Any], emitted: dict[str, Any]) -> dict[str, Any]:
    merged = dict(consumed)
    for section in _MERGED_SECTIONS:
        merged[section] = {**consumed.get(section, {}), **emitted.get(section, {})}
    components = dict(consumed.get("components", {}))
    for part in _MERGED_COMPONENTS:
        components[part] = {
            **consumed.get("components", {}).get(part, {}),
            **emitted.get("components", {}).get(part, {}),
        }
    merged["components"] = components
    return merged


def asyncapi_document(broker: KafkaBroker, service: str, topic_prefix: str = "") -> dict[str, Any]:
    """The service's document: its broker's subscribers plus the topics it writes."""
    consumed = _records_not_batches(_specification(broker, service))
    emitted = _specification(_emitted_broker(service, topic_prefix), service)
    return _merge(consumed, emitted)


def _records_not_batches(document: dict[str, Any]) -> dict[str, Any]:
    """Describe each record of a batch subscriber, not the list its handler is given.

    FastStream gives a batch subscriber's message an array payload (the handler's
    `list[RawCloudEvent]`), but every Kafka record on the topic is one event: a producer
    reading the document must not send arrays. Each such array schema is replaced by its items.
    """
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    batches = {
        f"#/components/schemas/{name}": schema["items"]
        for name, schema in schemas.items()
        if name.endswith(":Message:Payload") and schema.get("type") == "array" and "items" in schema
    }
    if not batches:
        return document
    for ref in batches:
        del schemas[ref.rsplit("/", 1)[1]]
    for message in document.get("components", {}).get("messages", {}).values():
        payload = message.get("payload", {})
        if payload.get("$ref") in batches:
            message["payload"] = batches[payload["$ref"]]
    return document
