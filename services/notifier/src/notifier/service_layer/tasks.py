"""The notifier's background loops: the delivery worker, the retry of held events and the
silent-watcher check. Each step is a handler on the unit of work; `resilient_loop` survives
failures the way the consumers do."""

from __future__ import annotations

import asyncio

from mynaflow.runtime.loops import Backoff, resilient_loop

from notifier.service_layer.delivery import deliver_next, seconds_until_next_due
from notifier.service_layer.deps import NotifierDeps
from notifier.service_layer.held import retry_next_held, seconds_until_next_held
from notifier.service_layer.watch import check_watcher

# Fallback poll of the worker loops; a handler that queues something due now wakes them.
POLL_S = 1.0
# Messages sent per worker step before it looks at stopping and the clock again.
STEP_MESSAGES = 50


async def run_delivery_worker(deps: NotifierDeps, stopping: asyncio.Event) -> None:
    async def step() -> float | None:
        # Cleared before looking, so a wake-up that arrives while we work is not lost.
        deps.wake.clear()
        for _ in range(STEP_MESSAGES):
            if stopping.is_set() or not await deliver_next(deps):
                break
        else:
            return 0.0  # more may be due: look again at once
        return await seconds_until_next_due(deps, POLL_S)

    await resilient_loop(
        step,
        name="delivery worker",
        stopping=stopping,
        interval_s=POLL_S,
        backoff=Backoff(0.2, 5.0),
        wake=deps.wake,
    )


async def run_held_retries(deps: NotifierDeps, stopping: asyncio.Event) -> None:
    async def step() -> float | None:
        while not stopping.is_set() and await retry_next_held(deps):
            pass
        return await seconds_until_next_held(deps, POLL_S)

    await resilient_loop(
        step,
        name="held-event retry",
        stopping=stopping,
        interval_s=POLL_S,
        backoff=Backoff(0.2, 5.0),
    )


async def run_watcher_check(deps: NotifierDeps, stopping: asyncio.Event) -> None:
    async def step() -> float | None:
        return min(await check_watcher(deps), 30.0)

    await resilient_loop(
        step,
        name="silent-watcher check",
        stopping=stopping,
        interval_s=30.0,
        backoff=Backoff(0.5, 10.0),
    )
