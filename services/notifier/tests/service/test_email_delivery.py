"""Email to managers: it arrives once with the right recipient and subject; a redelivered
event, a restart and a consumer-group reset send nothing more; SMTP down then up: once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from mynaflow.contracts.notifier import DELIVERY_LOGGED_V1
from mynaflow.messaging.topics_admin import group_id_for
from mynaflow_testing.kafka_helpers import consume_until, produce
from mynaflow_testing.waiting import wait_for

from .conftest import MANAGER_EMAIL, MakeSettings, SmtpCatcher
from .events import breach, encoded

pytestmark = pytest.mark.service

SUBJECT = "【超過】処理期限を過ぎた案件があります"


async def deliveries(url: str, **query: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/deliveries", params=query)
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()["deliveries"]
        return rows


async def test_a_breach_email_reaches_the_desk_manager_once_whatever_is_redelivered(
    notifier_settings: MakeSettings,
    start_notifier: Any,
    smtp: SmtpCatcher,
    kafka_topics: dict[str, str],
    topic_prefix: str,
) -> None:
    settings = notifier_settings()
    service = await start_notifier(settings)
    event = breach("notice:JLIS-2022-000001")
    topic = kafka_topics["deadlines.events"]
    await produce(settings, topic, [encoded(event)], key=event.subject)

    await wait_for(lambda: _count(smtp), until=lambda n: n >= 1, what="the escalation email")
    (message,) = smtp.to(MANAGER_EMAIL)
    assert message["Subject"] == SUBJECT
    assert message["To"] == MANAGER_EMAIL
    assert "notice:JLIS-2022-000001" not in str(message["Message-ID"])
    assert "JLIS-2022-000001" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert message.get_body(("html",)) is not None

    # The same event again (a producer's retry / redelivery): nothing more.
    await produce(settings, topic, [encoded(event)], key=event.subject)
    await wait_for(
        lambda: _committed(settings, topic),
        until=lambda offsets: sum(offsets.values()) >= 2,
        what="both copies consumed",
    )
    assert await _count(smtp) == 1

    # A consumer-group reset to the earliest offset, and a restart: nothing more.
    await service.stop()
    await _reset_group(settings, topic_prefix, topic)
    service = await start_notifier(settings)
    await wait_for(
        lambda: _committed(settings, topic),
        until=lambda offsets: sum(offsets.values()) >= 2,
        what="the replay consumed",
    )
    rows = await deliveries(service.url, status="sent")
    assert [(r["recipient_id"], r["channel"]) for r in rows] == [("M-RECORDS", "email")]
    assert await _count(smtp) == 1

    logged = await consume_until(
        settings,
        kafka_topics["notifier.deliveries"],
        lambda events: any(b'"sent"' in e.value for e in events),
    )
    statuses = [e.value for e in logged if DELIVERY_LOGGED_V1.encode() in e.value]
    assert sum(b'"status":"queued"' in v for v in statuses) == 1
    assert sum(b'"status":"sent"' in v for v in statuses) == 1
    assert not any(MANAGER_EMAIL.encode() in e.value for e in logged)


async def test_smtp_down_then_up_delivers_exactly_once(
    notifier_settings: MakeSettings,
    start_notifier: Any,
    smtp: SmtpCatcher,
    kafka_topics: dict[str, str],
) -> None:
    smtp.stop()
    settings = notifier_settings()
    service = await start_notifier(settings)
    event = breach("notice:JLIS-2022-000002")
    await produce(settings, kafka_topics["deadlines.events"], [encoded(event)], key=event.subject)

    await wait_for(
        lambda: deliveries(service.url, status="retrying"),
        what="the email retrying while SMTP is down",
        timeout=30,
    )
    smtp.start()
    await wait_for(
        lambda: deliveries(service.url, status="sent"), what="the email sent once SMTP is back"
    )
    assert len(smtp.to(MANAGER_EMAIL)) == 1
    (row,) = await deliveries(service.url, status="sent")
    assert row["attempts"] >= 2


async def _count(smtp: SmtpCatcher) -> int:
    return len(smtp.messages)


async def _committed(settings: Any, topic: str) -> dict[int, int]:
    from mynaflow.messaging.topics_admin import committed_offsets

    offsets = await committed_offsets(settings, group_id_for("notifier", settings.topic_prefix))
    return offsets.get(topic, {})


async def _reset_group(settings: Any, prefix: str, topic: str) -> None:
    """Commit offset 0 on every partition of `topic` for the notifier's group (it is stopped)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_id_for("notifier", prefix),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        assignment = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assignment)
        await consumer.commit(dict.fromkeys(assignment, 0))
    finally:
        await consumer.stop()
