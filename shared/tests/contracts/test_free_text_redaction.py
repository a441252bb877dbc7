"""Free text in the registry's and the notifier's contracts is redacted at the boundary.

A staff member's note, a rejection message or a delivery error may carry an individual number
typed by a person or echoed by a remote system; the model keeps the rest of the text and
replaces the number (docs/domain.md, "Personal data"), so the message is still applied.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from mynaflow.contracts.notifier import ApologyBatchRefused, DeliveryFailed, DeliveryLogged
from mynaflow.contracts.registry import CommandOutcome, NoticeResolved, ResolveNotice
from mynaflow.domain.personal_number import REDACTION_MARKER, personal_number_check_digit
from pydantic import BaseModel

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 3, 1, tzinfo=UTC)


def individual_number(first11: str) -> str:
    """A valid 個人番号 built from docs/domain.md's formula (never a real person's)."""
    return first11 + str(personal_number_check_digit(first11))


NUMBER = individual_number("27182818284")
TEXT = f"住民が番号 {NUMBER} を伝えた"


def delivery(**fields: Any) -> dict[str, Any]:
    return {
        "delivery_id": uuid4(),
        "idempotency_key": "e1:R-1:email",
        "source_event_id": "e1",
        "recipient_id": "R-1",
        "recipient_kind": "resident",
        "channel": "email",
        "template": "card_expired",
        **fields,
    }


FREE_TEXT_MODELS: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (
        ResolveNotice,
        {"staff_id": "S-1", "notice_id": "N-1", "resolution": "done", "note": TEXT},
        "note",
    ),
    (ResolveNotice, {"staff_id": "S-1", "notice_id": "N-1", "resolution": TEXT}, "resolution"),
    (
        CommandOutcome,
        {
            "command_id": "c1",
            "command_type": "jp.mynaflow.registry.resolve-notice.v1",
            "staff_id": "S-1",
            "performed_at": NOW,
            "reason": "unknown_notice",
            "message": TEXT,
        },
        "message",
    ),
    (
        NoticeResolved,
        {
            "work_item_id": "w1",
            "notice_id": "N-1",
            "receipt_id": uuid4(),
            "queue": "card-records",
            "kind": "record_update_required",
            "resolution": "done",
            "note": TEXT,
            "resolved_by": "S-1",
            "resolved_at": NOW,
        },
        "note",
    ),
    (DeliveryLogged, delivery(status="retrying", error=TEXT, logged_at=NOW), "error"),
    (DeliveryFailed, delivery(attempts=5, error=TEXT, failed_at=NOW), "error"),
]


@pytest.mark.parametrize(("model", "fields", "field"), FREE_TEXT_MODELS)
def test_free_text_loses_the_number_and_keeps_the_rest(
    model: type[BaseModel], fields: dict[str, Any], field: str
) -> None:
    built = model.model_validate(fields)
    value = getattr(built, field)
    assert NUMBER not in value
    assert REDACTION_MARKER in value
    assert value.startswith("住民が番号")
    assert NUMBER not in built.model_dump_json()


def test_a_refused_batch_message_is_redacted() -> None:
    refused = ApologyBatchRefused.model_validate(
        {
            "batch_id": "b1",
            "staff_id": "S-1",
            "reason": "same_staff",
            "message": TEXT,
            "refused_at": NOW,
        }
    )
    assert NUMBER not in refused.model_dump_json()
