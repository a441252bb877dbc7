"""The subscriber of `deadlines.requests`: parses each CloudEvent into its contract model and
hands the batch to the handler.

A request that can never be applied (unknown type, schema failure, unknown policy) raises
`PoisonMessage` here, before any transaction: the platform replays the batch one record at a
time and dead-letters only that record.

The key of either request is `RedactedText`: validating the request has already replaced any
individual number in it (redaction is deterministic, so a clear still finds its deadline).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic
from mynaflow.contracts.deadlines import (
    CLEAR_DEADLINE_V1,
    SCHEDULE_DEADLINE_V1,
    ClearDeadline,
    ScheduleDeadline,
)
from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.contracts.topics import DEADLINES_REQUESTS
from mynaflow.messaging.errors import PoisonMessage
from mynaflow.runtime.definition import ServiceContext

from deadline_watcher.domain.policies import Policy
from deadline_watcher.service_layer.deps import WatcherDeps
from deadline_watcher.service_layer.requests import Incoming, handle_requests

# Requests per transaction: large enough for a backlog import, small enough to commit quickly.
REQUEST_BATCH = 500


def parse_request(event: RawCloudEvent, policies: Mapping[str, Policy]) -> Incoming:
    """The typed request of `event`; `PoisonMessage` when it can never be applied."""
    try:
        if event.type == SCHEDULE_DEADLINE_V1:
            schedule_request = ScheduleDeadline.model_validate(event.data)
            if schedule_request.policy not in policies:
                known = ", ".join(sorted(policies))
                raise PoisonMessage(
                    "unknown_policy",
                    f"policy {schedule_request.policy!r} is not configured (known: {known})",
                )
            return Incoming(event.id, schedule_request, event.time)
        if event.type == CLEAR_DEADLINE_V1:
            clear_request = ClearDeadline.model_validate(event.data)
            return Incoming(event.id, clear_request, event.time)
    except pydantic.ValidationError as error:
        raise PoisonMessage("schema_invalid", f"{event.type}: {error}") from error
    raise PoisonMessage("unknown_event_type", f"{event.type!r} is not a deadline request")


def register_request_subscriber(
    context: ServiceContext[Any], deps: WatcherDeps, consumers: int = 1
) -> None:
    """`consumers` consumers of `deadlines.requests` in this process, in the service's group.

    Each handles its batches one at a time, so one process with one consumer leaves its core
    idle while a batch's transaction runs; a second overlaps them. Safe as replicas are: a key
    is one partition, so one consumer, and batches lock their rows in key order.
    """
    for _ in range(consumers):
        _subscribe_requests(context, deps)


def _subscribe_requests(context: ServiceContext[Any], deps: WatcherDeps) -> None:
    # The offsets are committed while the next batch is fetched: a request read again is found
    # in the inbox (claim_many) and skipped, so waiting for the commit only delayed each batch.
    subscriber = context.subscriber(
        DEADLINES_REQUESTS, batch=True, max_records=REQUEST_BATCH, background_commit=True
    )

    async def on_deadline_requests(events: list[RawCloudEvent]) -> None:
        await handle_requests([parse_request(event, deps.policies) for event in events], deps)

    # Called, not used as a decorator: FastStream's decorator is untyped.
    subscriber(on_deadline_requests)
