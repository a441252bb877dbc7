"""Per-partition progress: which messages of a batch are new, and when offsets went backwards.

Each partition has a mark, the highest offset applied. A message above it is new. A message at
or below it is usually a redelivery (applied by a transaction whose Kafka offset commit was
lost), but offsets can also go backwards for real: the topic was deleted and re-created, the
broker lost its data, or the ward moved to another cluster. New notices then arrive at offsets
already used. So a message behind the mark counts as a redelivery only if what it carries was
receipted before; anything else is a new notice at a reused offset and is receipted. The mark
itself never moves down: a consumer group reset to the earliest offset must still change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

from notice_intake.domain.messages import RawNoticeMessage

PartitionKey = tuple[str, int]
Coordinates = tuple[str, int, int]


def partition_of(message: RawNoticeMessage) -> PartitionKey:
    return (message.topic, message.partition)


def coordinates_of(message: RawNoticeMessage) -> Coordinates:
    return (message.topic, message.partition, message.offset)


def is_behind_mark(message: RawNoticeMessage, marks: Mapping[PartitionKey, int]) -> bool:
    return message.offset <= marks.get(partition_of(message), -1)


def highest_offsets(messages: Iterable[RawNoticeMessage]) -> dict[PartitionKey, int]:
    highest: dict[PartitionKey, int] = {}
    for m in messages:
        highest[partition_of(m)] = max(highest.get(partition_of(m), -1), m.offset)
    return highest


@dataclass(frozen=True)
class ReceiptedBefore:
    """What the receipts say was applied: notice ids, and the redacted bytes of receipts with no
    readable notice id (stored by their coordinates)."""

    notice_ids: Set[str]
    unreadable_at: Mapping[Coordinates, Set[bytes]]

    def holds(self, notice_id: str | None, message: RawNoticeMessage, redacted: bytes) -> bool:
        """True when this message (or a copy of it) was receipted before."""
        if notice_id is not None and notice_id in self.notice_ids:
            return True
        # A notice id the database refused is stored without it, as redacted bytes.
        return redacted in self.unreadable_at.get(coordinates_of(message), set())


@dataclass(frozen=True)
class Rewind:
    """A partition whose offsets went backwards: new notices found behind its mark."""

    topic: str
    partition: int
    mark: int
    first_offset: int
    notices: int


def rewinds(
    new_behind: Iterable[RawNoticeMessage], marks: Mapping[PartitionKey, int]
) -> list[Rewind]:
    """One entry per partition where a never-receipted message sat at or below the mark."""
    found: dict[PartitionKey, list[int]] = {}
    for m in new_behind:
        found.setdefault(partition_of(m), []).append(m.offset)
    return [
        Rewind(topic, partition, marks[(topic, partition)], min(offsets), len(offsets))
        for (topic, partition), offsets in sorted(found.items())
    ]
