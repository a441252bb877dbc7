"""Pure builders of the events the notifier emits on `notifier.deliveries`.

Only ids travel: a resident is named by id, never by name, address, email or phone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mynaflow.contracts.envelope import CloudEvent
from mynaflow.contracts.notifier import (
    APOLOGY_BATCH_COMPLETED_V1,
    APOLOGY_BATCH_DRAFTED_V1,
    APOLOGY_BATCH_REFUSED_V1,
    APOLOGY_BATCH_RELEASED_V1,
    DELIVERY_FAILED_V1,
    DELIVERY_LOGGED_V1,
    ApologyBatchCompleted,
    ApologyBatchDrafted,
    ApologyBatchRefused,
    ApologyBatchReleased,
    DeliveryFailed,
    DeliveryLogged,
    DeliveryStatus,
    RefusalReason,
    notifier_event,
)

from notifier.domain.records import ApologyBatch, Delivery


def _about(delivery: Delivery) -> dict[str, Any]:
    """The fields of `DeliveryRef`: which delivery an event is about (ids only)."""
    return {
        "delivery_id": delivery.delivery_id,
        "idempotency_key": delivery.idempotency_key,
        "source_event_id": delivery.source_event_id,
        "recipient_id": delivery.recipient_id,
        "recipient_kind": delivery.recipient_kind,
        "channel": delivery.channel,
        "template": delivery.template,
    }


def delivery_logged(
    delivery: Delivery,
    status: DeliveryStatus,
    *,
    at: datetime,
    attempt: int = 0,
    events: int = 1,
    next_attempt_at: datetime | None = None,
    error: str | None = None,
) -> CloudEvent[Any]:
    data = DeliveryLogged(
        **_about(delivery),
        status=status,
        attempt=attempt,
        events=events,
        next_attempt_at=next_attempt_at,
        error=error,
        batch_id=delivery.batch_id,
        logged_at=at,
    )
    return notifier_event(DELIVERY_LOGGED_V1, data, subject=delivery.recipient_id)


def delivery_failed(
    delivery: Delivery, *, attempts: int, error: str, at: datetime
) -> CloudEvent[Any]:
    data = DeliveryFailed(
        **_about(delivery),
        attempts=attempts,
        error=error,
        failed_at=at,
    )
    return notifier_event(DELIVERY_FAILED_V1, data, subject=delivery.recipient_id)


def batch_drafted(batch: ApologyBatch) -> CloudEvent[Any]:
    data = ApologyBatchDrafted(
        batch_id=batch.batch_id,
        requested_by=batch.requested_by,
        cases=len(batch.cases),
        households=batch.households,
        drafted_at=batch.drafted_at,
    )
    return notifier_event(APOLOGY_BATCH_DRAFTED_V1, data, subject=batch.batch_id)


def batch_refused(
    batch_id: str, staff_id: str, reason: RefusalReason, message: str, at: datetime
) -> CloudEvent[Any]:
    data = ApologyBatchRefused(
        batch_id=batch_id, staff_id=staff_id, reason=reason, message=message, refused_at=at
    )
    return notifier_event(APOLOGY_BATCH_REFUSED_V1, data, subject=batch_id)


def batch_released(batch: ApologyBatch) -> CloudEvent[Any]:
    if batch.released_by is None or batch.released_at is None:
        raise ValueError(f"batch {batch.batch_id} is not released")
    data = ApologyBatchReleased(
        batch_id=batch.batch_id,
        requested_by=batch.requested_by,
        released_by=batch.released_by,
        letters=batch.households,
        released_at=batch.released_at,
    )
    return notifier_event(APOLOGY_BATCH_RELEASED_V1, data, subject=batch.batch_id)


def batch_completed(
    batch: ApologyBatch, *, letters: int, manual: int, manifest: str, at: datetime
) -> CloudEvent[Any]:
    data = ApologyBatchCompleted(
        batch_id=batch.batch_id, letters=letters, manual=manual, manifest=manifest, completed_at=at
    )
    return notifier_event(APOLOGY_BATCH_COMPLETED_V1, data, subject=batch.batch_id)
