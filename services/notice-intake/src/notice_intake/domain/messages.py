"""A raw message from `jlis.notices.raw`, as the service layer sees it (no broker types)."""

from __future__ import annotations

from dataclasses import dataclass

from mynaflow.contracts.intake import MessageCoordinates


@dataclass(frozen=True)
class RawNoticeMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @property
    def coordinates(self) -> MessageCoordinates:
        return MessageCoordinates(topic=self.topic, partition=self.partition, offset=self.offset)
