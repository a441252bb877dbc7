"""Service tests of the broker factory against the real Kafka and PostgreSQL.

Invariants, stated as sets and sequences (Jepsen-style): every input number is applied exactly
once, in order within the partition; nothing after a failed message is committed before it; a
poison message is dead-lettered (table and topic, original bytes kept) and the partition goes on.

Every test publishes numbers under one key (so one partition and its order), and consumes them
with a subscriber that inserts each number into `applied` in one transaction and then calls the
test's `fail(n)`: raising there rolls the insert back, as a failing handler's transaction would.
"""

# FastStream's subscriber objects are untyped callables; decorating a handler with one is the
# test's way to register it, so mypy may not insist on typed decorators here.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from mynaflow.contracts.topics import REGISTRY_COMMANDS
from mynaflow.messaging.broker import make_broker
from mynaflow.messaging.dead_letter import DeadLetterSink
from mynaflow.messaging.errors import PoisonMessage, TransientError
from mynaflow.messaging.outbox import OutboxRelay
from mynaflow.messaging.records import records_of
from mynaflow.messaging.reliable_consume import RetryPolicy, reliable_subscriber
from mynaflow.messaging.topics_admin import kafka_client_options
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.kafka_helpers import consume_until, produce, wait_for_committed
from mynaflow_testing.waiting import wait_for
from pydantic import BaseModel

pytestmark = pytest.mark.service

SERVICE = "card-registry"  # any catalogue service: its dead-letter topic is registry.dead-letter
GROUP = "reliability"
FAST_RETRY = RetryPolicy(first_backoff_s=0.05, max_backoff_s=0.2, unhandled_attempts=3)
ONE_KEY = "aggregate-1"  # one key, so all records share a partition and its order
# The same guarantees whether FastStream commits or mynaflow's background committer does.
COMMIT_MODES = pytest.mark.parametrize(
    "background_commit", [False, True], ids=["inline_commit", "background_commit"]
)

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
Fail = Callable[[int], None]


class Numbered(BaseModel):
    n: int


def never(_n: int) -> None:
    return None


def numbers_json(numbers: range) -> list[bytes | str]:
    return [json.dumps({"n": n}) for n in numbers]


@dataclass
class Harness:
    """Publishes numbers, runs subscribers that apply them, and reads what happened."""

    settings: MynaflowSettings
    pool: Pool
    brokers: list[KafkaBroker] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return self.settings.topic_prefix + REGISTRY_COMMANDS.name

    @property
    def group(self) -> str:
        return self.settings.topic_prefix + GROUP

    async def publish(
        self, values: list[bytes | str], headers: list[tuple[str, bytes]] | None = None
    ) -> int:
        """Publish under one key; returns the partition they all went to."""
        coordinates = await produce(self.settings, self.topic, values, key=ONE_KEY, headers=headers)
        (partition,) = {partition for partition, _ in coordinates}
        return partition

    async def consume(
        self, fail: Fail = never, *, batch: bool = False, **options: Any
    ) -> KafkaBroker:
        """Start a broker whose subscriber applies each number, then calls `fail(n)`."""
        broker = make_broker(self.settings, service=SERVICE)
        subscriber = reliable_subscriber(
            broker,
            REGISTRY_COMMANDS,
            group_id=GROUP,
            dead_letter=DeadLetterSink(
                self.pool, service=SERVICE, topic_prefix=self.settings.topic_prefix
            ),
            retry=FAST_RETRY,
            batch=batch,
            **options,
        )
        if batch:

            @subscriber
            async def apply_batch(commands: list[Numbered], message: KafkaMessage) -> None:
                self.batch_sizes.append(len(commands))
                await self.apply([c.n for c in commands], message, fail)

        else:

            @subscriber
            async def apply(command: Numbered, message: KafkaMessage) -> None:
                await self.apply([command.n], message, fail)

        self.brokers.append(broker)
        await broker.start()
        return broker

    async def apply(self, numbers: list[int], message: Any, fail: Fail) -> None:
        """The handler's unit of work: insert, then maybe fail (which rolls the insert back)."""
        async with self.pool.acquire() as conn, conn.transaction():
            for number, record in zip(numbers, records_of(message), strict=True):
                await conn.execute(
                    'INSERT INTO applied (n, "partition", "offset") VALUES ($1, $2, $3)',
                    number,
                    record.partition,
                    record.offset,
                )
                fail(number)

    async def applied(self) -> list[int]:
        return [row["n"] for row in await self.pool.fetch("SELECT n FROM applied ORDER BY id")]

    async def applied_and_committed(self, count: int, partition: int, offset: int) -> list[int]:
        """Wait until `count` numbers are applied and the group committed `offset`."""
        numbers = await wait_for(
            self.applied, until=lambda got: len(got) >= count, what=f"{count} applied"
        )
        await wait_for_committed(self.settings, self.group, self.topic, {partition: offset})
        return numbers

    async def dead_letters(self) -> list[tuple[int, str]]:
        rows = await self.pool.fetch('SELECT "offset", reason FROM dead_letters ORDER BY "offset"')
        return [(row["offset"], row["reason"]) for row in rows]


