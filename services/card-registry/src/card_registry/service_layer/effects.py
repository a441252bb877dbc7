"""What one unit of work decides to emit, flushed together just before it commits.

Handlers collect registry events, deadline requests and history lines here while they decide;
`flush` hands them to the unit of work (outbox) and the history table in one go. A command's
rules run on a `child()` that is merged only when the command is accepted, so a rejected command
leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mynaflow.contracts.deadlines import ClearDeadline, ScheduleDeadline
from mynaflow.contracts.envelope import CloudEvent
from mynaflow.storage.unit_of_work import UnitOfWork

from card_registry.domain.deadline_requests import request_event
from card_registry.service_layer.deps import RegistryDeps
from card_registry.service_layer.history import history_of_event
from card_registry.service_layer.ports import HistoryEntry, RegistryRepos


@dataclass
class Effects:
    now: datetime
    events: list[CloudEvent[Any]] = field(default_factory=list)
    requests: list[ScheduleDeadline | ClearDeadline] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)

    def emit(self, event: CloudEvent[Any]) -> None:
        self.events.append(event)

    def request(self, *requests: ScheduleDeadline | ClearDeadline) -> None:
        self.requests.extend(requests)

    def record(self, entry: HistoryEntry) -> None:
        self.history.append(entry)

    def child(self) -> Effects:
        return Effects(self.now)

    def merge(self, other: Effects) -> None:
        self.events.extend(other.events)
        self.requests.extend(other.requests)
        self.history.extend(other.history)

    async def flush(self, uow: UnitOfWork[RegistryRepos], deps: RegistryDeps) -> None:
        """Registry events and deadline requests to the outbox; every event into the history."""
        for event in self.events:
            uow.emit(deps.events_topic, event.subject, event)
        for request in self.requests:
            uow.emit(deps.requests_topic, request.key, request_event(request, self.now))
        entries = [*self.history]
        for event in self.events:
            entries.extend(history_of_event(event, self.now))
        if entries:
            await uow.repos.history.add(entries)
