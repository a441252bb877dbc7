"""A receipt takes the parser's fields without redacting them twice, and only the parser's.

`parse_raw_notice` redacts every value it returns and seals its result; `NoticeAcknowledged.
of_parsed` skips the contract's second redaction only for such a sealed result. A
`ParsedNotice` built or copied by hand goes through the contract's guard as before.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from mynaflow.contracts.intake import MessageCoordinates, NoticeAcknowledged, ReceiptStatus
from mynaflow.contracts.jlis import NoticeFields, ParsedNotice, parse_raw_notice
from mynaflow.domain.personal_number import REDACTION_MARKER, personal_number_check_digit

pytestmark = pytest.mark.unit

RECEIVED = datetime(2026, 12, 3, 1, tzinfo=UTC)
SOURCE = MessageCoordinates(topic="jlis.notices.raw", partition=0, offset=7)
RECEIPT_ID = UUID("0b8f5a6e-6a43-4c1e-9f00-5c4d3b2a1f0e")


def individual_number(first11: str) -> str:
    """A valid 個人番号 built from docs/domain.md's formula (never a real person's)."""
    return first11 + str(personal_number_check_digit(first11))


NUMBER = individual_number("16180339887")
GROUPED = f"{NUMBER[:4]} {NUMBER[4:8]}-{NUMBER[8:]}"


def notice(**overrides: Any) -> bytes:
    value = {
        "notice_id": "N-0001",
        "kind": "record_update_required",
        "municipality_code": "141046",
        "issued_at": "2026-12-01T10:00:00+09:00",
        "application_id": "A-1",
        "resident_ref": "R-1",
        "sequence": 3,
        "details": {"memo": "住所不一致"},
        **overrides,
    }
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def receipt_of(parsed: ParsedNotice) -> NoticeAcknowledged:
    return NoticeAcknowledged.of_parsed(
        parsed,
        receipt_id=RECEIPT_ID,
        status=ReceiptStatus.ACCEPTED if parsed.accepted else ReceiptStatus.QUARANTINED,
        owner_queue="card-records",
        received_at=RECEIVED,
        sla_due_on=None,
        reasons=list(parsed.reasons),
        source=SOURCE,
    )


def validated_receipt_of(parsed: ParsedNotice) -> NoticeAcknowledged:
    """The same receipt built through full validation (a copy is not sealed)."""
    return receipt_of(dataclasses.replace(parsed))


PAYLOADS = [
    notice(),
    notice(resident_ref=f"R-{NUMBER}"),
    notice(application_id=GROUPED, details={"note": f"番号 {NUMBER}"}),
    notice(kind=None, sequence="x"),
    b"not json at all",
    notice(details={"a": NUMBER[:4], "b": NUMBER[4:8], "c": NUMBER[8:]}),
]


def test_only_what_the_parser_returned_is_sealed() -> None:
    parsed = parse_raw_notice(notice())
    assert parsed.redacted_by_parser
    assert not dataclasses.replace(parsed).redacted_by_parser
    by_hand = ParsedNotice(None, parsed.fields, (), False, b"", None, 0)
    assert not by_hand.redacted_by_parser


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_trusted_receipt_equals_the_validated_one(payload: bytes) -> None:
    parsed = parse_raw_notice(payload)
    trusted = receipt_of(parsed)
    assert trusted == validated_receipt_of(parsed)
    assert trusted.model_dump_json() == validated_receipt_of(parsed).model_dump_json()
    assert NUMBER not in trusted.model_dump_json()


def test_fields_not_from_the_parser_are_still_redacted() -> None:
    fields = NoticeFields(
        notice_id=f"N-{NUMBER}",
        kind=GROUPED,
        application_id=f"A {NUMBER}",
        resident_ref=NUMBER,
        details={"note": NUMBER},
    )
    by_hand = ParsedNotice(None, fields, (), False, b"", None, 0)
    receipt = receipt_of(by_hand)
    dumped = receipt.model_dump_json()
    assert NUMBER not in dumped
    assert NUMBER[:4] not in dumped
    assert receipt.resident_ref == REDACTION_MARKER


def test_a_copy_of_a_parsed_notice_with_other_fields_is_redacted() -> None:
    parsed = parse_raw_notice(notice())
    swapped = dataclasses.replace(parsed, fields=NoticeFields(notice_id=f"N-{NUMBER}"))
    assert NUMBER not in receipt_of(swapped).model_dump_json()
