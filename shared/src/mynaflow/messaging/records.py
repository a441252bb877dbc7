"""Kafka records as they were read: the coordinates and bytes dead letters and quarantine keep."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faststream.message import StreamMessage

__all__ = ["RawRecord", "record_of", "records_of"]


@dataclass(frozen=True)
class RawRecord:
    """One Kafka record as it was read: what dead letters and quarantine records keep."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    # A header value may be null (None): Kafka allows it.
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp_ms: int

    @classmethod
    def from_consumer_record(cls, record: Any) -> RawRecord:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=_as_bytes(record.key),
            value=_as_bytes(record.value) or b"",
            headers=tuple((name, _as_bytes(value)) for name, value in (record.headers or ())),
            timestamp_ms=record.timestamp,
        )


def _as_bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def records_of(message: StreamMessage[Any]) -> list[RawRecord]:
    """The raw records behind a FastStream message (one, or all of a batch)."""
    raw = message.raw_message
    raw_records = raw if isinstance(raw, tuple | list) else (raw,)
    return [RawRecord.from_consumer_record(record) for record in raw_records]


def record_of(message: StreamMessage[Any]) -> RawRecord:
    """The raw record behind a single (non-batch) message.

    In a handler: `async def on_x(event: Model, message: KafkaMessage) -> None` with
    `from faststream.kafka.annotations import KafkaMessage`, then `record_of(message)`.
    """
    records = records_of(message)
    if len(records) != 1:
        raise ValueError(f"expected one record, got {len(records)}: use records_of()")
    return records[0]
