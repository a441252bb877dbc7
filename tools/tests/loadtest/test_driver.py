"""Unit tests of the load test's driver: the order of its phases, without servers.

The phases themselves run against real Kafka and PostgreSQL in tests/e2e/test_loadtest.py; here
they are replaced by recorders, to pin down when the process-wide collector step runs.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

import pytest
from mynaflow.settings import MynaflowSettings
from mynaflow_tools.loadtest import driver
from mynaflow_tools.loadtest.driver import LoadtestPlan, quiet_collector, run_loadtest
from mynaflow_tools.loadtest.measure import RoundTrip
from mynaflow_tools.loadtest.notices import new_run_id
from mynaflow_tools.loadtest.report import PhaseFigures

pytestmark = pytest.mark.unit


class _Bar:
    def __init__(self) -> None:
        self.advanced = 0

    def advance(self, steps: int = 1) -> None:
        self.advanced += steps


@contextlib.contextmanager
def _no_progress(_description: str, _total: int) -> Iterator[_Bar]:
    yield _Bar()


def _figures() -> PhaseFigures:
    return PhaseFigures.of(RoundTrip(), topic_out="out", topic_in="in", timed_out=False)


@pytest.fixture
def recorded_phases(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each Kafka phase replaced by one that only records that it ran (and with how many)."""
    events: list[str] = []

    async def partitions(_settings: Any, topics: list[str]) -> dict[str, int]:
        return dict.fromkeys(topics, 1)

    async def raw_baseline(_settings: Any, _plan: Any, notices: list[Any], *_: Any) -> Any:
        events.append(f"raw:{len(notices)}")
        return _figures()

    async def round_trip(_settings: Any, notices: list[Any], **_: Any) -> Any:
        events.append(f"flow:{len(notices)}")
        return _figures()

    monkeypatch.setattr(driver, "topic_partitions", partitions)
    monkeypatch.setattr(driver, "raw_kafka_baseline", raw_baseline)
    monkeypatch.setattr(driver, "measure_round_trip", round_trip)
    return events


async def test_the_collector_step_runs_right_before_each_timed_kafka_phase(
    recorded_phases: list[str],
) -> None:
    plan = LoadtestPlan(
        run_id=new_run_id(), notices=7, batch_size=10, timeout_s=5, postgres_baseline=False
    )

    await run_loadtest(
        MynaflowSettings(topic_prefix="unit."),
        plan,
        _no_progress,
        before_each_phase=lambda: recorded_phases.append("before"),
    )

    assert recorded_phases == ["before", "raw:7", "before", "flow:7"]


async def test_without_the_raw_baseline_only_the_flow_is_preceded(
    recorded_phases: list[str],
) -> None:
    plan = LoadtestPlan(
        run_id=new_run_id(),
        notices=3,
        batch_size=10,
        timeout_s=5,
        raw_baseline=False,
        postgres_baseline=False,
    )

    await run_loadtest(
        MynaflowSettings(topic_prefix="unit."),
        plan,
        _no_progress,
        before_each_phase=lambda: recorded_phases.append("before"),
    )

    assert recorded_phases == ["before", "flow:3"]


def test_quiet_collector_hides_what_is_alive_from_the_collector() -> None:
    gc.unfreeze()
    notices_alive: list[object] = [[] for _ in range(100)]  # containers the collector tracks
    try:
        quiet_collector()
        tracked_after = {id(o) for o in gc.get_objects()}
    finally:
        gc.unfreeze()  # the test process is shared: give its objects back to the collector

    assert gc.is_tracked(notices_alive)
    assert id(notices_alive) not in tracked_after
    assert not any(id(item) in tracked_after for item in notices_alive)
