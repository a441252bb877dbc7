"""Send and arrival instants of one load-test phase, and latency statistics (pure).

All instants are `time.monotonic()` seconds taken in the one process that both sends and
receives, so a latency is a difference on one clock: no clock skew between machines, no jumps
when the wall clock is adjusted.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

PERCENTILES = (0.50, 0.95, 0.99)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `fraction` of all values at or
    below it. Always one of the values (no interpolation between two real latencies)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rank = math.ceil(fraction * len(sorted_values))
    return sorted_values[max(rank, 1) - 1]


@dataclass(frozen=True)
class LatencySummary:
    """Milliseconds; every field None when nothing arrived."""

    count: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None

    @classmethod
    def of_seconds(cls, latencies_s: Sequence[float]) -> LatencySummary:
        if not latencies_s:
            return cls(0, None, None, None, None, None)
        ordered = sorted(latencies_s)
        p50, p95, p99 = (_ms(percentile(ordered, q)) for q in PERCENTILES)
        return cls(
            count=len(ordered),
            p50_ms=p50,
            p95_ms=p95,
            p99_ms=p99,
            max_ms=_ms(ordered[-1]),
            mean_ms=_ms(math.fsum(ordered) / len(ordered)),
        )


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def per_second(count: int, seconds: float | None) -> float | None:
    """Throughput, or None when there is nothing to divide (no messages, no elapsed time)."""
    if count <= 0 or seconds is None or seconds <= 0:
        return None
    return round(count / seconds, 1)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is unknown or the denominator is zero."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return round(numerator / denominator, 4)


@dataclass
class RoundTrip:
    """What happened to each message of one phase: when it was sent, acknowledged by Kafka, and
    seen coming back (a receipt, or the record itself for the raw baseline)."""

    sent_at: dict[str, float] = field(default_factory=dict)
    acked_at: dict[str, float] = field(default_factory=dict)
    arrived_at: dict[str, float] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    # Arrivals for an id already seen (a redelivered receipt, a duplicate): counted, not timed.
    repeated_arrivals: int = 0
    publishing_done: bool = False
    # Ids both acknowledged and arrived (in either order: a record can be read back before its
    # acknowledgement is processed), kept as a count so `complete()` is O(1) in the read loop.
    _acked_and_arrived: int = 0
    # Every acknowledged send and every arrival, repeats included: a duplicate sent near the end
    # is answered after the last first arrival, and the run is not over until that answer too.
    _acked_sends: int = 0
    _arrivals: int = 0

    def record_send(self, message_id: str, now: float) -> None:
        """The first send counts: a duplicate sent again later is timed from the original."""
        self.sent_at.setdefault(message_id, now)

    def record_ack(self, message_id: str, now: float) -> None:
        self._acked_sends += 1
        if message_id in self.acked_at:
            return
        self.acked_at[message_id] = now
        if message_id in self.arrived_at:
            self._acked_and_arrived += 1

    def record_arrival(self, message_id: str, status: str, now: float) -> bool:
        """True the first time `message_id` (one this phase sent) comes back."""
        if message_id not in self.sent_at:
            return False
        self._arrivals += 1
        if message_id in self.arrived_at:
            self.repeated_arrivals += 1
            return False
        self.arrived_at[message_id] = now
        self.statuses[status] += 1
        if message_id in self.acked_at:
            self._acked_and_arrived += 1
        return True

    def complete(self) -> bool:
        """Publishing is over and every message Kafka acknowledged has come back, each copy of a
        duplicate included (an at-least-once redelivery may stand in for one)."""
        return (
            self.publishing_done
            and self._acked_and_arrived == len(self.acked_at)
            and self._arrivals >= self._acked_sends
        )

    def missing(self) -> list[str]:
        """Acknowledged by Kafka, never seen coming back: sorted ids."""
        return sorted(i for i in self.acked_at if i not in self.arrived_at)

    def latencies_s(self) -> list[float]:
        return [at - self.sent_at[i] for i, at in self.arrived_at.items()]

    def first_sent(self) -> float | None:
        return min(self.sent_at.values(), default=None)

    def publish_seconds(self) -> float | None:
        """From the first send to the last acknowledgement."""
        return _span(self.first_sent(), max(self.acked_at.values(), default=None))

    def end_to_end_seconds(self) -> float | None:
        """From the first send to the last first arrival."""
        return _span(self.first_sent(), max(self.arrived_at.values(), default=None))


def _span(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return end - start


class Pacer:
    """Spaces sends to `rate_per_s` (None: as fast as Kafka takes them).

    Unpaced, a run is a burst: latency then measures how long the backlog takes to drain.
    Paced below the flow's capacity, it measures what one notice waits in a steady stream.
    """

    # Sleeping for less than this costs more than it evens out; the schedule catches up.
    _MIN_SLEEP_S = 0.002

    def __init__(
        self,
        rate_per_s: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval_s = 1.0 / rate_per_s if rate_per_s else 0.0
        self._clock = clock
        self._sleep = sleep
        self._started: float | None = None
        self._sent = 0

    async def wait_turn(self) -> None:
        if not self._interval_s:
            return
        now = self._clock()
        if self._started is None:
            self._started = now
        due = self._started + self._sent * self._interval_s
        self._sent += 1
        if due - now >= self._MIN_SLEEP_S:
            await self._sleep(due - now)
