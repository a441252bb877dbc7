"""The retry schedule of a failed send: exponential backoff with jitter, a bounded count.

The schedule is a pure function of the attempt number (plus jitter drawn by the caller's
random source), and the attempt count lives in the database, so a restart continues it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetrySchedule:
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 6
    # Each delay is drawn from [delay * (1 - jitter), delay], so replicas that failed together
    # do not retry together.
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def gives_up_after(self, attempts: int) -> bool:
        """True once `attempts` attempts have failed: the delivery is dead."""
        return attempts >= self.max_attempts

    def delay_after(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """How long to wait after the `attempts`-th failed attempt (1-based)."""
        if attempts < 1:
            raise ValueError("attempts counts failed attempts, from 1")
        exponent = min(attempts - 1, 32)
        base = min(self.first_delay * (1 << exponent), self.max_delay)
        fraction: float = (rng or random).uniform(1 - self.jitter, 1.0)
        return base * fraction
