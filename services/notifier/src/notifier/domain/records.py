"""The notifier's records, as plain values: what the repositories store and return."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from mynaflow.contracts.notifier import Channel, DeliveryStatus, RecipientKind

MessageStatus = Literal["pending", "retrying", "sent", "dead", "undeliverable_moved"]
OPEN_STATUSES: frozenset[str] = frozenset({"pending", "retrying"})


@dataclass(frozen=True)
class Resident:
    resident_id: str
    household_id: str
    name: str | None = None
    name_kana: str | None = None
    postal_code: str | None = None
    address: str | None = None
    email: str | None = None
    phone: str | None = None
    moved_out_on: date | None = None

    @property
    def moved_out(self) -> bool:
        return self.moved_out_on is not None


@dataclass(frozen=True)
class Message:
    """What is sent once: one delivery, or a bucket aggregating several."""

    message_id: UUID
    aggregation_key: str | None
    recipient_kind: RecipientKind
    recipient_id: str
    household_id: str | None
    channel: Channel
    template: str
    status: MessageStatus
    send_after: datetime
    message_key: str
    created_at: datetime
    attempts: int = 0
    last_error: str | None = None
    batch_id: str | None = None
    sent_at: datetime | None = None

    def with_status(self, status: MessageStatus, **changes: Any) -> Message:
        return replace(self, status=status, **changes)


@dataclass(frozen=True)
class Delivery:
    """One (source event, recipient, channel), sent at most once (its idempotency key)."""

    delivery_id: UUID
    idempotency_key: str
    source_event_id: str
    source_type: str
    recipient_kind: RecipientKind
    recipient_id: str
    channel: Channel
    template: str
    message_id: UUID
    status: DeliveryStatus
    item: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    batch_id: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class HeldEvent:
    """An event waiting for its recipient to appear in the directory (bounded in time)."""

    event_id: str
    source_topic: str
    source_partition: int
    source_offset: int
    kafka_key: bytes | None
    payload: bytes
    missing: str
    first_received_at: datetime
    give_up_at: datetime
    retry_at: datetime
    attempts: int = 0


@dataclass(frozen=True)
class ApologyBatch:
    batch_id: str
    requested_by: str
    status: Literal["draft", "released", "completed"]
    cases: list[dict[str, Any]]
    households: int
    drafted_at: datetime
    released_by: str | None = None
    released_at: datetime | None = None
    completed_at: datetime | None = None
