"""docs/events.md: every JSON example parses with the model of its type, and no type is missing."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import mynaflow.contracts
import pytest
from mynaflow.contracts import deadlines, intake, notifier, registry, resident
from mynaflow.contracts.dead_letter import (
    DEAD_LETTER_REPLAYED_V1,
    DeadLetteredMessage,
    DeadLetterReplayed,
    message_dead_lettered_type,
)
from mynaflow.contracts.envelope import (
    EVENT_TYPE_PREFIX,
    AnyCloudEvent,
    RawCloudEvent,
    encode_event,
)
from mynaflow.contracts.jlis import RawNotice, parse_raw_notice
from mynaflow.contracts.topics import SERVICE_TOPIC_PREFIX, SERVICES
from pydantic import BaseModel

pytestmark = pytest.mark.unit

CATALOGUE = Path(__file__).resolve().parents[3] / "docs" / "events.md"
JSON_BLOCK = re.compile(r"```json\n(.*?)\n```", re.DOTALL)
DEAD_LETTERED = re.compile(r"^jp\.mynaflow\.[a-z-]+\.message-dead-lettered\.v1$")
# A whole event type (not the bare prefix, which the modules import too).
EVENT_TYPE = re.compile(rf"^{re.escape(EVENT_TYPE_PREFIX)}[a-z-]+(\.[a-z-]+)+\.v[0-9]+$")

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
    resident.MOVED_IN_V1: resident.ResidentMovedIn,
    resident.MOVED_OUT_V1: resident.ResidentMovedOut,
    resident.REGISTERED_V1: resident.ResidentUpserted,
    resident.CHANGED_V1: resident.ResidentUpserted,
    **registry.COMMAND_MODELS,
    **registry.EVENT_MODELS,
    **notifier.COMMAND_MODELS,
    **notifier.EVENT_MODELS,
    DEAD_LETTER_REPLAYED_V1: DeadLetterReplayed,
}


def emittable_types() -> set[str]:
    """Every event type the code can emit, collected from the contracts, not listed by hand.

    That is every module-level `jp.mynaflow.…` string constant of every module of
    `mynaflow.contracts` (a new module or constant is picked up on its own), and the dead-letter
    type of every service.
    """
    found: set[str] = set()
    for info in pkgutil.iter_modules(mynaflow.contracts.__path__):
        module = importlib.import_module(f"{mynaflow.contracts.__name__}.{info.name}")
        found |= {
            value
            for name, value in vars(module).items()
            if name.isupper() and isinstance(value, str) and EVENT_TYPE.match(value)
        }
    found |= {message_dead_lettered_type(service) for service in SERVICES}
    return found


def examples() -> list[dict[str, Any]]:
    return [json.loads(block) for block in JSON_BLOCK.findall(CATALOGUE.read_text("utf-8"))]


def model_for(event_type: str) -> type[BaseModel] | None:
    if DEAD_LETTERED.match(event_type):
        return DeadLetteredMessage
    return MODELS.get(event_type)


def test_the_collection_of_types_finds_every_kind() -> None:
    """Guards the collector itself: if it silently found nothing, completeness would pass."""
    types = emittable_types()
    assert {
        *intake.EVENT_TYPES,
        *deadlines.REQUEST_TYPES,
        *deadlines.EVENT_TYPES,
        *notifier.COMMAND_TYPES,
        *notifier.EVENT_TYPES,
    } <= types
    assert {*resident.EVENT_TYPES, *registry.COMMAND_TYPES, *registry.EVENT_TYPES} <= types
    assert message_dead_lettered_type("deadline-watcher") in types
    assert set(MODELS) <= types, "a type in MODELS that the contracts no longer define"


def test_every_type_the_code_can_emit_has_an_example() -> None:
    documented = {example.get("type") for example in examples()}
    assert emittable_types() - documented == set()


def test_every_type_the_code_can_emit_has_a_model_here() -> None:
    assert {t for t in emittable_types() if model_for(t) is None} == set()


def test_dead_letter_examples_come_from_the_service_of_their_prefix() -> None:
    service_of_prefix = {prefix: service for service, prefix in SERVICE_TOPIC_PREFIX.items()}
    for example in examples():
        if DEAD_LETTERED.match(str(example.get("type"))):
            prefix = example["type"].removeprefix(EVENT_TYPE_PREFIX).split(".")[0]
            assert example["source"] == service_of_prefix[prefix], example["id"]


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
    data = model.model_validate(envelope.data)
    # Exactly what a producer writes for it: no field missing, none unknown, canonical formats.
    event = AnyCloudEvent.model_validate({**example, "data": data})
    assert json.loads(encode_event(event)) == example


def test_the_raw_notice_example_is_accepted_by_the_parser() -> None:
    (raw,) = [e for e in examples() if "type" not in e and "notice_id" in e]
    RawNotice.model_validate(raw)
    assert parse_raw_notice(json.dumps(raw).encode()).accepted
