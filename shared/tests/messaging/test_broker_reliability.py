"""Service tests of the broker factory against the real Kafka and PostgreSQL.

Invariants, stated as sets and sequences (Jepsen-style): every input number is applied exactly
once, in order within the partition; nothing after a failed message is committed before it; a
poison message is dead-lettered (table and topic, original bytes kept) and the partition goes on.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from mynaflow.contracts.topics import REGISTRY_COMMANDS
from mynaflow.messaging.broker import (
    DeadLetterSink,
    RetryPolicy,
    make_broker,
    records_of,
    reliable_subscriber,
)
from mynaflow.messaging.errors import PoisonMessage, TransientError
from mynaflow.messaging.outbox import OutboxRelay
from mynaflow.messaging.topics_admin import kafka_client_options
from mynaflow.settings import MynaflowSettings
from mynaflow.testing.kafka_helpers import consume_until, produce, wait_for_committed
from mynaflow.testing.waiting import wait_for
from pydantic import BaseModel

pytestmark = pytest.mark.service

SERVICE = "card-registry"  # any catalogue service: its dead-letter topic is registry.dead-letter
GROUP = "reliability"
FAST_RETRY = RetryPolicy(first_backoff_s=0.05, max_backoff_s=0.2, unhandled_attempts=3)
ONE_KEY = "aggregate-1"  # one key, so all records share a partition and its order


class Numbered(BaseModel):
    n: int


Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"


@pytest.fixture
async def applied_table(platform_pool: Pool) -> Pool:
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
    return platform_pool


async def applied_numbers(pool: Pool) -> list[int]:
    rows = await pool.fetch("SELECT n FROM applied ORDER BY id")
    return [row["n"] for row in rows]


async def apply_in_transaction(
    pool: Pool, numbers: list[int], message: Any, fail: Callable[[int], None] = lambda n: None
) -> None:
    """The handler's unit of work: insert, then maybe fail (which rolls the insert back)."""
    records = records_of(message)
    async with pool.acquire() as conn, conn.transaction():
        for number, record in zip(numbers, records, strict=True):
            await conn.execute(
                'INSERT INTO applied (n, "partition", "offset") VALUES ($1, $2, $3)',
                number,
                record.partition,
                record.offset,
            )
            fail(number)


def sink_for(pool: Pool, settings: MynaflowSettings) -> DeadLetterSink:
    return DeadLetterSink(pool, service=SERVICE, topic_prefix=settings.topic_prefix)


async def publish_numbers(settings: MynaflowSettings, values: list[bytes | str]) -> int:
    coordinates = await produce(
        settings, settings.topic_prefix + REGISTRY_COMMANDS.name, values, key=ONE_KEY
    )
    partitions = {partition for partition, _ in coordinates}
    assert len(partitions) == 1
    return partitions.pop()


def numbers_json(numbers: range) -> list[bytes | str]:
    return [json.dumps({"n": n}) for n in numbers]


@pytest.fixture
async def outbox_relay(
    applied_table: Pool, kafka_settings: MynaflowSettings
) -> AsyncIterator[None]:
    """The test schema's outbox relay, publishing dead-letter events to Kafka."""
    producer = AIOKafkaProducer(
        acks="all", enable_idempotence=True, **kafka_client_options(kafka_settings)
    )
    await producer.start()
    schema = await applied_table.fetchval("SELECT current_schema()")
    relay = OutboxRelay(applied_table, producer, schema=schema, service=SERVICE)
    task = asyncio.create_task(relay.run())
    yield
    await relay.stop()
    await task
    await producer.stop()


@pytest.fixture
async def running() -> AsyncIterator[Callable[[KafkaBroker], Awaitable[None]]]:
    """`await running(broker)` starts a broker that is stopped after the test in any case."""
    started: list[KafkaBroker] = []

    async def start(broker: KafkaBroker) -> None:
        started.append(broker)
        await broker.start()

    yield start
    for broker in started:
        await broker.stop()


async def test_a_transient_failure_on_message_3_of_10_is_retried_never_skipped(
    kafka_settings: MynaflowSettings, applied_table: Pool, running: Any
) -> None:
    partition = await publish_numbers(kafka_settings, numbers_json(range(10)))
    failures_left = [2]

    def fail_twice_on_3(n: int) -> None:
        if n == 3 and failures_left[0]:
            failures_left[0] -= 1
            raise TransientError("database blip")

    broker = make_broker(kafka_settings, service=SERVICE)

    @reliable_subscriber(
        broker,
        REGISTRY_COMMANDS,
        group_id=GROUP,
        dead_letter=sink_for(applied_table, kafka_settings),
        retry=FAST_RETRY,
    )
    async def apply(command: Numbered, message: KafkaMessage) -> None:
        await apply_in_transaction(applied_table, [command.n], message, fail_twice_on_3)

    await running(broker)
    numbers = await wait_for(
        lambda: applied_numbers(applied_table), until=lambda got: len(got) >= 10, what="10 applied"
    )
    topic = kafka_settings.topic_prefix + REGISTRY_COMMANDS.name
    await wait_for_committed(
        kafka_settings, kafka_settings.topic_prefix + GROUP, topic, {partition: 10}
    )

    assert numbers == list(range(10))  # each exactly once, in partition order
    assert failures_left == [0]  # message 3 really failed twice before it passed
    offsets = await applied_table.fetch('SELECT "offset" FROM applied ORDER BY id')
    assert [row["offset"] for row in offsets] == list(range(10))
    assert await applied_table.fetchval("SELECT count(*) FROM dead_letters") == 0


