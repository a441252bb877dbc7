#!/usr/bin/env python3
"""Generate each service's AsyncAPI 3.0 document into docs/asyncapi/, or check it is current.

Usage: uv run python scripts/asyncapi.py [--check]

Each service is built by its own composition root (`<pkg>.app.definition().build(context)`) on
a broker that never connects, exactly as `run_service` builds it, and described by
`mynaflow.runtime.asyncapi` (FastStream's built-in AsyncAPI support, plus the topics the
service writes through its outbox): the same document a running service serves at
`GET /asyncapi.json`.

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

from mynaflow.messaging.broker import make_broker
from mynaflow.messaging.dead_letter import DeadLetterSink
from mynaflow.runtime.asyncapi import asyncapi_document
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


def document(service: str) -> dict[str, Any]:
    app = importlib.import_module(f"{PACKAGES[service]}.app")
    definition: ServiceDefinition[Any] = app.definition()
    context = offline_context(definition)
    definition.build(context)
    return asyncapi_document(context.broker, service)


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
