"""Case 1 replayed: 48 record-update notices from 2022 arrive in a queue whose last member left.

The queue is reported orphaned once (not once per notice), and the backlog shows all 48 as
overdue, read through the registry's HTTP endpoint as the CLI reads it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from mynaflow.contracts import registry as r
from mynaflow.contracts.envelope import make_event
from mynaflow.contracts.intake import NOTICE_ACKNOWLEDGED_V1, NoticeAcknowledged
from mynaflow.domain.time import JST
from mynaflow_testing.harness.card_registry import RegistryRun, of_type
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.service

QUEUE = "card-records"


def receipt(n: int) -> NoticeAcknowledged:
    issued = datetime(2022, 4, 1, 10, tzinfo=JST) + timedelta(days=3 * n)
    return NoticeAcknowledged(
        receipt_id=uuid.uuid4(),
        notice_id=f"JLIS-2022-{n:04}",
        status="accepted",
        kind="record_update_required",
        issued_at=issued,
        application_id=f"AP-{n:04}",
        resident_ref=f"R-{n:04}",
        sequence=n,
        details=None,
        owner_queue=QUEUE,
        received_at=issued + timedelta(minutes=5),
        sla_due_on=(issued + timedelta(days=5)).date(),
    )


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

    receipts = [receipt(n) for n in range(48)]
    await registry.receipts(
        *(
            make_event(
                source="notice-intake",
                event_type=NOTICE_ACKNOWLEDGED_V1,
                data=item,
                subject=item.kafka_key(),
            )
            for item in receipts
        )
    )
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
