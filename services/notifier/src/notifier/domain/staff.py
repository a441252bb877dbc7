"""Staff addresses and each queue's desk manager and section chief, from a configuration file.

The service starts with shipped defaults (`staff_defaults.json`) and no file; a ward's file
replaces staff by id and queues by name. Queue *members* are not configured here: they come
from the registry's `queue-membership-changed` events, so someone who has left is never
reminded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class StaffConfigError(ValueError):
    """The staff configuration cannot be used; the service refuses to start."""


class StaffMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    email: str | None = None
    webhook: str | None = None


class QueueManagers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    desk_manager: str | None = None
    section_chief: str | None = None


class StaffConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    staff: dict[str, StaffMember] = Field(default_factory=dict)
    queues: dict[str, QueueManagers] = Field(default_factory=dict)
    # Managers for a queue not listed above (a new queue must never go unwatched).
    default_queue: QueueManagers = Field(default_factory=QueueManagers)


@dataclass(frozen=True)
class StaffDirectory:
    config: StaffConfig

    def member(self, staff_id: str) -> StaffMember | None:
        return self.config.staff.get(staff_id)

    def managers_of(self, queue: str | None) -> QueueManagers:
        if queue is not None and queue in self.config.queues:
            return self.config.queues[queue]
        return self.config.default_queue

    def desk_manager(self, queue: str | None) -> str | None:
        return self.managers_of(queue).desk_manager

    def section_chief(self, queue: str | None) -> str | None:
        return self.managers_of(queue).section_chief

    def all_desk_managers(self) -> list[str]:
        every = [m.desk_manager for m in self.config.queues.values()]
        every.append(self.config.default_queue.desk_manager)
        return sorted({m for m in every if m})

    def queues_managed_by(self, staff_id: str, known_queues: Iterable[str]) -> list[str]:
        """Queues whose desk manager or section chief is `staff_id` (default for unlisted)."""
        return sorted(
            q
            for q in set(known_queues) | set(self.config.queues)
            if staff_id in (self.desk_manager(q), self.section_chief(q))
        )

    def missing_addresses(self) -> list[str]:
        """Managers named for a queue but absent from `staff`: a configuration error."""
        named = {
            m
            for q in (*self.config.queues.values(), self.config.default_queue)
            for m in (q.desk_manager, q.section_chief)
            if m
        }
        return sorted(named - set(self.config.staff))


def _merge(base: StaffConfig, override: StaffConfig) -> StaffConfig:
    return StaffConfig(
        staff={**base.staff, **override.staff},
        queues={**base.queues, **override.queues},
        default_queue=override.default_queue
        if override.default_queue != QueueManagers()
        else base.default_queue,
    )


def parse_staff(raw: Any, *, origin: str) -> StaffConfig:
    try:
        return StaffConfig.model_validate(raw)
    except ValidationError as error:
        raise StaffConfigError(f"{origin}: {error}") from error


def staff_directory(configs: Iterable[tuple[str, Any]]) -> StaffDirectory:
    """The directory of each (origin, raw configuration) in order, later ones replacing staff by
    id and queues by name. A manager with no `staff` entry is refused."""
    config = StaffConfig()
    for origin, raw in configs:
        config = _merge(config, parse_staff(raw, origin=origin))
    directory = StaffDirectory(config)
    if missing := directory.missing_addresses():
        raise StaffConfigError(f"managers with no entry in `staff`: {missing}")
    return directory
