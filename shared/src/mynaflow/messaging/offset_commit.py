"""Committing a consumer's offsets without holding up its next fetch.

FastStream commits a batch's offsets inside the acknowledgement, and the consumer fetches the
next batch only after that commit's round trip to the broker (~6 ms on the benchmark machine,
a quarter of a batch's cycle at 1,000 notices/s). For a handler whose work is idempotent
against redelivery by its own records (notice-intake's per-partition marks, an inbox), the
commit need not be waited for: `BackgroundOffsetCommitter` starts it and lets the consumer go
on.

What stays exactly as before:
- offsets are committed only after the handler returned, that is after its transaction
  committed, and only the offsets of the records that handler was given (taken from the
  records, never from the consumer's position, which the next fetch moves);
- commits reach the broker in order: each waits for the one before it (which is normally long
  done: it had a whole batch's work to finish in);
- while the subscriber is stopping, the commit is awaited inline, so a graceful stop still
  reads again at most the batch that was in flight.

A commit that fails (a rebalance took the partition, the broker is away) is logged and left:
the next batch's commit covers the same partitions, and a record read again is recognised by
the handler's own deduplication. That is why this is opt-in (`reliable_subscriber(...,
background_commit=True)`), for handlers that have it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from aiokafka import TopicPartition
from faststream.message import AckStatus

from mynaflow.messaging.records import RawRecord

__all__ = ["BackgroundOffsetCommitter", "next_offsets"]

log = logging.getLogger(__name__)


class AckableMessage(Protocol):
    """What is used of FastStream's message: whether it is settled (its consumer is read with
    `getattr`: messages FastStream does not commit itself have none)."""

    committed: AckStatus | None


def next_offsets(records: Iterable[RawRecord]) -> dict[TopicPartition, int]:
    """The offset to commit per partition: one past the highest record handled there."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        offsets[partition] = max(offsets.get(partition, 0), record.offset + 1)
    return offsets


class BackgroundOffsetCommitter:
    """One subscriber's commits: started after each handled batch, in order (module doc)."""

    def __init__(self) -> None:
        self._in_flight: asyncio.Task[None] | None = None

    async def commit(
        self, message: AckableMessage, records: list[RawRecord], *, wait: bool
    ) -> None:
        """Commit `records`' offsets for `message`, which its handler has finished.

        Marks the message committed, so FastStream's acknowledgement does not commit again.
        A message FastStream does not commit itself (e.g. the in-memory test broker's) is left
        alone.
        """
        consumer = getattr(message, "consumer", None)
        if consumer is None or message.committed is not None or not records:
            return
        await self._settle_previous()
        message.committed = AckStatus.ACKED
        task = asyncio.create_task(self._commit(consumer, next_offsets(records)))
        self._in_flight = task
        if wait:
            await task

    async def flush(self) -> None:
        """Wait for the last commit started (its failure is already logged)."""
        await self._settle_previous()

    async def _settle_previous(self) -> None:
        previous, self._in_flight = self._in_flight, None
        if previous is not None:
            # `wait`, not `await`: the commit's own failure is logged there, not raised here.
            await asyncio.wait({previous})

    @staticmethod
    async def _commit(consumer: Any, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except Exception as error:
            # Left to the next batch's commit; a record read again is deduplicated (module doc).
            log.warning(
                "offset commit failed; the next commit covers it",
                extra={"error": type(error).__name__, "partitions": len(offsets)},
            )
