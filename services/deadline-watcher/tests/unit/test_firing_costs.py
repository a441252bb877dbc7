"""The cheaper paths of firing behave as the ones they replace: a changed deadline equals what
`dataclasses.replace` gives, the decided-stages counter counts every inserted stage once, a row's
status becomes the enum member, and the service's process collects young objects less often (a
batch of 500 requests runs no young collection there)."""

from __future__ import annotations

import gc
import json
from dataclasses import FrozenInstanceError, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from deadline_watcher.adapters.repository import LedgerEntry, deadline_from_record
from deadline_watcher.domain.catchup import Decision
from deadline_watcher.domain.deadline import Deadline, Status, _changed, build_deadline
from deadline_watcher.domain.ladder import Occurrence
from deadline_watcher.domain.policies import load_policies
from deadline_watcher.entrypoints.subscribers import parse_request
from deadline_watcher.service_layer.firing import _Batch, _count
from deadline_watcher.service_layer.requests import handle_requests
from hypothesis import given
from hypothesis import strategies as st
from mynaflow.domain.clock import FakeClock
from mynaflow.runtime.runner import SERVICE_GC_THRESHOLDS as GC_THRESHOLDS
from mynaflow.runtime.runner import collect_young_objects_per_batch as tune_garbage_collector
from mynaflow_testing.memory.deadline_watcher import MemoryWatcher, on_the_wire, schedule_request
from prometheus_client import REGISTRY

pytestmark = pytest.mark.unit

T0 = datetime(2025, 5, 13, tzinfo=UTC)
DEADLINE = Deadline(
    key="k",
    generation=2,
    policy="pair",
    due_at=T0,
    subject={"type": "test", "ids": {"key": "k"}},
    audience={"queue": "records"},
    scheduled_at=T0 - timedelta(days=1),
    starts_at=T0 - timedelta(days=2),
    settle_until=T0,
    processed_through=T0,
)
instants = st.none() | st.datetimes(timezones=st.just(UTC))


@given(processed=instants, next_fire=instants, breached=instants)
def test_a_changed_deadline_is_what_replace_gives(
    processed: datetime | None, next_fire: datetime | None, breached: datetime | None
) -> None:
    changed = _changed(
        DEADLINE, processed_through=processed, next_fire_at=next_fire, breached_at=breached
    )
    assert changed == replace(
        DEADLINE, processed_through=processed, next_fire_at=next_fire, breached_at=breached
    )
    assert changed is not DEADLINE
    assert DEADLINE.processed_through == T0  # the original stays


def test_a_changed_deadline_refuses_a_field_it_does_not_have() -> None:
    with pytest.raises(TypeError):
        _changed(DEADLINE, next_fire=T0)


def test_every_field_of_a_deadline_is_an_init_field() -> None:
    # What `_changed` relies on: `vars()` holds exactly the constructor's arguments.
    assert all(f.init for f in fields(Deadline))
    assert set(vars(DEADLINE)) == {f.name for f in fields(Deadline)}


def test_a_built_deadline_is_what_the_constructor_gives() -> None:
    values = {f.name: getattr(DEADLINE, f.name) for f in fields(Deadline)}
    built = build_deadline(values)
    assert built == Deadline(**values)
    assert type(built) is Deadline
    assert vars(built) == vars(DEADLINE)
    with pytest.raises(FrozenInstanceError):
        built.generation = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "wrong",
    [
        lambda values: {k: v for k, v in values.items() if k != "met"},  # a field missing
        lambda values: values | {"next_fire": T0},  # a field it does not have
    ],
)
def test_a_built_deadline_refuses_anything_but_exactly_its_fields(wrong: Any) -> None:
    values = {f.name: getattr(DEADLINE, f.name) for f in fields(Deadline)}
    with pytest.raises(TypeError):
        build_deadline(wrong(values))


def _entry(key: str, stage: str, fire: bool, late: bool) -> LedgerEntry:
    occurrence = Occurrence(stage, 0, T0, "queue", 0, stage == "breach")
    return LedgerEntry(key, 1, Decision(occurrence, fire, late), T0, None)


def _counted(outcome: str, timing: str) -> float:
    labels = {"outcome": outcome, "timing": timing}
    return REGISTRY.get_sample_value("mynaflow_deadline_stages_total", labels) or 0.0


def test_the_counter_counts_each_inserted_stage_once_by_outcome_and_timing() -> None:
    batch = _Batch(T0)
    batch.ledger = [
        _entry("a", "breach", True, False),
        _entry("b", "breach", True, False),
        _entry("c", "breach", True, True),
        _entry("d", "reminder", False, True),
        _entry("e", "breach", True, False),  # decided before by another replica: not inserted
    ]
    keys = ("fired", "on_time"), ("fired", "late"), ("skipped", "late"), ("skipped", "on_time")
    before = {key: _counted(*key) for key in keys}
    _count(batch, {entry.identity for entry in batch.ledger[:4]})
    after = {key: _counted(*key) - before[key] for key in keys}
    assert after == {
        ("fired", "on_time"): 2,
        ("fired", "late"): 1,
        ("skipped", "late"): 1,
        ("skipped", "on_time"): 0,
    }


@pytest.mark.parametrize("status", list(Status))
def test_a_row_status_becomes_the_enum_member(status: Status) -> None:
    record = {name: getattr(DEADLINE, name) for name in vars(DEADLINE)} | {"status": status.value}
    deadline = deadline_from_record(record)
    assert deadline.status is status
    assert deadline.is_open == (status is Status.OPEN)
    assert json.dumps(dict(deadline.subject)) == json.dumps(dict(DEADLINE.subject))


def test_the_service_process_collects_young_objects_less_often() -> None:
    saved = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > saved[0]
    finally:
        gc.set_threshold(*saved)


async def test_a_batch_of_requests_runs_no_young_collection_in_the_service_process() -> None:
    # What the thresholds are for: a batch's objects are freed by reference counting before
    # the young generation's count is reached, so no collection walks them in vain.
    ladder = load_policies(
        json.dumps(
            {
                "four": {
                    "stages": [
                        {"name": "early", "offset": "-30d", "at": "09:00", "role": "resident"},
                        {"name": "late", "offset": "-7d", "at": "09:00", "role": "desk_manager"},
                        {"name": "breach", "role": "desk_manager"},
                        {"name": "after", "offset": "+2bd", "at": "09:00", "role": "section_chief"},
                    ]
                }
            }
        )
    )
    memory = MemoryWatcher()
    deps = memory.deps(policies=ladder, clock=FakeClock(T0))
    batch = [
        on_the_wire(schedule_request(f"k{i}", T0 + timedelta(days=60, minutes=i), "four"))
        for i in range(500)
    ]
    young: list[int] = []

    def count_young(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 0:
            young.append(1)

    saved = gc.get_threshold()
    gc.callbacks.append(count_young)
    try:
        tune_garbage_collector()
        gc.collect()  # the count starts from zero
        await handle_requests([parse_request(event, deps.policies) for event in batch], deps)
    finally:
        gc.callbacks.remove(count_young)
        gc.set_threshold(*saved)
    assert len(memory.deadlines.rows) == 500
    assert young == []
