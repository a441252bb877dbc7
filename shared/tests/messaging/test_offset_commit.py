"""Unit tests of the background committer's bookkeeping (the broker tests prove it on Kafka:
test_broker_reliability.py runs its commit tests in both modes)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition
from faststream.message import AckStatus
from mynaflow.messaging.offset_commit import BackgroundOffsetCommitter, next_offsets
from mynaflow.messaging.records import RawRecord


def record(partition: int, offset: int, topic: str = "t") -> RawRecord:
    return RawRecord(topic, partition, offset, None, b"{}", (), 0)


class RecordingConsumer:
    """Records the order commits started and finished in; the first one can be held."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[TopicPartition, int]]] = []
        self.release_first = asyncio.Event()

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.events.append(("start", offsets))
        if len(self.events) == 1:
            await self.release_first.wait()
        self.events.append(("done", offsets))


class FailingConsumer:
    async def commit(self, _offsets: dict[TopicPartition, int]) -> None:
        raise ConnectionError("broker away")


class Message:
    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.committed: AckStatus | None = None


def test_next_offsets_is_one_past_the_highest_record_of_each_partition() -> None:
    records = [record(0, 5), record(1, 9), record(0, 7), record(0, 6), record(1, 2, topic="u")]
    assert next_offsets(records) == {
        TopicPartition("t", 0): 8,
        TopicPartition("t", 1): 10,
        TopicPartition("u", 1): 3,
    }


async def test_commits_start_in_order_each_after_the_one_before_has_finished() -> None:
    consumer = RecordingConsumer()
    committer = BackgroundOffsetCommitter()
    first, second = Message(consumer), Message(consumer)

    await committer.commit(first, [record(0, 4)], wait=False)  # returns with its commit held
    assert first.committed is AckStatus.ACKED  # so FastStream's ack does not commit again
    second_commit = asyncio.create_task(committer.commit(second, [record(0, 9)], wait=False))
    for _ in range(5):  # let the second call run as far as it can: up to its wait on the first
        await asyncio.sleep(0)
    assert [kind for kind, _ in consumer.events] == ["start"]  # the second waits for the first

    consumer.release_first.set()
    await second_commit
    await committer.flush()
    assert consumer.events == [
        ("start", {TopicPartition("t", 0): 5}),
        ("done", {TopicPartition("t", 0): 5}),
        ("start", {TopicPartition("t", 0): 10}),
        ("done", {TopicPartition("t", 0): 10}),
    ]


async def test_a_failed_commit_is_logged_and_does_not_fail_the_next_batch(caplog: Any) -> None:
    committer = BackgroundOffsetCommitter()
    await committer.commit(Message(FailingConsumer()), [record(0, 1)], wait=True)
    await committer.commit(Message(FailingConsumer()), [record(0, 2)], wait=False)
    await committer.flush()
    assert [r.message for r in caplog.records].count(
        "offset commit failed; the next commit covers it"
    ) == 2


async def test_a_message_already_committed_or_without_a_consumer_is_left_alone() -> None:
    consumer = RecordingConsumer()
    committer = BackgroundOffsetCommitter()
    done = Message(consumer)
    done.committed = AckStatus.ACKED
    await committer.commit(done, [record(0, 1)], wait=True)
    await committer.commit(Message(None), [record(0, 1)], wait=True)
    assert consumer.events == []
