"""The batch handler and the gap reporter on the fake unit of work (no server): what one batch
stores and emits, that a redelivery changes nothing, and that a batch the database refuses
publishes nothing. The same behaviour against PostgreSQL is in tests/service/."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from mynaflow.contracts.intake import (
    NOTICE_ACKNOWLEDGED_V1,
    SEQUENCE_GAP_CLOSED_V1,
    SEQUENCE_GAP_DETECTED_V1,
    gap_event_key,
)
from mynaflow.contracts.jlis import INVALID_JSON
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.clock import FakeClock
from mynaflow.messaging.errors import PoisonMessage
from mynaflow_testing.memory.notice_intake import MemoryIntake
from notice_intake.adapters.repository.receipts import ReceiptRow
from notice_intake.domain.messages import RawNoticeMessage
from notice_intake.domain.routing import (
    DEFAULT_OWNER_QUEUES,
    DEFAULT_SLA_BUSINESS_DAYS,
    RoutingTable,
)
from notice_intake.service_layer.deps import IntakeDeps, IntakeTopics
from notice_intake.service_layer.gap_watch import report_due_gaps
from notice_intake.service_layer.intake import acknowledge_batch
from prometheus_client import REGISTRY

pytestmark = pytest.mark.unit

T0 = datetime(2025, 5, 2, 1, tzinfo=UTC)
TOPICS = IntakeTopics()
RAW = "jlis.notices.raw"


def notice(notice_id: str, **extra: Any) -> bytes:
    value = {
        "notice_id": notice_id,
        "kind": "record_update_required",
        "municipality_code": "141046",
        "issued_at": "2025-05-01T10:00:00+09:00",
    } | extra
    return json.dumps(value).encode()


def batch(values: list[bytes], first_offset: int = 0) -> list[RawNoticeMessage]:
    return [
        RawNoticeMessage(RAW, 0, first_offset + n, None, value) for n, value in enumerate(values)
    ]


@pytest.fixture
def memory() -> MemoryIntake:
    return MemoryIntake()


@pytest.fixture
def deps(memory: MemoryIntake) -> IntakeDeps:
    routing = RoutingTable.build(
        sla_business_days=DEFAULT_SLA_BUSINESS_DAYS, owner_queues=DEFAULT_OWNER_QUEUES
    )
    return IntakeDeps(
        uow=memory.uow,
        reads=memory.reads,
        routing=routing,
        calendar=BusinessCalendar(),
        topics=TOPICS,
        service="notice-intake",
        clock=FakeClock(T0),
    )


def keys_on(memory: MemoryIntake, topic: str) -> list[str | None]:
    return [emitted.key for emitted in memory.published_on(topic)]


async def test_every_message_is_receipted_with_its_deadline_request_in_one_commit(
    memory: MemoryIntake, deps: IntakeDeps
) -> None:
    outcome = await acknowledge_batch(batch([notice("A-1"), notice("A-2"), b"not json"]), deps)
    statuses = [r.status.value for r in outcome.receipts]
    assert statuses == ["accepted", "accepted", "quarantined"]
    unreadable = str(outcome.receipts[2].receipt_id)
    assert keys_on(memory, TOPICS.receipts) == ["A-1", "A-2", unreadable]
    assert keys_on(memory, TOPICS.deadline_requests) == [
        "notice:A-1",
        "notice:A-2",
        f"receipt:{unreadable}",
    ]
    (dead_letter,) = memory.dead_letters.recorded.values()
    assert (dead_letter.message.offset, dead_letter.reason.code) == (2, INVALID_JSON)
    assert (memory.uow.commits, memory.uow.rollbacks) == (1, 0)


async def test_a_redelivered_batch_stores_and_emits_nothing(
    memory: MemoryIntake, deps: IntakeDeps
) -> None:
    messages = batch([notice("R-1"), notice("R-2"), b"not json"])
    await acknowledge_batch(messages, deps)
    published = list(memory.uow.published)
    again = await acknowledge_batch(messages, deps)
    assert (again.receipts, again.redeliveries) == ([], 3)
    assert memory.uow.published == published
    assert len(memory.receipts.stored) == 3
    assert len(memory.dead_letters.recorded) == 1
    # A later offset is new, even with a notice id already known: a duplicate.
    (later,) = (await acknowledge_batch(batch([notice("R-1")], first_offset=3), deps)).receipts
    assert later.status.value == "duplicate"


async def test_new_notices_at_reused_offsets_are_receipted_and_reported_loudly(
    memory: MemoryIntake, deps: IntakeDeps, caplog: pytest.LogCaptureFixture
) -> None:
    # The topic was re-created (or the broker lost its data): offsets start again at 0.
    await acknowledge_batch(batch([notice("OLD-1"), notice("OLD-2"), b"old bytes"]), deps)
    before = rewound_count()
    reused = batch([notice("NEW-1"), notice("OLD-2"), b"new bytes", notice("NEW-2")])
    with caplog.at_level(logging.ERROR):
        outcome = await acknowledge_batch(reused, deps)
    statuses = {r.notice_id: r.status.value for r in outcome.receipts}
    assert statuses == {"NEW-1": "accepted", None: "quarantined", "NEW-2": "accepted"}
    assert outcome.redeliveries == 1  # OLD-2 was receipted before: nothing new to say
    assert rewound_count() - before == 2  # NEW-2 at offset 3 is above the mark anyway
    (line,) = [r for r in caplog.records if r.getMessage().startswith("offsets went backwards")]
    assert (line.levelno, line.__dict__["applied_offset"], line.__dict__["notices"]) == (
        logging.ERROR,
        2,
        2,
    )
    stored = {row.receipt.notice_id for row in memory.receipts.stored}
    assert {"NEW-1", "NEW-2"} <= stored
    # Delivered again, the same re-used offsets are now plain redeliveries.
    again = await acknowledge_batch(reused, deps)
    assert (again.receipts, again.redeliveries) == ([], 4)
    assert rewound_count() - before == 2


def rewound_count() -> float:
    value = REGISTRY.get_sample_value(
        "mynaflow_intake_rewound_notices_total", {"topic": RAW, "partition": "0"}
    )
    return value or 0.0


async def test_a_known_notice_id_is_a_duplicate_and_changed_content_a_triage_item(
    memory: MemoryIntake, deps: IntakeDeps
) -> None:
    values = [notice("D-1"), notice("D-1"), notice("D-1", kind="card_delivered")]
    first, same, changed = (await acknowledge_batch(batch(values), deps)).receipts
    assert [r.status.value for r in (first, same, changed)] == [
        "accepted",
        "duplicate",
        "duplicate",
    ]
    assert {first.receipt_id, same.receipt_id, changed.receipt_id} == {first.receipt_id}
    counted = memory.receipts.duplicates[first.receipt_id]
    assert (counted.duplicates, counted.conflicts) == (2, 1)
    assert list(memory.receipts.triage) == [changed.work_item_id]
    # The original's deadline stands; the conflict gets one of its own, for triage.
    assert keys_on(memory, TOPICS.deadline_requests) == [
        "notice:D-1",
        f"conflict:{changed.work_item_id}",
    ]
    assert len(keys_on(memory, TOPICS.receipts)) == 3  # every message is receipted


async def test_a_gap_is_reported_after_grace_and_announced_closed_when_filled(
    memory: MemoryIntake, deps: IntakeDeps
) -> None:
    numbered = [notice(f"S-{n}", sequence=n) for n in (1, 2, 5)]
    opened = await acknowledge_batch(batch(numbered), deps)
    assert opened.gaps_opened == 1
    assert deps.gaps_changed.is_set()  # the gap watcher recomputes when to wake
    assert await report_due_gaps(deps) == 0  # still within grace
    assert isinstance(deps.clock, FakeClock)
    deps.clock.advance(deps.gap_grace)
    assert await report_due_gaps(deps) == 1
    assert await report_due_gaps(deps) == 0  # reported once
    filled = await acknowledge_batch(
        batch([notice("S-3", sequence=3), notice("S-4", sequence=4)], first_offset=3), deps
    )
    assert filled.gaps_closed == 1
    gap_events = [
        (e.key, e.event.type)
        for e in memory.published_on(TOPICS.receipts)
        if e.event.type != NOTICE_ACKNOWLEDGED_V1
    ]
    key = gap_event_key("141046")
    assert gap_events == [(key, SEQUENCE_GAP_DETECTED_V1), (key, SEQUENCE_GAP_CLOSED_V1)]


def refuse_marked(row: ReceiptRow) -> BaseException | None:
    """A database that refuses one notice's data (as PostgreSQL refuses a NUL in text)."""
    refused = row.receipt.resident_ref == "refused"
    return asyncpg.DataError("invalid byte sequence") if refused else None


async def test_a_refused_notice_fails_its_batch_unpublished_then_is_quarantined_alone(
    memory: MemoryIntake, deps: IntakeDeps
) -> None:
    memory.receipts.refuse = refuse_marked
    messages = batch([notice("P-1"), notice("P-2", resident_ref="refused")])
    with pytest.raises(PoisonMessage):
        await acknowledge_batch(messages, deps)
    assert (memory.uow.published, memory.uow.commits, memory.uow.rollbacks) == ([], 0, 1)
    alone = [(await acknowledge_batch([m], deps)).receipts[0] for m in messages]
    assert [(r.status.value, [reason.code for reason in r.reasons]) for r in alone] == [
        ("accepted", []),
        ("quarantined", ["storage_rejected"]),
    ]
    # Kept only as its redacted bytes, the refused notice is keyed by its receipt.
    assert keys_on(memory, TOPICS.receipts) == ["P-1", str(alone[1].receipt_id)]
