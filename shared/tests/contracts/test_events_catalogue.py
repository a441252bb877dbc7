"""docs/events.md: every JSON example parses with the model of its type, and no type is missing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from mynaflow.contracts import deadlines, intake
from mynaflow.contracts.dead_letter import DeadLetteredMessage, message_dead_lettered_type
from mynaflow.contracts.envelope import RawCloudEvent
from mynaflow.contracts.jlis import RawNotice, parse_raw_notice
from pydantic import BaseModel

pytestmark = pytest.mark.unit

CATALOGUE = Path(__file__).resolve().parents[3] / "docs" / "events.md"
JSON_BLOCK = re.compile(r"```json\n(.*?)\n```", re.DOTALL)
DEAD_LETTERED = re.compile(r"^jp\.mynaflow\.[a-z-]+\.message-dead-lettered\.v1$")

MODELS: dict[str, type[BaseModel]] = {
    intake.NOTICE_ACKNOWLEDGED_V1: intake.NoticeAcknowledged,
    intake.SEQUENCE_GAP_DETECTED_V1: intake.SequenceGapDetected,
    intake.SEQUENCE_GAP_CLOSED_V1: intake.SequenceGapClosed,
    deadlines.SCHEDULE_DEADLINE_V1: deadlines.ScheduleDeadline,
    deadlines.CLEAR_DEADLINE_V1: deadlines.ClearDeadline,
    deadlines.DEADLINE_SCHEDULED_V1: deadlines.DeadlineEvent,
    deadlines.DEADLINE_STAGE_REACHED_V1: deadlines.DeadlineEvent,
    deadlines.DEADLINE_BREACHED_V1: deadlines.DeadlineEvent,
    deadlines.DEADLINE_CLEARED_V1: deadlines.DeadlineEvent,
    deadlines.DEADLINE_DIGEST_DUE_V1: deadlines.DigestDue,
    deadlines.DEADLINE_HEARTBEAT_V1: deadlines.Heartbeat,
}
# Types whose example must be on the page (other services add theirs with their sections).
REQUIRED = {
    *intake.EVENT_TYPES,
    *deadlines.REQUEST_TYPES,
    message_dead_lettered_type("notice-intake"),
}


def examples() -> list[dict[str, Any]]:
    return [json.loads(block) for block in JSON_BLOCK.findall(CATALOGUE.read_text("utf-8"))]


def model_for(event_type: str) -> type[BaseModel] | None:
    if DEAD_LETTERED.match(event_type):
        return DeadLetteredMessage
    return MODELS.get(event_type)


def test_every_required_type_has_an_example() -> None:
    documented = {example.get("type") for example in examples()}
    assert REQUIRED - documented == set()


@pytest.mark.parametrize(
    "example",
    [e for e in examples() if "type" in e],
    ids=lambda e: str(e.get("type")),
)
def test_each_event_example_parses_with_its_model(example: dict[str, Any]) -> None:
    envelope = RawCloudEvent.model_validate(example)
    assert envelope.specversion == "1.0"
    model = model_for(envelope.type)
    if model is None:
        pytest.fail(f"no model known for {envelope.type}: add it to MODELS in this test")
    model.model_validate(envelope.data)


def test_the_raw_notice_example_is_accepted_by_the_parser() -> None:
    (raw,) = [e for e in examples() if "type" not in e and "notice_id" in e]
    RawNotice.model_validate(raw)
    assert parse_raw_notice(json.dumps(raw).encode()).accepted
