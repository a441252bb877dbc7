#!/usr/bin/env python3
"""Generate each service's AsyncAPI 3.0 document into docs/asyncapi/, or check it is current.

Usage: uv run python scripts/asyncapi.py [--check]

Each service is built by its own composition root (`<pkg>.app.definition().build(context)`) on
a broker that never connects, exactly as `run_service` builds it, and FastStream's built-in
AsyncAPI support (`faststream.specification.AsyncAPI`) describes what its subscribers consume.
The services emit through the transactional outbox, not FastStream publishers, so the channels
each one writes (docs/architecture.md) are declared here as documentation-only publishers of the
CloudEvents envelope, with the event types they carry from the contracts.

`--check` exits 1, naming the files, when a committed document differs from what the code
generates now (`.ci/run` runs it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
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
)
from mynaflow.messaging.broker import make_broker
from mynaflow.messaging.dead_letter import DeadLetterSink
from mynaflow.runtime.definition import ServiceContext, ServiceDefinition
from mynaflow.runtime.http import ServiceHttpApp
from mynaflow.runtime.metrics import ServiceMetrics

OUT = Path(__file__).resolve().parent.parent / "docs" / "asyncapi"
PACKAGES = {
    "notice-intake": "notice_intake",
    "card-registry": "card_registry",
    "deadline-watcher": "deadline_watcher",
    "notifier": "notifier",
}
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
# Never connected: the document describes, it does not talk to anything.
OFFLINE = {
    "database_url": "postgresql://doc@127.0.0.1:1/doc",
    "kafka_bootstrap_servers": "x:1",
    "topic_prefix": "",  # the documented names, whatever this shell exports
}


def offline_context(definition: ServiceDefinition[Any]) -> ServiceContext[Any]:
    settings = definition.settings_class(**OFFLINE)
    broker = make_broker(settings, service=definition.name)
    return ServiceContext(
        name=definition.name,
        schema=definition.schema,
        settings=settings,
        pool=cast(Any, None),  # build() only keeps references; nothing here is called
        producer=cast(Any, None),
        broker=broker,
        metrics=ServiceMetrics(f"{definition.name}_asyncapi"),
        dead_letter=DeadLetterSink(cast(Any, None), service=definition.name, topic_prefix=""),
        http=ServiceHttpApp(readiness_checks={}),
    )


def declare_emitted(broker: KafkaBroker, service: str) -> None:
    dead_letter = dead_letter_topic_for(service)
    emitted = [
        *EMITS[service],
        (dead_letter, (message_dead_lettered_type(service), DEAD_LETTER_REPLAYED_V1)),
    ]
    for spec, types in emitted:
        broker.publisher(
            spec.name,
            title=f"{spec.name}:Publish",
            description=f"CloudEvents (structured JSON), types: {', '.join(types)}. "
            f"{spec.description}. Written through the transactional outbox.",
            schema=RawCloudEvent,
        )


def document(service: str) -> dict[str, Any]:
    app = importlib.import_module(f"{PACKAGES[service]}.app")
    definition: ServiceDefinition[Any] = app.definition()
    context = offline_context(definition)
    definition.build(context)
    declare_emitted(context.broker, service)
    spec = AsyncAPI(
        context.broker,
        title=service,
        version="1",
        description=f"mynaflow {service}: what it consumes and emits (docs/events.md).",
        schema_version="3.0.0",
    )
    return cast(dict[str, Any], spec.to_specification().to_jsonable())


def rendered(service: str) -> str:
    return json.dumps(document(service), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a file is stale")
    args = parser.parse_args()
    stale = []
    OUT.mkdir(parents=True, exist_ok=True)
    for service in PACKAGES:
        path = OUT / f"{service}.json"
        text = rendered(service)
        current = path.read_text("utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"stale AsyncAPI documents: {', '.join(stale)}; run scripts/asyncapi.py")
        return 1
    print("AsyncAPI documents " + ("are current" if args.check else f"written: {stale or 'none'}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
