"""Unit tests of the flow ledger: when a notice is done, duplicate events, duplicated effects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from mynaflow.contracts.deadlines import DEADLINE_SCHEDULED_V1
from mynaflow.contracts.intake import NOTICE_ACKNOWLEDGED_V1
from mynaflow.contracts.registry import WORK_ITEM_OPENED_V1
from mynaflow_tools.loadtest.flow import FlowLedger
from mynaflow_tools.loadtest.notices import notice_id

pytestmark = pytest.mark.unit

RUN = "abcdefgh"
N0 = notice_id(RUN, 0)


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None


def event(key: str, type_: str, event_id: str | None = None, **data: Any) -> Record:
    body = {"id": event_id or str(uuid4()), "type": type_, "data": data}
    return Record(key.encode(), json.dumps(body).encode())


def receipt(status: str = "accepted", sla_due_on: str | None = "2026-12-10", **kw: Any) -> Record:
    return event(N0, NOTICE_ACKNOWLEDGED_V1, status=status, sla_due_on=sla_due_on, **kw)


def deadline(event_id: str | None = None) -> Record:
    return event(f"notice:{N0}", DEADLINE_SCHEDULED_V1, event_id)


def work_item() -> Record:
    return event(f"notice:{N0}", WORK_ITEM_OPENED_V1, work_item_id=f"notice:{N0}")


def test_in_the_intake_flow_a_notice_is_done_with_its_receipt() -> None:
    ledger = FlowLedger(RUN)
    assert ledger.read(deadline()) is None  # not this flow's
    assert ledger.read(receipt()) == (N0, "accepted")


def test_in_the_full_flow_a_notice_waits_for_its_deadline_and_work_item_in_any_order() -> None:
    ledger = FlowLedger(RUN, full=True)
    assert ledger.read(work_item()) is None
    assert ledger.read(receipt()) is None
    assert ledger.read(deadline()) == (N0, "accepted")


def test_a_receipt_without_an_sla_waits_for_no_deadline() -> None:
    ledger = FlowLedger(RUN, full=True)
    assert ledger.read(receipt("quarantined", sla_due_on=None)) is None
    assert ledger.read(work_item()) == (N0, "quarantined")


def test_a_later_receipt_of_a_done_notice_is_a_repeat_and_not_an_effect() -> None:
    ledger = FlowLedger(RUN)
    ledger.read(receipt())
    assert ledger.read(receipt("duplicate")) == (N0, "duplicate")
    assert (ledger.duplicated_effects, ledger.duplicate_events) == (0, 0)


def test_the_same_event_twice_is_a_duplicate_event_not_a_duplicated_effect() -> None:
    ledger = FlowLedger(RUN, full=True)
    same = str(uuid4())
    ledger.read(deadline(same))
    assert ledger.read(deadline(same)) is None
    assert (ledger.duplicated_effects, ledger.duplicate_events) == (0, 1)


def test_two_distinct_events_for_one_effect_are_a_duplicated_effect() -> None:
    ledger = FlowLedger(RUN, full=True)
    ledger.read(receipt())
    ledger.read(receipt())  # stored twice as accepted
    ledger.read(deadline())
    ledger.read(deadline())  # two deadlines scheduled
    assert ledger.duplicated_effects == 2


def test_other_runs_and_unreadable_records_are_skipped() -> None:
    ledger = FlowLedger(RUN)
    assert ledger.read(event(notice_id("zzzzzzzz", 0), NOTICE_ACKNOWLEDGED_V1)) is None
    assert ledger.read(Record(N0.encode(), b"not json")) is None
    assert ledger.read(Record(None, b"{}")) is None
    assert (
        ledger.read(Record(N0.encode(), json.dumps({"type": NOTICE_ACKNOWLEDGED_V1}).encode()))
        is None
    )
