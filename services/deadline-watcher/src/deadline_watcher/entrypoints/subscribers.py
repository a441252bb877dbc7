"""The subscriber of `deadlines.requests`: adapts the batch and calls the handler."""

from __future__ import annotations

from typing import Any

from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.contracts.topics import DEADLINES_REQUESTS
from mynaflow.runtime.service import ServiceContext

from deadline_watcher.service_layer.deps import WatcherDeps
from deadline_watcher.service_layer.requests import handle_requests

# Requests per transaction: large enough for a backlog import, small enough to commit quickly.
REQUEST_BATCH = 500


def register_request_subscriber(context: ServiceContext[Any], deps: WatcherDeps) -> None:
    subscriber = context.subscriber(DEADLINES_REQUESTS, batch=True, max_records=REQUEST_BATCH)

    async def on_deadline_requests(events: list[RawCloudEvent]) -> None:
        await handle_requests(events, deps)

    # Called, not used as a decorator: FastStream's decorator is untyped.
    subscriber(on_deadline_requests)
