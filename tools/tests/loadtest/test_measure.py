"""Unit tests of the load test's measurements: percentiles, summaries, the round-trip log."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mynaflow_tools.loadtest.measure import (
    LatencySummary,
    Pacer,
    RoundTrip,
    per_second,
    percentile,
    ratio,
)

pytestmark = pytest.mark.unit

latencies = st.lists(
    st.floats(min_value=0.0, max_value=600.0, allow_nan=False), min_size=1, max_size=300
)
fractions = st.floats(min_value=1e-6, max_value=1.0)


@given(values=latencies, fraction=fractions)
def test_percentile_is_the_nearest_rank(values: list[float], fraction: float) -> None:
    ordered = sorted(values)
    result = percentile(ordered, fraction)
    assert result in ordered
    at_or_below = sum(1 for v in ordered if v <= result)
    strictly_below = sum(1 for v in ordered if v < result)
    assert at_or_below >= fraction * len(ordered) - 1e-9
    assert strictly_below < math.ceil(fraction * len(ordered))


@given(values=latencies, low=fractions, high=fractions)
def test_percentile_grows_with_the_fraction(values: list[float], low: float, high: float) -> None:
    ordered = sorted(values)
    low, high = min(low, high), max(low, high)
    assert percentile(ordered, low) <= percentile(ordered, high)
    assert percentile(ordered, 1.0) == ordered[-1]


def test_percentiles_of_one_to_a_hundred() -> None:
    ordered = [float(v) for v in range(1, 101)]
    assert [percentile(ordered, q) for q in (0.5, 0.95, 0.99, 1.0)] == [50.0, 95.0, 99.0, 100.0]
    assert percentile([7.0], 0.5) == 7.0


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_percentile_refuses_fractions_outside_zero_to_one(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        percentile([1.0], fraction)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


@given(values=latencies)
def test_summary_is_ordered_and_in_milliseconds(values: list[float]) -> None:
    summary = LatencySummary.of_seconds(values)
    assert summary.count == len(values)
    assert summary.p50_ms is not None
    assert summary.p95_ms is not None
    assert summary.p99_ms is not None
    assert summary.max_ms is not None
    assert summary.p50_ms <= summary.p95_ms <= summary.p99_ms <= summary.max_ms
    assert summary.max_ms == round(max(values) * 1000, 3)


def test_summary_of_nothing_is_all_none() -> None:
    assert LatencySummary.of_seconds([]) == LatencySummary(0, None, None, None, None, None)


def test_throughput_and_ratio_are_none_when_undefined() -> None:
    assert per_second(300, 1.5) == 200.0
    assert per_second(0, 1.0) is None
    assert per_second(10, 0.0) is None
    assert per_second(10, None) is None
    assert ratio(1.0, 4.0) == 0.25
    assert ratio(None, 1.0) is None
    assert ratio(1.0, 0.0) is None


def test_round_trip_times_each_first_arrival_and_counts_repeats() -> None:
    trip = RoundTrip()
    for n, message_id in enumerate(["a", "b", "c"]):
        trip.record_send(message_id, 10.0 + n)
    trip.record_ack("a", 10.5)
    trip.record_ack("b", 11.5)
    assert trip.record_arrival("a", "accepted", 12.0)
    assert not trip.record_arrival("a", "duplicate", 13.0)  # a repeat: counted, not timed
    assert not trip.record_arrival("zzz", "accepted", 13.0)  # not this run's
    assert sorted(trip.latencies_s()) == [2.0]
    assert trip.statuses == {"accepted": 1}
    assert trip.repeated_arrivals == 1
    assert trip.missing() == ["b"]
    assert trip.publish_seconds() == 1.5
    assert trip.end_to_end_seconds() == 2.0


def test_round_trip_is_complete_once_publishing_ended_and_every_ack_came_back() -> None:
    trip = RoundTrip()
    trip.record_send("a", 0.0)
    trip.record_send("b", 0.0)
    # Read back before its acknowledgement was processed: still counts.
    trip.record_arrival("a", "consumed", 0.2)
    trip.record_ack("a", 0.3)
    assert not trip.complete()  # still publishing
    trip.publishing_done = True
    assert trip.complete()  # "b" was never acknowledged (its send failed): not waited for
    trip.record_ack("b", 0.5)
    assert not trip.complete()
    trip.record_arrival("b", "consumed", 0.6)
    assert trip.complete()
    assert trip.missing() == []


def test_a_duplicate_sent_last_keeps_the_round_trip_open_until_its_own_answer() -> None:
    trip = RoundTrip()
    for message_id in ["a", "b", "a"]:  # "a" sent again after "b", as J-LIS retransmits
        trip.record_send(message_id, 0.0)
    for message_id in ["a", "b", "a"]:
        trip.record_ack(message_id, 0.1)
    trip.publishing_done = True
    trip.record_arrival("a", "accepted", 0.2)
    trip.record_arrival("b", "accepted", 0.3)
    # Every id came back once, but the second copy of "a" has not been answered yet.
    assert not trip.complete()
    trip.record_arrival("a", "duplicate", 0.4)
    assert trip.complete()
    assert trip.repeated_arrivals == 1
    assert trip.acked_at == {"a": 0.1, "b": 0.1}  # timed from the first acknowledgement


def test_an_empty_round_trip_has_no_spans() -> None:
    trip = RoundTrip()
    assert (trip.publish_seconds(), trip.end_to_end_seconds(), trip.first_sent()) == (
        None,
        None,
        None,
    )


class FakeClock:
    """Time that moves only when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_a_pacer_spaces_sends_to_the_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(50.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        await pacer.wait_turn()
    assert clock.sleeps == pytest.approx([0.02] * 4)
    assert clock.now == pytest.approx(100.08)


async def test_a_late_pacer_catches_up_without_sleeping() -> None:
    clock = FakeClock()
    pacer = Pacer(100.0, clock=clock, sleep=clock.sleep)
    await pacer.wait_turn()
    clock.now += 0.05  # the sender fell five turns behind (an ack wait, a busy loop)
    for _ in range(5):
        await pacer.wait_turn()
    assert clock.sleeps == []


async def test_without_a_rate_the_pacer_never_sleeps() -> None:
    clock = FakeClock()
    pacer = Pacer(None, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await pacer.wait_turn()
    assert clock.sleeps == []
