"""What card-registry's handlers need, wired once by `app.bootstrap`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from mynaflow.domain.clock import Clock, SystemClock
from mynaflow.storage.unit_of_work import UnitOfWorkFactory

from card_registry.domain.pickup import PickupPeriods
from card_registry.service_layer.ports import RegistryRepos

# Inbox consumer names: one per input topic, so ids of different topics never collide.
COMMANDS_CONSUMER = "registry-commands"
MOVES_CONSUMER = "resident-moves"
RECEIPTS_CONSUMER = "intake-receipts"
DEADLINES_CONSUMER = "deadline-events"


@dataclass
class RegistryDeps:
    uow: UnitOfWorkFactory[RegistryRepos]
    events_topic: str
    requests_topic: str
    clock: Clock = field(default_factory=SystemClock)
    # The queue of move-in cases and card pickup (audience of their deadlines).
    card_queue: str = "card-counter"
    # How long a command naming something not seen yet waits before it is rejected.
    unknown_wait: timedelta = timedelta(seconds=60)
    pickup: PickupPeriods = field(default_factory=PickupPeriods)
    pending_batch: int = 200
