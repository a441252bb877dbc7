"""card-registry's repositories in memory (see `card_registry.adapters.repository`), and a
driver that feeds its handlers on `FakeUnitOfWork` and reads back what they emitted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from card_registry.domain.lifecycle import Card
from card_registry.domain.queues import Queue
from card_registry.domain.residents import Resident
from card_registry.domain.work_items import WorkItem
from card_registry.service_layer.commands import handle_command, sweep_pending
from card_registry.service_layer.deadline_events import handle_deadline_event
from card_registry.service_layer.deps import RegistryDeps
from card_registry.service_layer.moves import handle_move
from card_registry.service_layer.ports import HistoryEntry, PendingCommand, RegistryRepos
from card_registry.service_layer.receipts import handle_receipt
from mynaflow.contracts import registry, resident
from mynaflow.contracts.deadlines import DEADLINE_BREACHED_V1, DeadlineEvent
from mynaflow.contracts.envelope import CloudEvent, RawCloudEvent, encode_event, make_event
from mynaflow.contracts.intake import NOTICE_ACKNOWLEDGED_V1, NoticeAcknowledged
from mynaflow.domain.clock import FakeClock

from mynaflow_testing.uow import FakeUnitOfWork


class Residents:
    def __init__(self) -> None:
        self.rows: dict[str, Resident] = {}

    async def get(self, resident_id: str) -> Resident | None:
        return self.rows.get(resident_id)

    async def put(self, resident: Resident) -> None:
        self.rows[resident.resident_id] = resident


class Cards:
    def __init__(self) -> None:
        self.rows: dict[str, Card] = {}

    async def get(self, card_id: str) -> Card | None:
        return self.rows.get(card_id)

    async def put(self, card: Card) -> None:
        self.rows[card.card_id] = card

    async def of_resident(self, resident_id: str) -> list[Card]:
        return [card for card in self.rows.values() if card.resident_id == resident_id]


class WorkItems:
    def __init__(self) -> None:
        self.rows: dict[str, WorkItem] = {}

    async def get(self, key: str) -> WorkItem | None:
        return self.rows.get(key)

    async def add(self, item: WorkItem) -> bool:
        if item.key in self.rows:
            return False
        self.rows[item.key] = item
        return True

    async def put(self, item: WorkItem) -> None:
        self.rows[item.key] = item

    async def count_open(self, queue: str) -> int:
        return sum(1 for item in self.rows.values() if item.queue == queue and item.is_open)


class Queues:
    def __init__(self) -> None:
        self.rows: dict[str, Queue] = {}

    async def get(self, name: str) -> Queue:
        return self.rows.get(name, Queue(name))

    async def put(self, queue: Queue) -> None:
        self.rows[queue.name] = queue


class Staff:
    def __init__(self) -> None:
        self.rows: dict[str, datetime] = {}

    async def is_known(self, staff_id: str) -> bool:
        return staff_id in self.rows

    async def record_join(self, staff_id: str, at: datetime) -> None:
        self.rows.setdefault(staff_id, at)


class Pending:
    def __init__(self) -> None:
        self.rows: dict[str, PendingCommand] = {}

    async def add(self, command: PendingCommand) -> None:
        self.rows[command.command_id] = command

    async def waiting_for(self, reference: str) -> list[PendingCommand]:
        return [row for row in self.rows.values() if row.waiting_for == reference]

    async def take_batch(self, limit: int) -> list[PendingCommand]:
        return sorted(self.rows.values(), key=lambda row: row.expires_at)[:limit]

    async def remove(self, command_id: str) -> bool:
        return self.rows.pop(command_id, None) is not None


class History:
    def __init__(self) -> None:
        self.rows: list[HistoryEntry] = []

    async def add(self, entries: Sequence[HistoryEntry]) -> None:
        self.rows.extend(entries)


def as_received(event: CloudEvent[Any]) -> RawCloudEvent:
    """The event as a consumer reads it: encoded, then decoded."""
    return RawCloudEvent.model_validate(json.loads(encode_event(event)))


@dataclass
class Registry:
    """card-registry's handlers on fakes, with helpers to feed them and read what they emit."""

    clock: FakeClock
    repos: RegistryRepos = field(
        default_factory=lambda: RegistryRepos(
            Residents(), Cards(), WorkItems(), Queues(), Staff(), Pending(), History()
        )
    )

    def __post_init__(self) -> None:
        self.uow = FakeUnitOfWork(self.repos)
        self.deps = RegistryDeps(
            uow=self.uow,
            events_topic="registry.events",
            requests_topic="deadlines.requests",
            clock=self.clock,
        )

    async def command(self, command: registry.RegistryCommand) -> RawCloudEvent:
        event = as_received(registry.command_event(command, time=self.clock.now()))
        await handle_command(event, self.deps)
        return event

    async def join(self, *staff: str, queue: str = "card-counter") -> None:
        for staff_id in staff:
            await self.command(registry.StaffJoinedQueue(staff_id=staff_id, queue=queue))

    async def move_in(self, card_id: str | None = "C-1", **fields: Any) -> None:
        data = resident.ResidentMovedIn(
            **{
                "resident_id": "R-1",
                "household_id": "H-1",
                "notified_on": date(2022, 3, 15),
                "moved_in_on": date(2022, 3, 12),
                "name": "中区 花子",
                "address": "横浜市中区日本大通35",
                "birth_date": date(1985, 7, 1),
                "card_id": card_id,
                "card_presented": True,
                **fields,
            }
        )
        event = resident.resident_event(data, event_type=resident.MOVED_IN_V1)
        await handle_move(as_received(event), self.deps)

    async def move(self, data: resident.ResidentEvent, event_type: str) -> None:
        await handle_move(
            as_received(resident.resident_event(data, event_type=event_type)), self.deps
        )

    async def receipt(self, receipt: NoticeAcknowledged) -> None:
        event = make_event(source="notice-intake", event_type=NOTICE_ACKNOWLEDGED_V1, data=receipt)
        await handle_receipt(as_received(event), self.deps)

    async def breach(self, key: str, due_at: datetime, queue: str = "card-counter") -> None:
        """The watcher's breach of `key`, echoing the audience the registry requested."""
        data = DeadlineEvent(
            key=key,
            policy="p",
            stage="breach",
            role="desk_manager",
            due_at=due_at,
            at=due_at,
            fired_at=self.clock.now(),
            subject={"type": "resident_card", "ids": {}},
            audience={"queue": queue},
        )
        event = make_event(source="deadline-watcher", event_type=DEADLINE_BREACHED_V1, data=data)
        await handle_deadline_event(as_received(event), self.deps)

    @property
    def cards(self) -> dict[str, Card]:
        """The cards as stored now, by id."""
        assert isinstance(self.repos.cards, Cards)
        return self.repos.cards.rows

    @property
    def history(self) -> list[HistoryEntry]:
        """Every history line written, in order."""
        assert isinstance(self.repos.history, History)
        return self.repos.history.rows

    async def sweep(self) -> int:
        return await sweep_pending(self.deps)

    def emitted(self, event_type: str) -> list[Any]:
        """The data of every published event of one type, in order."""
        return [event.data for event in self.uow.events_of_type(event_type)]

    def outcomes(self) -> list[tuple[str, str, str | None]]:
        """(action, accepted|rejected, reason) of every command answered, in order."""
        answers = self.uow.events_of_type(registry.COMMAND_ACCEPTED_V1) + self.uow.events_of_type(
            registry.COMMAND_REJECTED_V1
        )
        order = {id(item.event): n for n, item in enumerate(self.uow.published)}
        answers.sort(key=lambda event: order[id(event)])
        return [
            (
                registry.action_of(event.data.command_type),
                "accepted" if event.type == registry.COMMAND_ACCEPTED_V1 else "rejected",
                event.data.reason,
            )
            for event in answers
        ]

    def requests(self) -> list[Any]:
        """Deadline requests sent, as (type suffix, data)."""
        return [
            (item.event.type.split(".")[-2], item.event.data)
            for item in self.uow.published
            if item.topic == "deadlines.requests"
        ]
