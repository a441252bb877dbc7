"""Read endpoints: `GET /deliveries` (the delivery log; ids only, never personal data)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mynaflow.contracts.notifier import DELIVERY_STATUSES
from mynaflow.runtime.http import HttpError

from notifier.service_layer.deps import NotifierDeps

DELIVERIES_PATH = "/deliveries"
MAX_LIMIT = 10_000


def deliveries_route(
    deps: NotifierDeps,
) -> Callable[[Mapping[str, str]], Awaitable[dict[str, Any]]]:
    async def deliveries(query: Mapping[str, str]) -> dict[str, Any]:
        status = query.get("status") or None
        if status is not None and status not in DELIVERY_STATUSES:
            raise HttpError(400, f"status must be one of {', '.join(DELIVERY_STATUSES)}")
        try:
            limit = min(int(query.get("limit", "1000")), MAX_LIMIT)
        except ValueError as error:
            raise HttpError(400, "limit must be an integer") from error
        async with deps.uow() as uow:
            rows = await uow.repos.query_deliveries(query.get("recipient") or None, status, limit)
        return {
            "count": len(rows),
            "deliveries": [
                {
                    "delivery_id": str(d.delivery_id),
                    "source_event_id": d.source_event_id,
                    "source_type": d.source_type,
                    "recipient_kind": d.recipient_kind,
                    "recipient_id": d.recipient_id,
                    "channel": d.channel,
                    "template": d.template,
                    "status": d.status,
                    "attempts": d.attempts,
                    "batch_id": d.batch_id,
                    "created_at": d.created_at.isoformat() if d.created_at else None,
                }
                for d in rows
            ],
        }

    return deliveries