@pytest.fixture
async def harness(kafka_settings: MynaflowSettings, platform_pool: Pool) -> AsyncIterator[Harness]:
    await platform_pool.execute(
        """
        CREATE TABLE applied (
            id          bigserial PRIMARY KEY,
            n           integer NOT NULL,
            "partition" integer NOT NULL,
            "offset"    bigint  NOT NULL
        )
        """
    )
    harness = Harness(kafka_settings, platform_pool)
    yield harness
    for broker in harness.brokers:  # stopped whatever the test did
        await broker.stop()


@pytest.fixture
async def outbox_relay(harness: Harness) -> AsyncIterator[None]:
    """The test schema's outbox relay, publishing dead-letter events to Kafka."""
    producer = AIOKafkaProducer(
        acks="all", enable_idempotence=True, **kafka_client_options(harness.settings)
    )
    await producer.start()
    schema = await harness.pool.fetchval("SELECT current_schema()")
    relay = OutboxRelay(harness.pool, producer, schema=schema, service=SERVICE)
    task = asyncio.create_task(relay.run())
    yield
    await relay.stop()
    await task
    await producer.stop()


@COMMIT_MODES
async def test_a_transient_failure_on_message_3_of_10_is_retried_never_skipped(
    harness: Harness, background_commit: bool
) -> None:
    partition = await harness.publish(numbers_json(range(10)))
    failures_left = [2]

    def fail_twice_on_3(n: int) -> None:
        if n == 3 and failures_left[0]:
            failures_left[0] -= 1
            raise TransientError("database blip")

    await harness.consume(fail_twice_on_3, background_commit=background_commit)
    numbers = await harness.applied_and_committed(10, partition, 10)

    assert numbers == list(range(10))  # each exactly once, in partition order
    assert failures_left == [0]  # message 3 really failed twice before it passed
    offsets = await harness.pool.fetch('SELECT "offset" FROM applied ORDER BY id')
    assert [row["offset"] for row in offsets] == list(range(10))  # raw coordinates
    assert await harness.dead_letters() == []


@COMMIT_MODES
async def test_stopping_while_message_3_is_retried_commits_nothing_past_it(
    harness: Harness, background_commit: bool
) -> None:
    partition = await harness.publish(numbers_json(range(10)))
    attempts_on_3: list[int] = []

    def always_fail_on_3(n: int) -> None:
        if n == 3:
            attempts_on_3.append(n)
            raise TransientError("database down")

    async def attempts() -> int:
        return len(attempts_on_3)

    first = await harness.consume(always_fail_on_3, background_commit=background_commit)
    await wait_for(attempts, until=lambda count: count >= 3, what="3 attempts on message 3")
    await first.stop()

    assert await harness.applied() == [0, 1, 2]
    await wait_for_committed(harness.settings, harness.group, harness.topic, {partition: 3})

    # The restarted consumer resumes at message 3.
    await harness.consume(background_commit=background_commit)
    assert await harness.applied_and_committed(10, partition, 10) == list(range(10))


@pytest.mark.usefixtures("outbox_relay")
async def test_poison_messages_are_dead_lettered_with_reason_and_bytes_and_the_rest_applied(
    harness: Harness,
) -> None:
    bad_json = b'{"n": 3, oops'
    wrong_schema = b'{"number": "four"}'
    rule_violation = json.dumps({"n": -5}).encode()
    poison: list[bytes | str] = [bad_json, wrong_schema, rule_violation]
    partition = await harness.publish(
        [*numbers_json(range(3)), *poison, *numbers_json(range(6, 10))]
    )

    def reject_negative(n: int) -> None:
        if n < 0:
            raise PoisonMessage("negative_number", f"n={n}")

    await harness.consume(reject_negative)
    numbers = await harness.applied_and_committed(7, partition, 10)
    dead_letter_topic = harness.settings.topic_prefix + "registry.dead-letter"
    published = await consume_until(harness.settings, dead_letter_topic, lambda r: len(r) >= 3)

    assert numbers == [0, 1, 2, 6, 7, 8, 9]
    rows = await harness.pool.fetch(
        'SELECT "offset", reason, payload, source_topic FROM dead_letters ORDER BY "offset"'
    )
    assert [(r["offset"], r["reason"], bytes(r["payload"])) for r in rows] == [
        (3, "bad_json", bad_json),
        (4, "schema_invalid", wrong_schema),
        (5, "negative_number", rule_violation),
    ]
    assert {r["source_topic"] for r in rows} == {harness.topic}
    events = [json.loads(record.value) for record in published]
    assert [(e["data"]["offset"], e["data"]["reason"]) for e in events] == [
        (3, "bad_json"),
        (4, "schema_invalid"),
        (5, "negative_number"),
    ]
    originals = [base64.b64decode(e["data"]["original_base64"]) for e in events]
    assert originals == poison


