"""Owner queues and SLAs per kind, and what receipts and deadline requests say (pure)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import pytest
from mynaflow.contracts.intake import (
    CONTENT_CONFLICT,
    MessageCoordinates,
    NoticeAcknowledged,
    ReceiptStatus,
)
from mynaflow.contracts.jlis import parse_raw_notice
from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.time import JST
from notice_intake.domain.receipts import (
    OriginalReceipt,
    deadline_request,
    duplicate_receipt,
    first_receipt,
    route_for,
)
from notice_intake.domain.routing import (
    DEFAULT_OWNER_QUEUES,
    DEFAULT_SLA_BUSINESS_DAYS,
    BatchRoutes,
    RoutingConfigurationError,
    RoutingTable,
)
from notice_intake.settings import NoticeIntakeSettings

pytestmark = pytest.mark.unit

CALENDAR = BusinessCalendar()
ROUTING = RoutingTable.build(
    sla_business_days=DEFAULT_SLA_BUSINESS_DAYS, owner_queues=DEFAULT_OWNER_QUEUES
)
SOURCE = MessageCoordinates(topic="jlis.notices.raw", partition=0, offset=1)


def jst(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, tzinfo=JST)


@pytest.mark.parametrize(
    ("kind", "issued", "due"),
    [
        ("record_update_required", jst(2022, 3, 10), date(2022, 3, 15)),  # docs/domain.md example
        ("record_update_required", jst(2025, 5, 1), date(2025, 5, 8)),  # Golden Week
        ("card_delivered", jst(2025, 12, 26), date(2026, 1, 9)),  # year-end closure
        ("application_defect", jst(2025, 12, 26, 23), date(2026, 1, 9)),
        # 2025-04-30 15:30 UTC is already 05-01 in JST: the JST date counts, not the UTC one.
        ("record_update_required", datetime(2025, 4, 30, 15, 30, tzinfo=UTC), date(2025, 5, 8)),
    ],
)
def test_sla_counts_business_days_from_the_jst_issue_date(
    kind: str, issued: datetime, due: date
) -> None:
    assert ROUTING.route_notice(kind, issued, CALENDAR).sla_due_on == due


def test_expiry_notices_have_an_owner_but_no_sla() -> None:
    route = ROUTING.route_notice("expiry_notice_sent", jst(2025, 5, 1), CALENDAR)
    assert route.owner_queue == "card-renewals"
    assert route.sla_due_on is None


def test_an_unknown_kind_goes_to_triage_with_one_business_day_from_issue() -> None:
    route = ROUTING.route_notice("something_new", jst(2025, 12, 26), CALENDAR)
    assert route.owner_queue == "triage"
    assert route.sla_due_on == date(2026, 1, 5)


def test_quarantined_input_counts_from_arrival() -> None:
    route = ROUTING.route_quarantined(datetime(2025, 5, 2, 1, tzinfo=UTC), CALENDAR)
    assert route.owner_queue == "triage"
    assert route.sla_due_on == date(2025, 5, 7)


def test_a_known_kind_without_a_queue_refuses_to_start() -> None:
    queues = {k: v for k, v in DEFAULT_OWNER_QUEUES.items() if k != "card_delivered"}
    with pytest.raises(RoutingConfigurationError, match=r"card_delivered.*no owner queue"):
        RoutingTable.build(sla_business_days=DEFAULT_SLA_BUSINESS_DAYS, owner_queues=queues)


def test_settings_read_queues_and_days_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    queues = {**DEFAULT_OWNER_QUEUES, "card_returned": "card-issuance"}
    monkeypatch.setenv("NOTICE_KIND_QUEUES", json.dumps(queues))
    monkeypatch.setenv("NOTICE_KIND_SLA_DAYS", json.dumps({"card_returned": 2}))
    routing = NoticeIntakeSettings().routing_table()
    assert routing.route_notice("card_returned", jst(2025, 5, 1), CALENDAR).sla_due_on == date(
        2025, 5, 7
    )
    monkeypatch.setenv("NOTICE_KIND_QUEUES", json.dumps({"record_update_required": "x"}))
    with pytest.raises(RoutingConfigurationError, match="application_defect"):
        NoticeIntakeSettings().routing_table()


def test_ward_closures_move_due_dates() -> None:
    calendar = BusinessCalendar.from_settings_string("2025-05-07..2025-05-08")
    route = ROUTING.route_notice("record_update_required", jst(2025, 5, 1), calendar)
    assert route.sla_due_on == date(2025, 5, 12)


def notice_bytes(**overrides: object) -> bytes:
    value = {
        "notice_id": "N-1",
        "kind": "record_update_required",
        "municipality_code": "141046",
        "issued_at": "2025-05-01T10:00:00+09:00",
    } | overrides
    return json.dumps(value).encode()


def receipt_for(payload: bytes) -> NoticeAcknowledged:
    parsed = parse_raw_notice(payload)
    received = datetime(2025, 5, 2, tzinfo=UTC)
    return first_receipt(
        parsed,
        receipt_id=uuid.uuid4(),
        route=route_for(parsed, received, BatchRoutes(ROUTING, CALENDAR)),
        received_at=received,
        source=SOURCE,
    )


def test_an_accepted_receipt_and_its_deadline_request() -> None:
    receipt = receipt_for(notice_bytes())
    assert receipt.status is ReceiptStatus.ACCEPTED
    assert receipt.kafka_key() == "N-1"
    request = deadline_request(receipt)
    assert request is not None
    assert (request.key, request.policy, request.due_on) == (
        "notice:N-1",
        "notice_sla",
        date(2025, 5, 8),
    )
    assert request.audience.queue == "card-records"
    assert request.subject.ids == {"receipt_id": str(receipt.receipt_id), "notice_id": "N-1"}


def test_an_unreadable_message_is_keyed_by_its_receipt() -> None:
    receipt = receipt_for(b"\xff")
    assert receipt.status is ReceiptStatus.QUARANTINED
    assert receipt.kafka_key() == str(receipt.receipt_id)
    request = deadline_request(receipt)
    assert request is not None
    assert request.key == f"receipt:{receipt.receipt_id}"
    assert request.audience.queue == "triage"
    assert request.due_on == date(2025, 5, 7)


def test_duplicates_repeat_the_original_receipt_and_conflicts_become_work_items() -> None:
    original = OriginalReceipt(
        receipt_id=uuid.uuid4(),
        notice_id="N-1",
        status=ReceiptStatus.ACCEPTED,
        owner_queue="card-records",
        sla_due_on=date(2025, 5, 8),
        received_at=datetime(2025, 5, 2, tzinfo=UTC),
        content_hash=parse_raw_notice(notice_bytes()).content_hash,
    )
    same = duplicate_receipt(parse_raw_notice(notice_bytes()), original, source=SOURCE)
    assert (same.receipt_id, same.status, same.reasons) == (
        original.receipt_id,
        ReceiptStatus.DUPLICATE,
        [],
    )
    assert deadline_request(same) is None  # the original's deadline stands
    work_item = uuid.uuid4()
    conflict_route = ROUTING.route_quarantined(datetime(2025, 5, 9, tzinfo=UTC), CALENDAR)
    conflict = duplicate_receipt(
        parse_raw_notice(notice_bytes(kind="card_delivered")),
        original,
        source=SOURCE,
        conflict_route=conflict_route,
        work_item_id=work_item,
    )
    assert conflict.receipt_id == original.receipt_id
    assert [r.code for r in conflict.reasons] == [CONTENT_CONFLICT]
    assert conflict.owner_queue == "triage"
    request = deadline_request(conflict)
    assert request is not None
    assert request.key == f"conflict:{work_item}"


@pytest.mark.parametrize(
    ("kind", "instant"),
    [
        ("record_update_required", jst(2025, 5, 1)),
        ("expiry_notice_sent", jst(2025, 5, 1)),
        ("something_new", jst(2025, 12, 26)),
        # 23:30 UTC is already the next JST day: the memo must key on the JST date.
        ("card_delivered", datetime(2025, 5, 1, 23, 30, tzinfo=UTC)),
        ("card_delivered", datetime(2025, 5, 1, 14, 30, tzinfo=UTC)),
    ],
)
def test_batch_routes_match_the_table(kind: str, instant: datetime) -> None:
    routes = BatchRoutes(ROUTING, CALENDAR)
    routes.route_notice("card_delivered", datetime(2025, 5, 1, 12, tzinfo=UTC))  # warm the memo
    assert routes.route_notice(kind, instant) == ROUTING.route_notice(kind, instant, CALENDAR)
    assert routes.route_quarantined(instant) == ROUTING.route_quarantined(instant, CALENDAR)
