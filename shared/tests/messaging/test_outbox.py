"""Service tests of the outbox, its relay and the inbox, against the real PostgreSQL and Kafka.

Invariants are stated as sets over what a fresh consumer reads from the topic (up to its end
offsets, taken after the relay has flushed): every event id once, none twice, order kept per key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import signal
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from mynaflow.contracts.dead_letter import DeadLetteredMessage
from mynaflow.contracts.envelope import (
    CLOUDEVENTS_CONTENT_TYPE,
    CloudEvent,
    EventData,
    decode_event,
    make_event,
)
from mynaflow.contracts.topics import DAY_MS, TopicSpec, topic_name
from mynaflow.messaging.inbox import claim_inbox
from mynaflow.messaging.outbox import (
    FETCH_SENDABLE,
    OutboxRelay,
    add_many_to_outbox,
    add_raw_to_outbox,
    add_to_outbox,
    walk_the_unsent_index,
)
from mynaflow.messaging.topics_admin import ensure_topics
from mynaflow.storage.migrations import PLATFORM_MIGRATIONS, apply_migrations
from mynaflow_testing.fixture_types import Pool, PoolFactory
from mynaflow_testing.platform import (
    DEAD_LETTER_SERVICE,
    Platform,
    dead_letter,
    idempotent_producer,
)
from mynaflow_testing.waiting import wait_for
from prometheus_client import REGISTRY

if TYPE_CHECKING:
    from mynaflow.storage.pool import DbConnection

pytestmark = pytest.mark.service

TEST_TOPIC = TopicSpec("outbox-test", 6, DAY_MS, "events of the outbox tests")


class Counted(EventData):
    key: str
    seq: int


class Padded(EventData):
    key: str
    seq: int
    padding: str


# --- Kafka helpers ------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def topic(kafka_bootstrap: str, topic_prefix: str) -> str:
    """A 6-partition topic under this test's prefix, so tests never read each other's events."""
    await ensure_topics(kafka_bootstrap, [TEST_TOPIC], topic_prefix)
    return topic_name(TEST_TOPIC, topic_prefix)


async def _read_to_end(
    consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]
) -> list[ConsumerRecord]:
    records: list[ConsumerRecord] = []

    async def caught_up() -> bool:
        batches = await consumer.getmany(timeout_ms=200)
        records.extend(record for batch in batches.values() for record in batch)
        return all([await consumer.position(tp) >= offset for tp, offset in end.items()])

    await wait_for(caught_up, timeout=30, what="consumer reaching the end offsets")
    return records


async def read_topic(
    kafka_bootstrap: str, name: str, partitions: int = TEST_TOPIC.partitions
) -> list[ConsumerRecord]:
    """Every record in the topic now, read from the beginning with no consumer group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(name, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        return await _read_to_end(consumer, await consumer.end_offsets(assigned))
    finally:
        await consumer.stop()


def event_ids(records: list[ConsumerRecord]) -> Counter[str]:
    return Counter(decode_event(record.value).id for record in records)


# --- outbox helpers -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_relay(
    pool: Pool, producer: AIOKafkaProducer, schema: str, poll_interval_s: float = 1.0
) -> AsyncIterator[OutboxRelay]:
    relay = OutboxRelay(pool, producer, schema=schema, poll_interval_s=poll_interval_s)
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        await relay.stop()
        await asyncio.wait_for(task, timeout=10)


def counted_event(key: str, seq: int) -> CloudEvent[Counted]:
    return make_event(
        source="outbox-test",
        event_type="jp.mynaflow.test.counted.v1",
        subject=key,
        data=Counted(key=key, seq=seq),
    )


