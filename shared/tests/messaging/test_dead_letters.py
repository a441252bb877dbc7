"""Service tests of dead letters that hostile records used to break (real PostgreSQL and Kafka).

- A NUL byte in a Kafka key: PostgreSQL's text refuses it, so the row could never be stored and
  the partition stopped for ever. Keys are stored as bytes.
- A different poison record at a position already dead-lettered (the topic was recreated): it
  must be recorded too, and said loudly; the same record delivered again still adds nothing.
- A poison record close to Kafka's size limit: its dead-letter event embeds a capped preview, so
  the relay can publish it; the stored row keeps every (redacted) byte.
"""

from __future__ import annotations

import base64
import hashlib
import logging

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from mynaflow.contracts.dead_letter import DeadLetteredMessage
from mynaflow.contracts.envelope import decode_event
from mynaflow.messaging.dead_letter import EVENT_PREVIEW_BYTES, record_dead_letter
from mynaflow.messaging.outbox import OutboxRelay
from mynaflow_testing.fixture_types import Pool
from mynaflow_testing.platform import DEAD_LETTER_SERVICE, Platform, dead_letter

pytestmark = pytest.mark.service


async def published_dead_letters(kafka_bootstrap: str, topic: str) -> list[DeadLetteredMessage]:
    """Every event on the (one-partition) dead-letter topic now, from the beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        records = []
        while await consumer.position(partition) < end:
            batch = await consumer.getmany(partition, timeout_ms=1000)
            records.extend(batch.get(partition, []))
    finally:
        await consumer.stop()
    return [DeadLetteredMessage.model_validate(decode_event(r.value).data) for r in records]


async def test_a_poison_record_with_a_nul_byte_in_its_key_is_stored_and_published(
    platform: Platform, producer: AIOKafkaProducer, dead_letter_topic: tuple[str, str]
) -> None:
    prefix, topic = dead_letter_topic

    assert await dead_letter(platform.pool, prefix, payload=b"{not json", key=b"n-\x00-7")
    await OutboxRelay(platform.pool, producer, schema=platform.schema).flush(timeout_s=30)

    stored = await platform.pool.fetchval("SELECT key FROM dead_letters")
    assert bytes(stored) == b"n-\x00-7"
    (published,) = await published_dead_letters(platform.kafka_bootstrap, topic)
    assert published.key == "n-\\x00-7"  # escaped where text must carry it


async def test_a_different_record_at_a_reused_position_is_recorded_and_logged(
    platform_pool: Pool, dead_letter_topic: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    prefix, _ = dead_letter_topic
    caplog.set_level(logging.ERROR, logger="mynaflow.messaging.dead_letter")

    first = await dead_letter(
        platform_pool, prefix, payload=b"{before the topic was recreated", key=b"k"
    )
    again = await dead_letter(
        platform_pool, prefix, payload=b"{before the topic was recreated", key=b"k"
    )
    assert "offsets went backwards" not in caplog.text
    other = await dead_letter(platform_pool, prefix, payload=b"{after: a new record", key=b"k")

    assert (first, again, other) == (True, False, True)
    payloads = await platform_pool.fetch("SELECT payload FROM dead_letters ORDER BY id")
    assert [bytes(row["payload"]) for row in payloads] == [
        b"{before the topic was recreated",
        b"{after: a new record",
    ]
    assert await platform_pool.fetchval("SELECT count(*) FROM outbox") == 2
    assert "offsets went backwards" in caplog.text


async def test_a_poison_record_near_the_size_limit_makes_an_event_kafka_accepts(
    platform: Platform, producer: AIOKafkaProducer, dead_letter_topic: tuple[str, str]
) -> None:
    prefix, topic = dead_letter_topic
    huge = b"<notice>" + b"x" * 900_000 + b"</notice>"  # not JSON; base64 alone would be 1.2 MB

    assert await dead_letter(platform.pool, prefix, payload=huge, key=b"n-1")
    await OutboxRelay(platform.pool, producer, schema=platform.schema).flush(timeout_s=30)

    stored = await platform.pool.fetchval("SELECT payload FROM dead_letters")
    assert bytes(stored) == huge  # the row keeps everything, for a replay
    (published,) = await published_dead_letters(platform.kafka_bootstrap, topic)
    assert base64.b64decode(published.original_base64) == huge[:EVENT_PREVIEW_BYTES]
    assert published.original_truncated
    assert published.original_length == len(huge)
    assert published.original_sha256 == hashlib.sha256(huge).hexdigest()


async def test_an_error_text_quoting_a_nul_byte_is_stored(
    platform_pool: Pool, dead_letter_topic: tuple[str, str]
) -> None:
    prefix, _ = dead_letter_topic
    async with platform_pool.acquire() as conn, conn.transaction():
        stored = await record_dead_letter(
            conn,
            service=DEAD_LETTER_SERVICE,
            source_topic="jlis.notices.raw",
            partition=0,
            offset=5,
            key=None,
            payload=b"\x00",
            reason="rule\x00violated",
            error="PoisonMessage: unexpected \x00 in the notice",
            topic_prefix=prefix,
        )

    assert stored
    row = await platform_pool.fetchrow("SELECT reason, error FROM dead_letters")
    assert row is not None
    assert (row["reason"], row["error"]) == (
        "rule\\x00violated",
        "PoisonMessage: unexpected \\x00 in the notice",
    )
