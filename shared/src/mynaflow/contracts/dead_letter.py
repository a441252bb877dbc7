"""`<prefix>.dead-letter`: poison messages a service gave up on, one event per source message.

The event's `source` is the service, its `subject` the original key (or `topic/partition/offset`
when there was none). Individual numbers are redacted before the event is built, in every field.
"""

from __future__ import annotations

from datetime import datetime

from mynaflow.contracts.envelope import EVENT_TYPE_PREFIX, EventData
from mynaflow.contracts.topics import SERVICE_TOPIC_PREFIX

MESSAGE_DEAD_LETTERED = "message-dead-lettered.v1"


def message_dead_lettered_type(service: str) -> str:
    """`jp.mynaflow.<prefix>.message-dead-lettered.v1` for a service of the catalogue."""
    return f"{EVENT_TYPE_PREFIX}{SERVICE_TOPIC_PREFIX[service]}.{MESSAGE_DEAD_LETTERED}"


class DeadLetteredMessage(EventData):
    source_topic: str
    partition: int
    offset: int
    key: str | None
    # Why the message can never succeed (e.g. "invalid-json", "schema", a rule name).
    reason: str
    # The error text, redacted.
    error: str
    # The original bytes with individual numbers redacted, base64-encoded.
    original_base64: str
    # How many individual numbers were redacted from the payload, key, reason and error.
    redactions: int
    dead_lettered_at: datetime