async def add_events(pool: Pool, topic: str, events: Iterable[CloudEvent[Counted]]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for event in events:
            await add_to_outbox(conn, topic=topic, key=event.subject, event=event)


async def unpublished_count(pool: Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


# --- tests --------------------------------------------------------------------------------------


async def test_an_event_is_published_exactly_once(
    platform: Platform, producer: AIOKafkaProducer, topic: str
) -> None:
    event = counted_event("notice-1", 1)
    await add_events(platform.pool, topic, [event])

    async with running_relay(platform.pool, producer, platform.schema) as relay:
        await relay.flush()
    records = await read_topic(platform.kafka_bootstrap, topic)

    assert event_ids(records) == {event.id: 1}
    (record,) = records
    assert record.key == b"notice-1"
    assert dict(record.headers)["content-type"] == CLOUDEVENTS_CONTENT_TYPE.encode()
    assert decode_event(record.value).data == {"key": "notice-1", "seq": 1}
    assert await unpublished_count(platform.pool) == 0


async def test_published_events_are_counted_per_topic(
    platform: Platform, producer: AIOKafkaProducer, topic: str
) -> None:
    labels = {"service": platform.schema, "topic": topic}
    before = REGISTRY.get_sample_value("mynaflow_messages_out_total", labels) or 0.0
    await add_events(platform.pool, topic, [counted_event("k", n) for n in range(3)])

    async with running_relay(platform.pool, producer, platform.schema) as relay:
        await relay.flush()

    assert REGISTRY.get_sample_value("mynaflow_messages_out_total", labels) == before + 3


async def relay_publishes_on_notify(
    pool: Pool, producer: AIOKafkaProducer, schema: str, topic: str
) -> None:
    # A poll interval far longer than the wait: only the trigger's NOTIFY can wake the relay.
    async with running_relay(pool, producer, schema, poll_interval_s=60):
        await add_events(pool, topic, [counted_event("k", 0)])
        await wait_for(lambda: unpublished_count(pool), until=lambda n: n == 0)
        await add_events(pool, topic, [counted_event("k", 1)])

        await wait_for(
            lambda: unpublished_count(pool),
            until=lambda n: n == 0,
            timeout=10,
            what="relay woken by NOTIFY",
        )


async def test_a_running_relay_wakes_on_insert(
    platform: Platform, producer: AIOKafkaProducer, topic: str
) -> None:
    await relay_publishes_on_notify(platform.pool, producer, platform.schema, topic)

    assert await platform.pool.fetchval("SELECT count(*) FROM outbox") == 2


async def test_any_schema_name_gets_a_working_channel(
    pg_pool_factory: PoolFactory, producer: AIOKafkaProducer, topic: str
) -> None:
    schema = f"Ward Office-{uuid.uuid4().hex} with a name far longer than a channel allows"[:63]
    pool = await pg_pool_factory(schema)
    try:
        await apply_migrations(pool, schema=schema, directories=[PLATFORM_MIGRATIONS])
        await relay_publishes_on_notify(pool, producer, schema, topic)

        channel = await pool.fetchval("SELECT outbox_channel($1)", schema)
        assert channel.startswith("outbox_")
    finally:
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def test_a_rolled_back_transaction_publishes_nothing(
    platform: Platform, producer: AIOKafkaProducer, topic: str
) -> None:
    with contextlib.suppress(RuntimeError):
        async with platform.pool.acquire() as conn, conn.transaction():
            await add_to_outbox(conn, topic=topic, key="k", event=counted_event("k", 1))
            raise RuntimeError("the handler failed after writing its event")
    kept = counted_event("k", 2)
    await add_events(platform.pool, topic, [kept])

    async with running_relay(platform.pool, producer, platform.schema) as relay:
        await relay.flush()

    assert event_ids(await read_topic(platform.kafka_bootstrap, topic)) == {kept.id: 1}


_COMMIT_THEN_DIE = """
import asyncio, os, signal, sys
from mynaflow.contracts.envelope import EventData, make_event
from mynaflow.messaging.outbox import add_to_outbox
from mynaflow.storage.pool import open_connection

class Noticed(EventData):
    notice_id: str

async def main(url, schema, topic):
    conn = await open_connection(url, schema=schema)
    event = make_event(source="crash-test", event_type="jp.mynaflow.test.noticed.v1",
                       subject="n-1", data=Noticed(notice_id="n-1"))
    async with conn.transaction():
        await conn.execute("INSERT INTO notices (id) VALUES ('n-1')")
        await add_to_outbox(conn, topic=topic, key="n-1", event=event)
    print(event.id, flush=True)
    # Die between the commit and any publish: no relay has run in this process.
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main(*sys.argv[1:4]))
"""


async def test_an_event_committed_before_a_crash_is_published_once_afterwards(
    platform: Platform, database_url: str, producer: AIOKafkaProducer, topic: str
) -> None:
    await platform.pool.execute("CREATE TABLE notices (id text PRIMARY KEY)")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _COMMIT_THEN_DIE,
        database_url,
        platform.schema,
        topic,
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await process.communicate()
    assert process.returncode == -signal.SIGKILL
    event_id = stdout.decode().strip()
    assert await unpublished_count(platform.pool) == 1

    async with running_relay(platform.pool, producer, platform.schema) as relay:
        await relay.flush()

    assert event_ids(await read_topic(platform.kafka_bootstrap, topic)) == {event_id: 1}
    assert await platform.pool.fetchval("SELECT count(*) FROM notices") == 1


def _seqs_by_key(records: list[ConsumerRecord]) -> dict[str, list[int]]:
    seqs: dict[str, list[int]] = defaultdict(list)
    for record in records:
        data = decode_event(record.value).data
        seqs[data["key"]].append(data["seq"])
    return seqs


async def test_two_hundred_events_keep_id_order_per_key(
    platform: Platform, producer: AIOKafkaProducer, topic: str
) -> None:
    events = [counted_event(f"resident-{seq % 7}", seq) for seq in range(200)]
    for start in range(0, 200, 40):
        await add_events(platform.pool, topic, events[start : start + 40])

    relay = OutboxRelay(platform.pool, producer, schema=platform.schema, batch_size=32)
    await relay.flush()
    records = await read_topic(platform.kafka_bootstrap, topic)

    assert event_ids(records) == {event.id: 1 for event in events}
    seqs = _seqs_by_key(records)
    assert len(seqs) == 7
    assert all(found == sorted(found) for found in seqs.values()), seqs


async def test_a_batch_written_in_one_statement_keeps_its_order(
    platform: Platform, producer: AIOKafkaProducer, topic: str
) -> None:
    events = [counted_event(f"deadline-{seq % 3}", seq) for seq in range(300)]
    async with platform.pool.acquire() as conn, conn.transaction():
        await add_many_to_outbox(conn, topic=topic, events=[(e.subject, e) for e in events])

    stored = await platform.pool.fetch("SELECT event_id::text FROM outbox ORDER BY id")
    await OutboxRelay(platform.pool, producer, schema=platform.schema).flush()
    records = await read_topic(platform.kafka_bootstrap, topic)

    assert [row["event_id"] for row in stored] == [event.id for event in events]
    assert event_ids(records) == {event.id: 1 for event in events}
    assert all(found == sorted(found) for found in _seqs_by_key(records).values())


async def test_two_relays_on_one_schema_never_publish_a_row_twice(
    platform: Platform, pg_pool_factory: PoolFactory, producer: AIOKafkaProducer, topic: str
) -> None:
    other_pool = await pg_pool_factory(platform.schema)
    other_producer = idempotent_producer(platform.kafka_bootstrap)
    await other_producer.start()
    events = [counted_event(f"k{seq % 5}", seq) for seq in range(200)]
    try:
        async with (
            running_relay(platform.pool, producer, platform.schema),
            running_relay(other_pool, other_producer, platform.schema) as second,
        ):
            for start in range(0, 200, 10):
                await add_events(platform.pool, topic, events[start : start + 10])
            await second.flush()
    finally:
        await other_producer.stop()
    records = await read_topic(platform.kafka_bootstrap, topic)

    assert event_ids(records) == {event.id: 1 for event in events}
    assert all(found == sorted(found) for found in _seqs_by_key(records).values())


_RELAY_LOCK_HOLDERS = """
    WITH relay_lock AS (SELECT hashtextextended('mynaflow.outbox:' || $1, 0) AS key)
    SELECT l.pid
    FROM pg_locks AS l, relay_lock
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid::bigint = (relay_lock.key >> 32) & 4294967295
      AND l.objid::bigint = relay_lock.key & 4294967295
"""


async def relay_lock_holders(pool: Pool, schema: str) -> list[int]:
    """Backends holding this schema's relay lock (in this database only)."""
    return [row["pid"] for row in await pool.fetch(_RELAY_LOCK_HOLDERS, schema)]


async def kill_relay_connection(pool: Pool, schema: str) -> int:
    pids = await relay_lock_holders(pool, schema)
    for pid in pids:
        await pool.execute("SELECT pg_terminate_backend($1)", pid)
    return len(pids)


async def test_the_relay_recovers_when_its_connection_is_killed(
    platform: Platform, producer: AIOKafkaProducer, topic: str
) -> None:
    first = counted_event("k", 1)
    await add_events(platform.pool, topic, [first])
    async with running_relay(platform.pool, producer, platform.schema) as relay:
        await relay.flush()
        # The relay's LISTEN connection is the one holding the relay lock: kill it once the
        # running loop has taken the lock.
        await wait_for(
            lambda: kill_relay_connection(platform.pool, platform.schema),
            until=lambda n: n == 1,
            what="a relay connection to kill",
        )
        second = counted_event("k", 2)
        await add_events(platform.pool, topic, [second])
        await relay.flush()

    assert event_ids(await read_topic(platform.kafka_bootstrap, topic)) == {
        first.id: 1,
        second.id: 1,
    }


async def test_a_row_the_broker_refuses_is_retried_until_it_goes_through(
    platform: Platform, topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A topic that does not exist yet (auto-create is off): every send fails until it is created.
    late_topic = topic_name(TEST_TOPIC, topic_prefix)
    event = counted_event("k", 1)
    await add_events(platform.pool, late_topic, [event])
    impatient = idempotent_producer(platform.kafka_bootstrap, request_timeout_ms=1000)
    await impatient.start()

    async def relay_has_failed() -> bool:
        return "outbox relay for" in caplog.text

    try:
        async with running_relay(platform.pool, impatient, platform.schema) as relay:
            await wait_for(relay_has_failed, what="a failed publish attempt")
            assert await unpublished_count(platform.pool) == 1
            await ensure_topics(platform.kafka_bootstrap, [TEST_TOPIC], topic_prefix)
            await relay.flush(timeout_s=60)
    finally:
        await impatient.stop()

    assert event_ids(await read_topic(platform.kafka_bootstrap, late_topic)) == {event.id: 1}


def padded_event(key: str, seq: int, padding: int) -> CloudEvent[Padded]:
    return make_event(
        source="outbox-test",
        event_type="jp.mynaflow.test.padded.v1",
        subject=key,
        data=Padded(key=key, seq=seq, padding="x" * padding),
    )


async def test_a_row_the_broker_can_never_accept_is_parked_and_the_rest_flow_on(
    platform: Platform, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A producer that refuses records over 20 kB, as Kafka refuses those over about 1 MB.
    small_limit = idempotent_producer(platform.kafka_bootstrap, max_request_size=20_000)
    await small_limit.start()
    too_large = padded_event("b", 1, padding=30_000)
    behind_it = padded_event("b", 2, padding=0)  # same key: must never overtake the parked row
    others = [padded_event("a", 1, 0), padded_event("a", 2, 0), padded_event("c", 1, 0)]
    async with platform.pool.acquire() as conn, conn.transaction():
        for event in [others[0], too_large, behind_it, others[1], others[2]]:
            await add_to_outbox(conn, topic=topic, key=event.subject, event=event)
    try:
        async with running_relay(platform.pool, small_limit, platform.schema) as relay:
            await relay.flush(timeout_s=30)
    finally:
        await small_limit.stop()

    assert set(event_ids(await read_topic(platform.kafka_bootstrap, topic))) == {
        e.id for e in others
    }
    parked = await platform.pool.fetch(
        "SELECT event_id, parked_reason FROM outbox WHERE parked_at IS NOT NULL"
    )
    assert [str(row["event_id"]) for row in parked] == [too_large.id]
    assert "MessageSizeTooLargeError" in parked[0]["parked_reason"]
    assert await unpublished_count(platform.pool) == 2  # the parked row and the one behind it
    labels = {"service": platform.schema}
    assert REGISTRY.get_sample_value("mynaflow_outbox_parked", labels) == 1
    assert REGISTRY.get_sample_value("mynaflow_outbox_pending", labels) == 2
    assert "outbox row parked" in caplog.text


async def test_the_pending_count_is_shown_while_the_broker_refuses_every_row(
    platform: Platform, topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # No such topic yet: every publish fails, and the backlog must still be visible.
    await add_events(
        platform.pool,
        topic_name(TEST_TOPIC, topic_prefix),
        [counted_event("k", n) for n in range(3)],
    )
    impatient = idempotent_producer(platform.kafka_bootstrap, request_timeout_ms=1000)
    await impatient.start()
    labels = {"service": platform.schema}

    async def pending_shown() -> bool:
        return REGISTRY.get_sample_value("mynaflow_outbox_pending", labels) == 3

    try:
        async with running_relay(platform.pool, impatient, platform.schema):
            await wait_for(pending_shown, what="mynaflow_outbox_pending == 3")
    finally:
        await impatient.stop()
    assert "outbox relay for" in caplog.text  # it was failing all along


async def test_stop_cuts_a_stuck_batch_short_and_keeps_its_rows(
    platform: Platform, producer: AIOKafkaProducer, topic_prefix: str
) -> None:
    # No such topic: the producer waits for its metadata far longer than stop() may take.
    missing_topic = topic_name(TEST_TOPIC, topic_prefix)
    await add_events(platform.pool, missing_topic, [counted_event("k", 1)])
    relay = OutboxRelay(platform.pool, producer, schema=platform.schema)
    task = asyncio.create_task(relay.run())
    await wait_for(lambda: relay_lock_holders(platform.pool, platform.schema), what="relay to lead")

    started = time.monotonic()
    await relay.stop(timeout_s=1.0)
    await asyncio.wait_for(task, timeout=1.0)

    assert time.monotonic() - started < 3.0
    assert await unpublished_count(platform.pool) == 1


async def test_raw_rows_keep_their_bytes_and_headers(
    platform: Platform, database_url: str, producer: AIOKafkaProducer, topic: str
) -> None:
    async with platform.pool.acquire() as conn, conn.transaction():
        await add_raw_to_outbox(
            conn, topic=topic, key=None, payload=b'{"plain": "json"}', headers={"origin": "test"}
        )
    # A pool without create_pool's JSON codecs works too (jsonb then arrives as text).
    plain_pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=2, server_settings={"search_path": platform.schema}
    )
    try:
        await OutboxRelay(plain_pool, producer, schema=platform.schema).flush()
    finally:
        await plain_pool.close()
    (record,) = await read_topic(platform.kafka_bootstrap, topic)

    assert record.value == b'{"plain": "json"}'
    assert record.key is None
    assert dict(record.headers) == {"origin": b"test"}


# --- inbox: the same event delivered twice is applied once --------------------------------------


async def apply_count_event(pool: Pool, record: ConsumerRecord) -> bool:
    """A handler as services write it: claim the id, then change state, in one transaction."""
    event = decode_event(record.value)
    async with pool.acquire() as conn, conn.transaction():
        if not await claim_inbox(conn, event.id, consumer="counter"):
            return False
        await conn.execute("UPDATE counters SET value = value + 1 WHERE name = $1", event.subject)
        return True


async def test_an_event_delivered_twice_is_applied_once(
    platform: Platform, producer: AIOKafkaProducer, topic: str
) -> None:
    await platform.pool.execute("CREATE TABLE counters (name text PRIMARY KEY, value int)")
    await platform.pool.execute("INSERT INTO counters VALUES ('visits', 0)")
    await add_events(platform.pool, topic, [counted_event("visits", 1)])
    await OutboxRelay(platform.pool, producer, schema=platform.schema).flush()

    # Reading the topic twice is a redelivery: what a consumer sees after a crash before commit.
    deliveries = await read_topic(platform.kafka_bootstrap, topic) + await read_topic(
        platform.kafka_bootstrap, topic
    )
    applied = [await apply_count_event(platform.pool, record) for record in deliveries]

    assert applied == [True, False]
    assert await platform.pool.fetchval("SELECT value FROM counters") == 1


# --- dead letters: one row and one event per poison message, no individual number anywhere ----


def individual_number(first11: str) -> str:
    """A valid individual number: P1..P11 counted from the right, weights Q = n+1 / n-5."""
    weights = [n + 1 if n <= 6 else n - 5 for n in range(1, 12)]
    remainder = sum(int(p) * q for p, q in zip(reversed(first11), weights, strict=True)) % 11
    return first11 + str(0 if remainder <= 1 else 11 - remainder)


async def test_a_redelivered_poison_message_makes_one_row_and_one_event(
    platform: Platform, producer: AIOKafkaProducer, dead_letter_topic: tuple[str, str]
) -> None:
    prefix, name = dead_letter_topic

    recorded = [
        await dead_letter(platform.pool, prefix, payload=b"{not json", key=b"n-7", error="bad")
        for _ in range(2)
    ]
    await OutboxRelay(platform.pool, producer, schema=platform.schema).flush()
    records = await read_topic(platform.kafka_bootstrap, name, partitions=1)

    assert recorded == [True, False]
    assert await platform.pool.fetchval("SELECT count(*) FROM dead_letters") == 1
    assert len(event_ids(records)) == 1
    event = decode_event(records[0].value)
    assert (event.type, event.source, event.subject) == (
        "jp.mynaflow.intake.message-dead-lettered.v1",
        DEAD_LETTER_SERVICE,
        "n-7",
    )
    data = DeadLetteredMessage.model_validate(event.data)
    assert (data.source_topic, data.partition, data.offset) == ("jlis.notices.raw", 3, 41)
    assert base64.b64decode(data.original_base64) == b"{not json"
    assert (data.reason, data.error, data.redactions) == ("invalid-json", "bad", 0)


async def stored_dead_letter_text(pool: Pool) -> str:
    row = await pool.fetchrow("SELECT key, payload, reason, error FROM dead_letters")
    assert row is not None
    return f"{row['key']} {bytes(row['payload'])!r} {row['reason']} {row['error']}"


async def test_an_individual_number_reaches_neither_the_table_nor_the_topic(
    platform: Platform, producer: AIOKafkaProducer, dead_letter_topic: tuple[str, str]
) -> None:
    prefix, name = dead_letter_topic
    number = individual_number("31415926535")
    payload = f'{{"resident": "中区 太郎", "kojin_bango": "{number}", "broken": '.encode()

    await dead_letter(
        platform.pool,
        prefix,
        payload=payload,
        key=f"resident-{number}".encode(),
        error=f"1 validation error: input_value='{number}'",
    )
    await OutboxRelay(platform.pool, producer, schema=platform.schema).flush()
    (record,) = await read_topic(platform.kafka_bootstrap, name, partitions=1)

    data = DeadLetteredMessage.model_validate(decode_event(record.value).data)
    published = record.value + (record.key or b"") + b"".join(v for _, v in record.headers)
    assert number.encode() not in published
    assert number.encode() not in base64.b64decode(data.original_base64)
    assert number not in await stored_dead_letter_text(platform.pool)
    assert data.redactions == 3
    assert b"\xe4\xb8\xad\xe5\x8c\xba" in base64.b64decode(data.original_base64)  # 中区 is kept


# --- the fetch's plan ---------------------------------------------------------------------------
async def _fetch_plan(conn: DbConnection) -> str:
    rows = await conn.fetch("EXPLAIN " + FETCH_SENDABLE, 500)
    return "\n".join(row[0] for row in rows)


async def test_the_fetch_behind_a_backlog_walks_the_index_even_without_statistics(
    platform: Platform,
) -> None:
    """A new schema (no statistics yet) with 20,000 unsent rows: the relay's fetch reads the
    unsent-rows index in id order and stops at its LIMIT, instead of reading every unsent row
    and sorting, which made each fetch cost as much as the whole backlog."""
    async with platform.pool.acquire() as conn:
        await conn.execute("ALTER TABLE outbox SET (autovacuum_enabled = false)")
        await conn.execute(
            """
            INSERT INTO outbox (event_id, topic, key, payload)
            SELECT gen_random_uuid(), 'backlog', 'key-' || g, '\\x00'::bytea
            FROM generate_series(1, 20000) AS g
            """
        )
        plain = await _fetch_plan(conn)
        await walk_the_unsent_index(conn)
        walked = await _fetch_plan(conn)

    assert "Sort" in plain, plain  # why the relay needs it: the planner's choice on its own
    assert "Sort" not in walked, walked
    assert "Index Scan using outbox_unpublished_idx" in walked, walked


def _plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _plan_nodes(child))]


async def test_the_fetch_reads_the_backlog_once_even_with_statistics_of_a_quiet_outbox(
    platform: Platform,
) -> None:
    """Statistics taken when 50,000 rows were sent and ten not, then 20,000 more come. With
    statistics like these (from a steady state) the planner ran the parked-key check as a nested
    loop re-reading every unsent row for each row fetched: 11-13 s a fetch of 500 behind
    67,000-97,500 unsent rows in the watcher's burst (docs/BENCHMARKS.md). Now the parked rows
    are read once per statement (a materialized CTE), whatever the join, and the fetch reads
    about the 500 rows it returns."""
    async with platform.pool.acquire() as conn:
        await conn.execute("ALTER TABLE outbox SET (autovacuum_enabled = false)")
        insert = """
            INSERT INTO outbox (event_id, topic, key, payload, published_at)
            SELECT gen_random_uuid(), 'backlog', 'key-' || g, '\\x00'::bytea, $2
            FROM generate_series(1, $1::int) AS g
        """
        await conn.execute(insert, 50_000, datetime.now(UTC))
        await conn.execute(insert, 10, None)
        await conn.execute("ANALYZE outbox")
        await conn.execute(insert, 20_000, None)
        await walk_the_unsent_index(conn)
        explained = await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + FETCH_SENDABLE, 500, column=0
        )

    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
    nodes = _plan_nodes(plan)
    parked_reads = [n for n in nodes if n.get("Subplan Name") == "CTE parked"]
    assert [n["Actual Loops"] for n in parked_reads] == [1], json.dumps(plan, indent=1)
    touched = sum(
        (n["Actual Rows"] + n.get("Rows Removed by Filter", 0)) * n["Actual Loops"] for n in nodes
    )
    assert plan["Actual Rows"] == 500
    assert touched < 100_000, json.dumps(plan, indent=1)
