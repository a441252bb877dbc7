"""`resident.moves`: what the resident registry system (住民基本台帳システム) tells card-registry.

Four event types share the topic (CloudEvents, structured JSON), each keyed (and subjected) by
`resident_id`, so one resident's events stay in order:

- `jp.mynaflow.resident.moved-in.v1` (`ResidentMovedIn`): a move-in (転入) was notified;
  `notified_on` (転入届出日, a JST date) starts the 90-day chip-rewrite period.
- `jp.mynaflow.resident.moved-out.v1` (`ResidentMovedOut`): the resident moved away.
- `jp.mynaflow.resident.registered.v1` / `jp.mynaflow.resident.changed.v1` (`ResidentUpserted`):
  an upsert of the resident's record.

A J-LIS notice's `resident_ref` is the same id as `resident_id`. Every event may carry
`postal_code` and `name_kana`, for letters. These events carry names and addresses but never an
individual number (個人番号): the producer sends internal references only.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field

from mynaflow.contracts.envelope import CloudEvent, EventData, make_event

MOVED_IN_V1 = "jp.mynaflow.resident.moved-in.v1"
MOVED_OUT_V1 = "jp.mynaflow.resident.moved-out.v1"
REGISTERED_V1 = "jp.mynaflow.resident.registered.v1"
CHANGED_V1 = "jp.mynaflow.resident.changed.v1"
EVENT_TYPES = (MOVED_IN_V1, MOVED_OUT_V1, REGISTERED_V1, CHANGED_V1)

# The producer is outside the project: the ward's resident registry system.
SOURCE = "resident-registry"


class ResidentEvent(EventData):
    """Fields every resident event has: who, which household, and the optional letter fields."""

    resident_id: str = Field(min_length=1)
    household_id: str = Field(min_length=1)
    postal_code: str | None = None
    name_kana: str | None = None

    def kafka_key(self) -> str:
        """Kafka key and CloudEvent subject: the resident id (one resident's events in order)."""
        return self.resident_id


class ResidentMovedIn(ResidentEvent):
    """`jp.mynaflow.resident.moved-in.v1`: a move-in (転入) notified on `notified_on`.

    `card_id` is null when the resident holds no My Number Card; `card_presented` says whether
    the card was brought to the counter. A resident with a card gets a move-in case whether or
    not it was presented: the 90-day period runs either way.
    """

    notified_on: date
    moved_in_on: date
    name: str
    address: str
    birth_date: date
    card_id: str | None = None
    card_presented: bool = False
    email: str | None = None
    phone: str | None = None


class ResidentMovedOut(ResidentEvent):
    """`jp.mynaflow.resident.moved-out.v1`: the resident moved away (転出)."""

    moved_out_on: date
    notified_on: date


class ResidentUpserted(ResidentEvent):
    """`jp.mynaflow.resident.registered.v1` and `.changed.v1`: the resident's current record."""

    name: str
    address: str
    birth_date: date
    email: str | None = None
    phone: str | None = None


def resident_event(
    data: ResidentEvent, *, event_type: str, time: datetime | None = None
) -> CloudEvent[Any]:
    """The CloudEvent for a resident event; publish it with Kafka key `data.kafka_key()`."""
    event = make_event(source=SOURCE, event_type=event_type, data=data, subject=data.kafka_key())
    return event if time is None else event.model_copy(update={"time": time})
