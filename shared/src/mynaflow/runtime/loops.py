"""Waiting, backing off and surviving failures: the parts every background loop is built from.

The outbox relay, retention, the deadline watcher and the sequence-gap watcher all wait the same
way (woken early by an event, and at once when the service stops) and survive the same failures
the same way, classified as the consumer middleware classifies them
(`mynaflow.messaging.failures`):
- transient (the database or the broker is away): retried with capped exponential backoff;
- anything else: logged with its kind and traceback, and retried at the next interval.
A loop built on `resilient_loop` therefore never dies of a failure, silently or otherwise; it
returns only when `stopping` is set.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from mynaflow.messaging.failures import FailureKind, classify_failure, describe_error

__all__ = ["Backoff", "resilient_loop", "retry_for", "sleep_until_woken_or_stopping"]

log = logging.getLogger(__name__)

# Doubling stops long before a float overflows: 2**64 times any first delay exceeds every cap.
_MAX_DOUBLINGS = 64

T = TypeVar("T")
Step = Callable[[], Awaitable[float | None]]


async def sleep_until_woken_or_stopping(
    wake: asyncio.Event | None, stopping: asyncio.Event, seconds: float
) -> bool:
    """Sleep up to `seconds`, returning early once `wake` or `stopping` is set.

    Returns whether `stopping` is set. Neither event is cleared: a loop clears `wake` itself
    before it looks for work, so a wake-up that arrives while it works is not lost.
    """
    if stopping.is_set() or (wake is not None and wake.is_set()) or seconds <= 0:
        return stopping.is_set()
    waiters = [asyncio.ensure_future(stopping.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    return stopping.is_set()


class Backoff:
    """Delays that double from `first_s` up to `max_s`, until `reset()`.

    Each delay is shortened at random by up to `jitter` (a fraction of it), so replicas that
    failed together (the database went away under all of them) do not retry in step. The cap
    is never exceeded.
    """

    def __init__(
        self,
        first_s: float,
        max_s: float,
        *,
        jitter: float = 0.1,
        uniform: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < first_s <= max_s:
            raise ValueError(f"need 0 < first_s <= max_s, got {first_s} and {max_s}")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter is a fraction in [0, 1), got {jitter}")
        self.first_s = first_s
        self.max_s = max_s
        self.jitter = jitter
        self._uniform = uniform
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """Delays handed out since the last reset."""
        return self._attempts

    def delay_for(self, attempt: int) -> float:
        """The delay after the `attempt`-th consecutive failure (1 = the first)."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, got {attempt}")
        doublings = min(attempt - 1, _MAX_DOUBLINGS)
        capped = float(min(self.first_s * 2.0**doublings, self.max_s))
        return capped * (1.0 - self.jitter * self._uniform())

    def next_delay(self) -> float:
        """The delay after one more consecutive failure."""
        self._attempts += 1
        return self.delay_for(self._attempts)

    def reset(self) -> None:
        """Progress was made: the next failure waits `first_s` again."""
        self._attempts = 0


async def resilient_loop(
    step: Step,
    *,
    name: str,
    stopping: asyncio.Event,
    interval_s: float,
    backoff: Backoff,
    wake: asyncio.Event | None = None,
    first_delay_s: float = 0.0,
    logger: logging.Logger = log,
) -> None:
    """Run `await step()` until `stopping` is set, surviving every failure.

    After a successful step the loop sleeps for what `step` returned (`None`: `interval_s`),
    cut short by `wake`; the first step runs after `first_delay_s`. After a transient failure
    it sleeps `backoff.next_delay()`, after any other `interval_s`; a success resets `backoff`
    (a step that runs for long may reset it itself once it has made progress). Sleeps after a
    failure are not cut short by `wake`, so wake-ups cannot turn an outage into a busy loop.
    Failures are logged on `logger` as "<name> failed (...)" with their kind.
    """
    if await sleep_until_woken_or_stopping(None, stopping, first_delay_s):
        return
    while not stopping.is_set():
        try:
            next_s = await step()
        except Exception as error:
            delay = _delay_after_failure(error, name, backoff, interval_s, logger)
            await sleep_until_woken_or_stopping(None, stopping, delay)
            continue
        backoff.reset()
        sleep_s = interval_s if next_s is None else next_s
        await sleep_until_woken_or_stopping(wake, stopping, sleep_s)


def _delay_after_failure(
    error: Exception, name: str, backoff: Backoff, interval_s: float, logger: logging.Logger
) -> float:
    """Log the failure with its kind; how long to wait before the next step."""
    kind = classify_failure(error)
    transient = kind is FailureKind.TRANSIENT
    delay = backoff.next_delay() if transient else interval_s
    logger.log(
        logging.WARNING if transient else logging.ERROR,
        "%s failed (%s); retrying in %.1fs",
        name,
        describe_error(error),
        delay,
        # A transient failure is expected in an outage; anything else needs its traceback.
        exc_info=None if transient else error,
        extra={"kind": kind.value, "error": type(error).__name__, "delay_s": delay},
    )
    return delay


async def retry_for(
    attempt: Callable[[], Awaitable[T]],
    *,
    seconds: float,
    retry_on: tuple[type[BaseException], ...],
    backoff: Backoff,
    what: str,
    logger: logging.Logger = log,
) -> T:
    """`await attempt()`, retrying the `retry_on` failures with `backoff` for up to `seconds`.

    For start-up, when a server may still be coming up. The last failure is raised as it is
    once the next retry would end after `seconds`; any other failure at once.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await attempt()
        except retry_on as error:
            delay = backoff.next_delay()
            if time.monotonic() + delay > deadline:
                raise
            logger.warning("%s not reachable yet (%s); retrying", what, type(error).__name__)
            await asyncio.sleep(delay)