async def test_stopping_while_message_3_is_retried_commits_nothing_past_it(
    kafka_settings: MynaflowSettings, applied_table: Pool, running: Any
) -> None:
    partition = await publish_numbers(kafka_settings, numbers_json(range(10)))
    topic = kafka_settings.topic_prefix + REGISTRY_COMMANDS.name
    group = kafka_settings.topic_prefix + GROUP
    attempts_on_3: list[int] = []

    def always_fail_on_3(n: int) -> None:
        if n == 3:
            attempts_on_3.append(n)
            raise TransientError("database down")

    first = make_broker(kafka_settings, service=SERVICE)

    @reliable_subscriber(
        first,
        REGISTRY_COMMANDS,
        group_id=GROUP,
        dead_letter=sink_for(applied_table, kafka_settings),
        retry=FAST_RETRY,
    )
    async def apply_failing(command: Numbered, message: KafkaMessage) -> None:
        await apply_in_transaction(applied_table, [command.n], message, always_fail_on_3)

    await running(first)

    async def attempts() -> int:
        return len(attempts_on_3)

    await wait_for(attempts, until=lambda count: count >= 3, what="3 attempts on message 3")
    await first.stop()

    assert await applied_numbers(applied_table) == [0, 1, 2]
    await wait_for_committed(kafka_settings, group, topic, {partition: 3})

    second = make_broker(kafka_settings, service=SERVICE)

    @reliable_subscriber(
        second,
        REGISTRY_COMMANDS,
        group_id=GROUP,
        dead_letter=sink_for(applied_table, kafka_settings),
        retry=FAST_RETRY,
    )
    async def apply_healthy(command: Numbered, message: KafkaMessage) -> None:
        await apply_in_transaction(applied_table, [command.n], message)

    await running(second)
    numbers = await wait_for(
        lambda: applied_numbers(applied_table), until=lambda got: len(got) >= 10, what="all"
    )
    await wait_for_committed(kafka_settings, group, topic, {partition: 10})
    assert numbers == list(range(10))


async def test_poison_messages_are_dead_lettered_with_reason_and_bytes_and_the_rest_applied(
    kafka_settings: MynaflowSettings, applied_table: Pool, running: Any, outbox_relay: None
) -> None:
    bad_json = b'{"n": 3, oops'
    wrong_schema = b'{"number": "four"}'
    rule_violation = json.dumps({"n": -5}).encode()
    values: list[bytes | str] = [
        *numbers_json(range(3)),
        bad_json,
        wrong_schema,
        rule_violation,
        *numbers_json(range(6, 10)),
    ]
    partition = await publish_numbers(kafka_settings, values)
    broker = make_broker(kafka_settings, service=SERVICE)

    @reliable_subscriber(
        broker,
        REGISTRY_COMMANDS,
        group_id=GROUP,
        dead_letter=sink_for(applied_table, kafka_settings),
        retry=FAST_RETRY,
    )
    async def apply(command: Numbered, message: KafkaMessage) -> None:
        if command.n < 0:
            raise PoisonMessage("negative_number", f"n={command.n}")
        await apply_in_transaction(applied_table, [command.n], message)

    await running(broker)
    numbers = await wait_for(
        lambda: applied_numbers(applied_table), until=lambda got: len(got) >= 7, what="7"
    )
    topic = kafka_settings.topic_prefix + REGISTRY_COMMANDS.name
    group = kafka_settings.topic_prefix + GROUP
    await wait_for_committed(kafka_settings, group, topic, {partition: 10})
    dead_letter_topic = kafka_settings.topic_prefix + "registry.dead-letter"
    published = await consume_until(kafka_settings, dead_letter_topic, lambda r: len(r) >= 3)

    assert numbers == [0, 1, 2, 6, 7, 8, 9]
    rows = await applied_table.fetch(
        'SELECT "offset", reason, payload, source_topic FROM dead_letters ORDER BY "offset"'
    )
    assert [(r["offset"], r["reason"], bytes(r["payload"])) for r in rows] == [
        (3, "bad_json", bad_json),
        (4, "schema_invalid", wrong_schema),
        (5, "negative_number", rule_violation),
    ]
    assert {r["source_topic"] for r in rows} == {topic}
    events = [json.loads(record.value) for record in published]
    assert [(e["data"]["offset"], e["data"]["reason"]) for e in events] == [
        (3, "bad_json"),
        (4, "schema_invalid"),
        (5, "negative_number"),
    ]
    originals = [base64.b64decode(e["data"]["original_base64"]) for e in events]
    assert originals == [bad_json, wrong_schema, rule_violation]


