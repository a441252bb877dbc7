"""Wait on a condition with a timeout: the only way tests synchronise with real servers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class ConditionTimeout(AssertionError):
    """The awaited condition did not hold in time; the message says what was last seen."""


async def wait_for(
    probe: Callable[[], Awaitable[T]],
    *,
    until: Callable[[T], bool] = bool,
    # A deadline the caller states per condition, not an asyncio timeout scope: the probe itself
    # must stay cancellable between calls, which a wrapping `asyncio.timeout` would not give us.
    timeout: float = 30.0,  # noqa: ASYNC109
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Call `probe` until `until(result)` holds; return that result or fail loudly on timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await probe()
        if until(last):
            return last
        if time.monotonic() >= deadline:
            raise ConditionTimeout(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(interval)
