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
    # The original bytes with individual numbers redacted, base64-encoded: at most the first
    # 16 KiB of them (`original_truncated`), so the event always fits in a Kafka record. The
    # service's `dead_letters` row keeps them all, for a replay.
    original_base64: str
    # Length and SHA-256 (hex) of all the redacted original bytes; None in events written before
    # they were added.
    original_length: int | None = None
    original_sha256: str | None = None
    original_truncated: bool = False
    # How many individual numbers were redacted from the payload, key, reason and error.
    redactions: int
    dead_lettered_at: datetime


# `mynaflow dead-letters replay` re-published a dead letter to its source topic. Written by the
# operator CLI (`source` "mynaflow-cli") on the service's dead-letter topic, keyed
# `<service>:<dead letter id>`, *before* the record is re-published: a second replay of the same
# dead letter is refused unless the operator asks for it again.
DEAD_LETTER_REPLAYED_V1 = "jp.mynaflow.operator.dead-letter-replayed.v1"


class DeadLetterReplayed(EventData):
    service: str
    dead_letter_id: int
    source_topic: str
    partition: int
    offset: int
    # SHA-256 (hex) of the re-published bytes: the stored, redacted original.
    original_sha256: str
    replayed_by: str
    replayed_at: datetime
