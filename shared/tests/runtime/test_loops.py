"""Unit tests of the parts of background loops: waiting, backing off, surviving failures."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from mynaflow.messaging.errors import TransientError
from mynaflow.runtime.loops import (
    Backoff,
    resilient_loop,
    retry_for,
    sleep_until_woken_or_stopping,
)
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.unit

LONG_S = 30.0  # a sleep no test may wait out: returning early is the behaviour under test


async def elapsed_s(sleeping: asyncio.Task[bool]) -> float:
    started = time.monotonic()
    await asyncio.wait_for(sleeping, timeout=5)
    return time.monotonic() - started


async def test_a_sleep_returns_at_once_when_woken_and_says_it_is_not_stopping() -> None:
    wake, stopping = asyncio.Event(), asyncio.Event()
    sleeping = asyncio.create_task(sleep_until_woken_or_stopping(wake, stopping, LONG_S))
    await asyncio.sleep(0)  # let it start waiting
    wake.set()
    assert await elapsed_s(sleeping) < 1.0
    assert sleeping.result() is False


async def test_a_sleep_returns_at_once_when_stopping_and_says_so() -> None:
    stopping = asyncio.Event()
    sleeping = asyncio.create_task(sleep_until_woken_or_stopping(None, stopping, LONG_S))
    await asyncio.sleep(0)
    stopping.set()
    assert await elapsed_s(sleeping) < 1.0
    assert sleeping.result() is True


async def test_a_wake_up_that_came_before_the_sleep_is_not_lost() -> None:
    wake, stopping = asyncio.Event(), asyncio.Event()
    wake.set()
    assert (
        await elapsed_s(asyncio.create_task(sleep_until_woken_or_stopping(wake, stopping, LONG_S)))
        < 1.0
    )
    assert wake.is_set(), "the caller clears the wake-up, not the sleep"


async def test_a_sleep_without_events_lasts_its_time() -> None:
    stopping = asyncio.Event()
    took = await elapsed_s(asyncio.create_task(sleep_until_woken_or_stopping(None, stopping, 0.05)))
    assert took >= 0.04
    assert not stopping.is_set()


async def test_a_sleep_leaves_no_waiter_tasks_behind() -> None:
    before = len(asyncio.all_tasks())
    await sleep_until_woken_or_stopping(asyncio.Event(), asyncio.Event(), 0.01)
    assert len(asyncio.all_tasks()) == before


def test_backoff_doubles_up_to_its_cap_and_starts_again_after_a_reset() -> None:
    backoff = Backoff(0.5, 3.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.attempts == 5
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_jitter_only_shortens_a_delay_and_never_passes_the_cap() -> None:
    at_most = Backoff(1.0, 4.0, jitter=0.25, uniform=lambda: 0.0)
    at_least = Backoff(1.0, 4.0, jitter=0.25, uniform=lambda: 0.999999)
    assert [at_most.delay_for(n) for n in (1, 3, 10)] == [1.0, 4.0, 4.0]
    assert [round(at_least.delay_for(n), 3) for n in (1, 3, 10)] == [0.75, 3.0, 3.0]


def test_backoff_survives_any_number_of_failures() -> None:
    assert Backoff(0.2, 30.0, jitter=0.0).delay_for(100_000) == 30.0


@pytest.mark.parametrize(
    ("first_s", "max_s", "jitter", "complaint"),
    [(0.0, 1.0, 0.1, "first_s"), (2.0, 1.0, 0.1, "max_s"), (1.0, 2.0, 1.0, "jitter")],
)
def test_backoff_refuses_a_schedule_that_makes_no_sense(
    first_s: float, max_s: float, jitter: float, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        Backoff(first_s, max_s, jitter=jitter)


class ScriptedStep:
    """A step that raises the scripted errors in turn, then succeeds; records when it ran."""

    def __init__(self, *errors: Exception, next_s: float | None = None) -> None:
        self.errors = list(errors)
        self.next_s = next_s
        self.calls = 0

    async def count(self) -> int:
        return self.calls

    async def __call__(self) -> float | None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.next_s


def fast_backoff() -> Backoff:
    return Backoff(0.01, 0.02, jitter=0.0)


def logged_round(
    step: ScriptedStep, stopping: asyncio.Event, *, interval_s: float, backoff: Backoff
) -> asyncio.Task[None]:
    """`resilient_loop` as a task: rounds named "test round", logged to `test.loop`."""
    return asyncio.create_task(
        resilient_loop(
            step,
            name="test round",
            stopping=stopping,
            interval_s=interval_s,
            backoff=backoff,
            logger=logging.getLogger("test.loop"),
        )
    )


async def stop_and_join(stopping: asyncio.Event, loop: asyncio.Task[None]) -> None:
    stopping.set()
    await asyncio.wait_for(loop, timeout=5)


async def test_a_transient_failure_is_retried_after_a_backoff_and_logged_as_transient(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="test.loop")
    stopping = asyncio.Event()
    step = ScriptedStep(ConnectionRefusedError("db away"), TransientError("later"))
    # Only the backoff can bring the third call this soon.
    loop = logged_round(step, stopping, interval_s=LONG_S, backoff=fast_backoff())
    await wait_for(step.count, until=lambda calls: calls >= 3, what="two retries")
    await stop_and_join(stopping, loop)
    failures = [r for r in caplog.records if "test round failed" in r.getMessage()]
    assert [(r.levelno, getattr(r, "kind", None)) for r in failures] == [
        (logging.WARNING, "transient"),
        (logging.WARNING, "transient"),
    ]


async def test_any_other_failure_is_logged_with_its_kind_and_traceback_and_retried_next_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="test.loop")
    stopping = asyncio.Event()
    step = ScriptedStep(KeyError("bug"), KeyError("bug"))
    # Only the interval can bring the third call.
    loop = logged_round(step, stopping, interval_s=0.01, backoff=Backoff(LONG_S, LONG_S))
    await wait_for(step.count, until=lambda calls: calls >= 3, what="two retries")
    assert not loop.done(), "a programming error must not end the loop"
    await stop_and_join(stopping, loop)
    failures = [r for r in caplog.records if "test round failed" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.levelno == logging.ERROR and r.exc_info for r in failures)
    assert {getattr(r, "kind", None) for r in failures} == {"unhandled"}


async def test_a_success_resets_the_backoff() -> None:
    stopping = asyncio.Event()
    backoff = Backoff(0.01, 1.0, jitter=0.0)
    step = ScriptedStep(OSError("away"), OSError("away"), next_s=LONG_S)
    loop = asyncio.create_task(
        resilient_loop(step, name="test", stopping=stopping, interval_s=LONG_S, backoff=backoff)
    )
    await wait_for(step.count, until=lambda calls: calls == 3, what="the success")

    async def attempts() -> int:
        return backoff.attempts

    await wait_for(attempts, until=lambda n: n == 0, what="the reset")
    await stop_and_join(stopping, loop)


async def test_the_step_chooses_its_next_sleep_and_a_wake_up_cuts_it_short() -> None:
    stopping, wake = asyncio.Event(), asyncio.Event()
    step = ScriptedStep(next_s=LONG_S)

    async def clearing_step() -> float | None:
        wake.clear()  # as real loops do: cleared before looking for work
        return await step()

    loop = asyncio.create_task(
        resilient_loop(
            clearing_step,
            name="test",
            stopping=stopping,
            interval_s=LONG_S,
            backoff=fast_backoff(),
            wake=wake,
        )
    )
    await wait_for(step.count, until=lambda calls: calls == 1, what="the first step")
    wake.set()
    await wait_for(step.count, until=lambda calls: calls == 2, what="the woken step")
    await stop_and_join(stopping, loop)


async def test_stopping_ends_the_loop_during_its_first_delay_without_running_the_step() -> None:
    stopping = asyncio.Event()
    step = ScriptedStep()
    loop = asyncio.create_task(
        resilient_loop(
            step,
            name="test",
            stopping=stopping,
            interval_s=LONG_S,
            backoff=fast_backoff(),
            first_delay_s=LONG_S,
        )
    )
    await asyncio.sleep(0)
    await stop_and_join(stopping, loop)
    assert step.calls == 0


async def test_stopping_ends_the_loop_while_it_backs_off() -> None:
    stopping = asyncio.Event()
    step = ScriptedStep(OSError("away"))
    loop = asyncio.create_task(
        resilient_loop(
            step, name="test", stopping=stopping, interval_s=LONG_S, backoff=Backoff(LONG_S, LONG_S)
        )
    )
    await wait_for(step.count, until=lambda calls: calls == 1, what="the failed step")
    await stop_and_join(stopping, loop)
    assert step.calls == 1


async def test_retry_for_retries_the_listed_failures_until_the_attempt_succeeds() -> None:
    step = ScriptedStep(ConnectionRefusedError("starting"), OSError("starting"), next_s=1.5)
    result = await retry_for(
        step, seconds=5, retry_on=(OSError,), backoff=fast_backoff(), what="server"
    )
    assert (result, step.calls) == (1.5, 3)


async def test_retry_for_gives_up_with_the_last_failure_when_time_is_up() -> None:
    step = ScriptedStep(*[OSError(f"away {n}") for n in range(1000)])
    with pytest.raises(OSError, match="away"):
        await retry_for(step, seconds=0.05, retry_on=(OSError,), backoff=fast_backoff(), what="x")
    assert 1 < step.calls < 1000


async def test_retry_for_raises_any_other_failure_at_once() -> None:
    step = ScriptedStep(KeyError("bug"))
    with pytest.raises(KeyError):
        await retry_for(step, seconds=5, retry_on=(OSError,), backoff=fast_backoff(), what="x")
    assert step.calls == 1
