"""What the handlers need from storage: the repositories of one unit of work.

`adapters/repository.py` implements them on PostgreSQL; the unit tests on dictionaries. Every
method runs inside the unit of work's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from card_registry.domain.lifecycle import Card
from card_registry.domain.queues import Queue
from card_registry.domain.residents import Resident
from card_registry.domain.work_items import WorkItem


@dataclass(frozen=True)
class PendingCommand:
    """A command naming something not seen yet, parked durably (never an in-memory timer).

    `waiting_for` is the reference it needs (`card:C-1`, `resident:R-1`, `notice:N-1`,
    `staff:S-1`); it is judged again when that arrives, and rejected once `expires_at` passes.
    """

    command_id: str
    command_type: str
    payload: dict[str, Any]
    waiting_for: str
    first_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the audit history: who did what to which entity, when, and how it ended."""

    entity_type: str
    entity_id: str
    action: str
    outcome: str
    event_id: str
    recorded_at: datetime
    staff_id: str | None = None
    performed_at: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class ResidentRepository(Protocol):
    async def get(self, resident_id: str) -> Resident | None: ...
    async def put(self, resident: Resident) -> None: ...


class CardRepository(Protocol):
    async def get(self, card_id: str) -> Card | None: ...
    async def put(self, card: Card) -> None: ...
    async def of_resident(self, resident_id: str) -> list[Card]: ...


class WorkItemRepository(Protocol):
    async def get(self, key: str) -> WorkItem | None: ...
    async def add(self, item: WorkItem) -> bool:
        """Insert unless the key exists; False when it did (a duplicate adds nothing)."""
        ...

    async def put(self, item: WorkItem) -> None: ...
    async def count_open(self, queue: str) -> int: ...


class QueueRepository(Protocol):
    async def get(self, name: str) -> Queue:
        """The queue, or an empty one never seen before."""
        ...

    async def put(self, queue: Queue) -> None: ...


class StaffRepository(Protocol):
    async def is_known(self, staff_id: str) -> bool: ...
    async def record_join(self, staff_id: str, at: datetime) -> None: ...


class PendingCommandRepository(Protocol):
    async def add(self, command: PendingCommand) -> None: ...
    async def waiting_for(self, reference: str) -> list[PendingCommand]: ...
    async def take_batch(self, limit: int) -> list[PendingCommand]:
        """Up to `limit` parked commands, locked for this unit (others skip them)."""
        ...

    async def remove(self, command_id: str) -> bool:
        """Delete it; False when it was gone already (settled by another unit)."""
        ...


class HistoryRepository(Protocol):
    async def add(self, entries: Sequence[HistoryEntry]) -> None: ...


@dataclass(frozen=True)
class RegistryRepos:
    residents: ResidentRepository
    cards: CardRepository
    work_items: WorkItemRepository
    queues: QueueRepository
    staff: StaffRepository
    pending: PendingCommandRepository
    history: HistoryRepository
