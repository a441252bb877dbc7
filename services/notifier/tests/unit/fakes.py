"""In-memory repositories and senders for handler unit tests on `FakeUnitOfWork`."""
# ruff: noqa: ARG002  (a fake keeps the protocol's signatures, not every argument)

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from notifier.domain.digest import TrackedDeadline
from notifier.domain.records import (
    OPEN_STATUSES,
    ApologyBatch,
    Delivery,
    HeldEvent,
    Message,
    Resident,
)
from notifier.domain.watcher_silence import HeartbeatState
from notifier.service_layer.ports import Outgoing, SendFailed


@dataclass
class FakeRepos:
    residents_by_id: dict[str, Resident] = field(default_factory=dict)
    queue_members: dict[str, list[str]] = field(default_factory=dict)
    assignees: dict[str, str] = field(default_factory=dict)
    messages: dict[UUID, Message] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    held: dict[str, HeldEvent] = field(default_factory=dict)
    dead_letters: list[tuple[str, str]] = field(default_factory=list)
    watch: HeartbeatState | None = None
    deadlines: dict[str, TrackedDeadline] = field(default_factory=dict)
    batches: dict[str, ApologyBatch] = field(default_factory=dict)

    async def upsert_resident(self, resident: Resident, at: datetime) -> None:
        self.residents_by_id[resident.resident_id] = resident

    async def mark_moved_out(
        self, resident_id: str, household_id: str, on: date, at: datetime
    ) -> None:
        known = self.residents_by_id.get(resident_id) or Resident(resident_id, household_id)
        self.residents_by_id[resident_id] = replace(known, moved_out_on=on)

    async def residents(self, resident_ids: Iterable[str]) -> dict[str, Resident]:
        return {r: self.residents_by_id[r] for r in resident_ids if r in self.residents_by_id}

    async def replace_members(self, queue: str, members: Sequence[str]) -> None:
        self.queue_members[queue] = list(members)

    async def members(self, queue: str) -> list[str] | None:
        known = self.queue_members.get(queue)
        return None if known is None else sorted(known)

    async def known_queues(self) -> list[str]:
        return sorted(
            set(self.queue_members) | {d.queue for d in self.deadlines.values() if d.queue}
        )

    async def set_assignee(self, work_item_id: str, queue: str, assignee: str) -> None:
        self.assignees[work_item_id] = assignee

    async def assignee_of(self, work_item_id: str) -> str | None:
        return self.assignees.get(work_item_id)

    async def insert_delivery(self, delivery: Delivery, at: datetime) -> bool:
        if delivery.idempotency_key in self.deliveries:
            return False
        self.deliveries[delivery.idempotency_key] = replace(delivery, created_at=at)
        return True

    async def delivery_exists(self, idempotency_key: str) -> bool:
        return idempotency_key in self.deliveries

    async def open_bucket(self, aggregation_key: str) -> Message | None:
        return next(
            (
                m
                for m in self.messages.values()
                if m.aggregation_key == aggregation_key and m.status in OPEN_STATUSES
            ),
            None,
        )

    async def save_message(self, message: Message) -> None:
        self.messages[message.message_id] = message

    async def claim_due_message(self, now: datetime) -> Message | None:
        due = [
            m for m in self.messages.values() if m.status in OPEN_STATUSES and m.send_after <= now
        ]
        return min(due, key=lambda m: m.send_after, default=None)

    async def next_due_at(self) -> datetime | None:
        pending = [m.send_after for m in self.messages.values() if m.status in OPEN_STATUSES]
        return min(pending, default=None)

    async def deliveries_of(self, message_id: UUID) -> list[Delivery]:
        return [d for d in self.deliveries.values() if d.message_id == message_id]

    async def set_delivery_status(
        self, delivery_ids: Sequence[UUID], status: str, attempts: int, at: datetime
    ) -> None:
        for key, delivery in list(self.deliveries.items()):
            if delivery.delivery_id in delivery_ids:
                self.deliveries[key] = replace(delivery, status=status, attempts=attempts)  # type: ignore[arg-type]

    async def query_deliveries(
        self, recipient_id: str | None, status: str | None, limit: int
    ) -> list[Delivery]:
        return [
            d
            for d in self.deliveries.values()
            if recipient_id in (None, d.recipient_id) and status in (None, d.status)
        ][:limit]

    async def hold(self, held: HeldEvent) -> None:
        self.held[held.event_id] = held

    async def claim_held(self, now: datetime) -> HeldEvent | None:
        due = [h for h in self.held.values() if h.retry_at <= now]
        return min(due, key=lambda h: h.retry_at, default=None)

    async def release_held(self, event_id: str) -> None:
        self.held.pop(event_id, None)

    async def next_held_at(self) -> datetime | None:
        return min((h.retry_at for h in self.held.values()), default=None)

    async def dead_letter_held(self, held: HeldEvent, reason: str, error: str) -> None:
        self.dead_letters.append((held.event_id, reason))

    async def heartbeat(self) -> HeartbeatState | None:
        return self.watch

    async def save_heartbeat(self, state: HeartbeatState) -> None:
        self.watch = state

    async def track_deadline(
        self, deadline: TrackedDeadline, policy: str, subject: Mapping[str, Any], at: datetime
    ) -> None:
        before = self.deadlines.get(deadline.key)
        breached = deadline.breached or (before is not None and before.breached)
        self.deadlines[deadline.key] = replace(deadline, breached=breached)

    async def close_deadline(self, key: str, at: datetime) -> None:
        self.deadlines.pop(key, None)

    async def open_deadlines(self) -> list[TrackedDeadline]:
        return sorted(self.deadlines.values(), key=lambda d: d.due_at)

    async def batch(self, batch_id: str) -> ApologyBatch | None:
        return self.batches.get(batch_id)

    async def save_batch(self, batch: ApologyBatch) -> None:
        self.batches[batch.batch_id] = batch

    async def batch_open_letters(self, batch_id: str) -> int:
        return sum(
            1
            for m in self.messages.values()
            if m.batch_id == batch_id and m.status in OPEN_STATUSES
        )


@dataclass
class RecordingSender:
    """Records what it was asked to send; fails the first `fail_first` sends."""

    fail_first: int = 0
    sent: list[Outgoing] = field(default_factory=list)
    calls: int = 0

    async def send(self, outgoing: Outgoing) -> str | None:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise SendFailed("webhook_http_503")
        self.sent.append(outgoing)
        return None
