"""card-registry's background loop: parked commands judged again on a timer (durably: the
parked rows are in PostgreSQL, the loop only decides when to look)."""

from __future__ import annotations

import asyncio

from mynaflow.runtime.loops import Backoff, resilient_loop

from card_registry.service_layer.commands import sweep_pending
from card_registry.service_layer.deps import RegistryDeps


async def sweep_parked_commands(
    deps: RegistryDeps, stopping: asyncio.Event, interval_s: float
) -> None:
    """Parked commands are judged again every `PENDING_SWEEP_S`, so that one whose wait is over
    is rejected even when nothing else arrives."""

    async def step() -> float | None:
        # Oldest expiry first, a batch per interval: parked commands are few (they wait for a
        # move-in or a receipt that is seconds behind), so one batch is normally all of them.
        await sweep_pending(deps)
        return None

    await resilient_loop(
        step,
        name="pending-command sweep",
        stopping=stopping,
        interval_s=interval_s,
        backoff=Backoff(0.2, 5.0),
    )
