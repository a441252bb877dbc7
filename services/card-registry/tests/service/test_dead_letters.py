"""Poison input is dead-lettered with a reason, and the partition moves on."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import AIOKafkaProducer
from mynaflow.contracts.envelope import encode_event
from mynaflow.contracts.topics import INTAKE_RECEIPTS, RESIDENT_MOVES, dead_letter_topic_for
from mynaflow.messaging.topics_admin import kafka_client_options
from mynaflow_testing.harness.card_registry import (
    RegistryRun,
    moved_in_event,
    of_type,
    receipt_event,
    record_update_receipt,
)
from mynaflow_testing.kafka_helpers import consume_until
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.service


async def test_bad_json_and_a_move_without_its_fields_are_dead_lettered_and_the_rest_applies(
    registry: RegistryRun,
) -> None:
    raw = json.loads(encode_event(moved_in_event("R-bad")))
    del raw["data"]["notified_on"]
    good = moved_in_event("R-ok", "C-ok")
    producer = AIOKafkaProducer(acks="all", **kafka_client_options(registry.settings))
    await producer.start()
    try:
        topic = registry.topic(RESIDENT_MOVES)
        for value in (
            b"move_in R-0042",
            json.dumps(raw).encode(),
            encode_event(good),
        ):
            await producer.send_and_wait(topic, value, key=b"R-same")
    finally:
        await producer.stop()
    dead_topic = registry.topic(dead_letter_topic_for("card-registry"))
    records = await consume_until(registry.settings, dead_topic, lambda rs: len(rs) >= 2)
    reasons = sorted(json.loads(r.value)["data"]["reason"] for r in records if r.value)
    assert reasons == ["bad_json", "schema_invalid"]
    pool = await registry.pool()
    assert (
        await wait_for(lambda: pool.fetchval("SELECT count(*) FROM cards WHERE card_id = 'C-ok'"))
        == 1
    )


async def test_a_poison_record_inside_a_burst_of_receipts_is_dead_lettered_alone(
    registry: RegistryRun,
) -> None:
    # Sent in one go, the records reach the registry in batches: the poison one makes its
    # batch replay record by record, and the receipts applied before it must not open twice.
    receipts = [record_update_receipt(n, "card-records") for n in range(40)]
    values = [encode_event(receipt_event(receipt)) for receipt in receipts]
    values.insert(17, b'{"specversion": "1.0", "id": "not a whole event"}')
    producer = AIOKafkaProducer(acks="all", linger_ms=20, **kafka_client_options(registry.settings))
    await producer.start()
    try:
        topic = registry.topic(INTAKE_RECEIPTS)
        sent = [await producer.send(topic, value, key=b"one-partition") for value in values]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()

    events = await registry.events_until(lambda es: len(of_type(es, "work-item-opened")) >= 40)
    opened = [e["data"]["notice_id"] for e in of_type(events, "work-item-opened")]
    assert sorted(opened) == sorted(str(receipt.notice_id) for receipt in receipts)
    pool = await registry.pool()
    assert await pool.fetchval("SELECT count(*) FROM work_items") == 40
    reasons = await wait_for(lambda: pool.fetch("SELECT reason FROM dead_letters"))
    assert [row["reason"] for row in reasons] == ["schema_invalid"]