async def test_an_unknown_error_is_retried_then_dead_lettered_as_unhandled(
    kafka_settings: MynaflowSettings, applied_table: Pool, running: Any
) -> None:
    partition = await publish_numbers(kafka_settings, numbers_json(range(6)))
    attempts_on_2: list[int] = []

    def bug_on_2(n: int) -> None:
        if n == 2:
            attempts_on_2.append(n)
            raise KeyError("a programming error")

    broker = make_broker(kafka_settings, service=SERVICE)

    @reliable_subscriber(
        broker,
        REGISTRY_COMMANDS,
        group_id=GROUP,
        dead_letter=sink_for(applied_table, kafka_settings),
        retry=FAST_RETRY,
    )
    async def apply(command: Numbered, message: KafkaMessage) -> None:
        await apply_in_transaction(applied_table, [command.n], message, bug_on_2)

    await running(broker)
    numbers = await wait_for(
        lambda: applied_numbers(applied_table), until=lambda got: len(got) >= 5, what="5"
    )
    topic = kafka_settings.topic_prefix + REGISTRY_COMMANDS.name
    group = kafka_settings.topic_prefix + GROUP
    await wait_for_committed(kafka_settings, group, topic, {partition: 6})

    assert numbers == [0, 1, 3, 4, 5]
    assert len(attempts_on_2) == FAST_RETRY.unhandled_attempts
    row = await applied_table.fetchrow('SELECT "offset", reason, error FROM dead_letters')
    assert row is not None
    assert (row["offset"], row["reason"]) == (2, "unhandled_error")
    assert "KeyError" in row["error"]


async def test_a_batch_with_a_poison_record_applies_the_others_once_and_commits_all(
    kafka_settings: MynaflowSettings, applied_table: Pool, running: Any
) -> None:
    values: list[bytes | str] = [*numbers_json(range(4)), b"not json", *numbers_json(range(5, 9))]
    partition = await publish_numbers(kafka_settings, values)
    batch_sizes: list[int] = []
    failures_left = [1]

    def fail_once_on_6(n: int) -> None:
        if n == 6 and failures_left[0]:
            failures_left[0] -= 1
            raise ConnectionResetError("broker hiccup")

    broker = make_broker(kafka_settings, service=SERVICE)

    @reliable_subscriber(
        broker,
        REGISTRY_COMMANDS,
        group_id=GROUP,
        dead_letter=sink_for(applied_table, kafka_settings),
        batch=True,
        max_records=5,
        retry=FAST_RETRY,
    )
    async def apply_batch(commands: list[Numbered], message: KafkaMessage) -> None:
        batch_sizes.append(len(commands))
        await apply_in_transaction(applied_table, [c.n for c in commands], message, fail_once_on_6)

    await running(broker)
    numbers = await wait_for(
        lambda: applied_numbers(applied_table), until=lambda got: len(got) >= 8, what="8"
    )
    topic = kafka_settings.topic_prefix + REGISTRY_COMMANDS.name
    group = kafka_settings.topic_prefix + GROUP
    await wait_for_committed(kafka_settings, group, topic, {partition: 9})

    assert numbers == [0, 1, 2, 3, 5, 6, 7, 8]
    assert max(batch_sizes) > 1  # really consumed as batches
    assert failures_left == [0]
    reasons = await applied_table.fetch('SELECT "offset", reason FROM dead_letters')
    assert [(r["offset"], r["reason"]) for r in reasons] == [(4, "bad_json")]


async def test_a_record_with_a_non_utf8_header_is_processed_not_skipped(
    kafka_settings: MynaflowSettings, applied_table: Pool, running: Any
) -> None:
    topic = kafka_settings.topic_prefix + REGISTRY_COMMANDS.name
    await produce(kafka_settings, topic, numbers_json(range(2)), key=ONE_KEY)
    # FastStream decodes headers as UTF-8 before any middleware runs; left to itself it cannot
    # even build the message and the record is skipped without a trace.
    await produce(
        kafka_settings, topic, [json.dumps({"n": 2})], key=ONE_KEY, headers=[("trace", b"\xff")]
    )
    coordinates = await produce(kafka_settings, topic, numbers_json(range(3, 5)), key=ONE_KEY)
    partition = coordinates[-1][0]
    broker = make_broker(kafka_settings, service=SERVICE)

    @reliable_subscriber(
        broker,
        REGISTRY_COMMANDS,
        group_id=GROUP,
        dead_letter=sink_for(applied_table, kafka_settings),
        retry=FAST_RETRY,
    )
    async def apply(command: Numbered, message: KafkaMessage) -> None:
        await apply_in_transaction(applied_table, [command.n], message)

    await running(broker)
    numbers = await wait_for(
        lambda: applied_numbers(applied_table), until=lambda got: len(got) >= 5, what="5"
    )
    group = kafka_settings.topic_prefix + GROUP
    await wait_for_committed(kafka_settings, group, topic, {partition: 5})

    assert numbers == [0, 1, 2, 3, 4]
    assert await applied_table.fetchval("SELECT count(*) FROM dead_letters") == 0
