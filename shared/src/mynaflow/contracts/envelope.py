"""The CloudEvents 1.0 envelope, structured JSON mode (`application/cloudevents+json`).

Every event a mynaflow service emits is one of these. `data` is a pydantic model from the topic's
contract module; consumers parse `data` with the model they expect and ignore unknown fields.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from mynaflow.domain.ids import new_id_text

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
EVENT_TYPE_PREFIX = "jp.mynaflow."

DataT = TypeVar("DataT", bound=BaseModel)


def new_event_id() -> str:
    """A random version 4 UUID's text that never reads as an individual number (see `ids`)."""
    return new_id_text()


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventData(BaseModel):
    """Base for every event payload: unknown fields are ignored, so producers may add fields."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class CloudEvent(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 event. Extension attributes other systems add are kept, not rejected."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    specversion: str = "1.0"
    id: str = Field(default_factory=new_event_id)
    source: str
    type: str
    time: datetime = Field(default_factory=utc_now)
    subject: str | None = None
    datacontenttype: str = "application/json"
    data: DataT


class RawCloudEvent(CloudEvent[Any]):
    """An event whose `data` is not parsed yet: dispatch on `type`, then parse `data`."""

    data: dict[str, Any]


# Parametrising a generic model is a lookup in pydantic's cache on every call (~40 µs, measured
# in the deadline-watcher benchmark); resolve it once.
AnyCloudEvent = CloudEvent[Any]


def make_event(
    *, source: str, event_type: str, data: BaseModel, subject: str | None = None
) -> CloudEvent[Any]:
    """Wrap a payload in an envelope with a fresh id and the current UTC time."""
    return AnyCloudEvent(source=source, type=event_type, subject=subject, data=data)


def encode_event(event: CloudEvent[Any]) -> bytes:
    """Structured-mode JSON bytes, as written to Kafka."""
    return event.model_dump_json(exclude_none=False).encode("utf-8")


def decode_event(payload: bytes | str) -> RawCloudEvent:
    """Parse structured-mode bytes. Raises `pydantic.ValidationError` on a malformed envelope."""
    return RawCloudEvent.model_validate_json(payload)