def bug_on_2(attempts: list[int]) -> Fail:
    """A handler with a programming error on message 2; each attempt on it goes to `attempts`."""

    def fail(n: int) -> None:
        if n == 2:
            attempts.append(n)
            raise KeyError("a programming error")

    return fail


async def test_an_unknown_error_is_retried_then_dead_lettered_as_unhandled(
    harness: Harness,
) -> None:
    partition = await harness.publish(numbers_json(range(6)))
    attempts_on_2: list[int] = []

    await harness.consume(bug_on_2(attempts_on_2))
    numbers = await harness.applied_and_committed(5, partition, 6)

    assert numbers == [0, 1, 3, 4, 5]
    assert len(attempts_on_2) == FAST_RETRY.unhandled_attempts
    assert await harness.dead_letters() == [(2, "unhandled_error")]
    error = await harness.pool.fetchval("SELECT error FROM dead_letters")
    assert "KeyError" in error


@COMMIT_MODES
async def test_a_batch_with_a_poison_record_applies_the_others_once_and_commits_all(
    harness: Harness, background_commit: bool
) -> None:
    partition = await harness.publish(
        [*numbers_json(range(4)), b"not json", *numbers_json(range(5, 9))]
    )
    failures_left = [1]

    def fail_once_on_6(n: int) -> None:
        if n == 6 and failures_left[0]:
            failures_left[0] -= 1
            raise ConnectionResetError("broker hiccup")

    await harness.consume(
        fail_once_on_6, batch=True, max_records=5, background_commit=background_commit
    )
    numbers = await harness.applied_and_committed(8, partition, 9)

    assert numbers == [0, 1, 2, 3, 5, 6, 7, 8]
    assert max(harness.batch_sizes) > 1  # really consumed as batches
    assert failures_left == [0]
    assert await harness.dead_letters() == [(4, "bad_json")]


async def test_a_record_with_a_non_utf8_header_is_processed_not_skipped(
    harness: Harness,
) -> None:
    await harness.publish(numbers_json(range(2)))
    # FastStream decodes headers as UTF-8 before any middleware runs; left to itself it cannot
    # even build the message and the record is skipped without a trace.
    await harness.publish([json.dumps({"n": 2})], headers=[("trace", b"\xff")])
    partition = await harness.publish(numbers_json(range(3, 5)))

    await harness.consume()

    assert await harness.applied_and_committed(5, partition, 5) == [0, 1, 2, 3, 4]
    assert await harness.dead_letters() == []


async def produce_hostile(
    settings: MynaflowSettings,
    topic: str,
    records: list[tuple[bytes | None, bytes, list[tuple[str, bytes | None]]]],
) -> int:
    """Publish (key, value, headers) records to partition 0, as a foreign producer might."""
    producer = AIOKafkaProducer(acks="all", **kafka_client_options(settings))
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers, partition=0)
    finally:
        await producer.stop()
    return 0


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batch"])
async def test_null_header_values_and_a_nul_in_a_poison_key_are_recorded_and_passed(
    harness: Harness, batch: bool
) -> None:
    # A Java adapter's tracing header with a null value, on good records and on a poison one
    # whose key holds a NUL byte (PostgreSQL's text refuses it).
    null_trace: list[tuple[str, bytes | None]] = [("traceparent", None)]
    partition = await produce_hostile(
        harness.settings,
        harness.topic,
        [
            (b"k", b'{"n": 0}', null_trace),
            (b"k\x00ey", b"not json", null_trace),
            (b"k", b'{"n": 2}', [("traceparent", None), ("content-type", b"application/json")]),
            (b"k", b'{"n": 3}', []),
        ],
    )

    await harness.consume(batch=batch, max_records=10 if batch else None)

    assert await harness.applied_and_committed(3, partition, 4) == [0, 2, 3]
    assert await harness.dead_letters() == [(1, "bad_json")]
    key = await harness.pool.fetchval("SELECT key FROM dead_letters")
    assert bytes(key) == b"k\x00ey"


async def test_a_batch_hitting_a_bug_dead_letters_only_the_record_that_triggers_it(
    harness: Harness,
) -> None:
    partition = await harness.publish(numbers_json(range(6)))
    attempts_on_2: list[int] = []

    await harness.consume(bug_on_2(attempts_on_2), batch=True, max_records=5)
    numbers = await harness.applied_and_committed(5, partition, 6)

    assert numbers == [0, 1, 3, 4, 5]
    assert await harness.dead_letters() == [(2, "unhandled_error")]
    # Retried with its batch, then once on its own: not the full count again per record.
    assert len(attempts_on_2) in {FAST_RETRY.unhandled_attempts, FAST_RETRY.unhandled_attempts + 1}
