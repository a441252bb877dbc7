"""Case 1 replayed: 48 record-update notices from 2022 arrive in a queue whose last member left.

The queue is reported orphaned once (not once per notice), and the backlog shows all 48 as
overdue, read through the registry's HTTP endpoint as the CLI reads it.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from mynaflow.contracts import registry as r
from mynaflow.domain.time import JST
from mynaflow_testing.harness.card_registry import (
    RegistryRun,
    of_type,
    receipt_event,
    record_update_receipt,
)
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.service

QUEUE = "card-records"


async def test_case_1_orphaned_once_and_all_48_in_the_backlog_as_overdue(
    registry: RegistryRun,
) -> None:
    joined = r.command_event(
        r.StaffJoinedQueue(
            staff_id="S-077", queue=QUEUE, performed_at=datetime(2021, 4, 1, tzinfo=JST)
        )
    )
    left = r.command_event(
        r.StaffLeftQueue(
            staff_id="S-077", queue=QUEUE, performed_at=datetime(2022, 3, 31, tzinfo=JST)
        )
    )
    await registry.commands(joined, left)  # one key, so in this order
    assert (await registry.answer_to(left))["type"] == r.COMMAND_ACCEPTED_V1

    receipts = [record_update_receipt(n, QUEUE) for n in range(48)]
    await registry.receipts(*(receipt_event(item) for item in receipts))
    events = await registry.events_until(lambda es: len(of_type(es, "work-item-opened")) == 48)
    opened = {e["data"]["notice_id"] for e in of_type(events, "work-item-opened")}
    assert opened == {item.notice_id for item in receipts}
    (orphaned,) = of_type(events, "queue-orphaned")
    assert (orphaned["data"]["queue"], orphaned["data"]["reason"]) == (
        QUEUE,
        "work_arrived_unstaffed",
    )
    changes = [e["data"]["members"] for e in of_type(events, "queue-membership-changed")]
    assert changes == [["S-077"], []]

    backlog = await wait_for(
        lambda: registry.get("/backlog", queue=QUEUE, overdue="1"),
        until=lambda items: len(items) == 48,
        what="48 overdue items in the backlog",
    )
    assert {item["notice_id"] for item in backlog} == {item.notice_id for item in receipts}
    assert all(item["overdue"] and item["assignee"] is None for item in backlog)
    assert min(item["age_days"] for item in backlog) > 365
    queues = await registry.get("/queues")
    assert [q for q in queues if q["queue"] == QUEUE] == [
        {"queue": QUEUE, "members": [], "orphaned": True, "open_items": 48, "overdue_items": 48}
    ]
    cases = await registry.get("/cases-like", kind="record_update_required", overdue="1")
    assert len(cases["cases"]) == 48
    assert {c["card_id"] for c in cases["cases"]} == {item.application_id for item in receipts}
