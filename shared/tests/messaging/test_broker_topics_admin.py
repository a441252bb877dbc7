"""Service tests of topic creation and group lag against the real Kafka."""

# FastStream's subscriber objects are untyped callables; decorating a handler with one is the
# test's way to register it, so mypy may not insist on typed decorators here.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import asyncio
import json
import uuid
from typing import TypeAlias

import asyncpg
import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from mynaflow.contracts.topics import CATALOGUE, DAY_MS, REGISTRY_COMMANDS, topic_name
from mynaflow.messaging.broker import make_broker
from mynaflow.messaging.dead_letter import DeadLetterSink
from mynaflow.messaging.reliable_consume import reliable_subscriber
from mynaflow.messaging.topics_admin import (
    TopicConfigurationError,
    admin_client,
    consumer_group_lag,
    ensure_topics,
)
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.kafka_helpers import produce, wait_for_committed
from mynaflow_testing.waiting import wait_for
from pydantic import BaseModel

pytestmark = pytest.mark.service

SERVICE = "card-registry"
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"


async def retention_ms(bootstrap: str, topic: str) -> int:
    async with admin_client(bootstrap) as admin:
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": None})]
        )
    ((*_, configs),) = response.resources
    return int(next(entry[1] for entry in configs if entry[0] == "retention.ms"))


async def test_concurrent_callers_create_the_catalogue_once_with_partitions_and_retention(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOPIC_RETENTION_MS_REGISTRY_COMMANDS", str(3 * DAY_MS))
    settings = MynaflowSettings(kafka_bootstrap_servers=kafka_bootstrap)  # reads the override
    results = await asyncio.gather(
        *(ensure_topics(settings, CATALOGUE, prefix=topic_prefix) for _ in range(3))
    )
    again = await ensure_topics(settings, CATALOGUE, prefix=topic_prefix)

    expected = {topic_name(spec, topic_prefix) for spec in CATALOGUE}
    created = [name for result in results for name in result]
    assert sorted(created) == sorted(expected)  # each topic created by exactly one caller
    assert again == []
    async with admin_client(kafka_bootstrap) as admin:
        described = await admin.describe_topics(sorted(expected))
    partitions = {d["topic"]: len(d["partitions"]) for d in described}
    assert partitions == {topic_name(s, topic_prefix): s.partitions for s in CATALOGUE}
    commands = topic_name(REGISTRY_COMMANDS, topic_prefix)
    assert await retention_ms(kafka_bootstrap, commands) == 3 * DAY_MS
    receipts = topic_name(CATALOGUE[3], topic_prefix)
    assert await retention_ms(kafka_bootstrap, receipts) == CATALOGUE[3].retention_ms


async def test_topic_settings_the_cluster_cannot_meet_stop_start_up_with_a_clear_error(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    # Three replicas on the single local broker: no retry can cure it, so no retry is made.
    settings = MynaflowSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_replication_factor=3,
        topic_min_insync_replicas=2,
    )
    with pytest.raises(TopicConfigurationError, match="InvalidReplicationFactor"):
        await ensure_topics(settings, CATALOGUE[:1], prefix=topic_prefix)


class Numbered(BaseModel):
    n: int


def numbers(values: range) -> list[bytes | str]:
    return [json.dumps({"n": n}) for n in values]


async def test_group_lag_counts_what_the_group_has_not_committed(
    kafka_settings: MynaflowSettings, platform_pool: Pool
) -> None:
    topic = kafka_settings.topic_prefix + REGISTRY_COMMANDS.name
    group = f"lag-{uuid.uuid4().hex[:6]}"
    physical_group = kafka_settings.topic_prefix + group
    coordinates = await produce(kafka_settings, topic, numbers(range(5)), key="k")
    partition = coordinates[0][0]
    seen: list[int] = []
    broker = make_broker(kafka_settings, service=SERVICE)
    sink = DeadLetterSink(platform_pool, service=SERVICE, topic_prefix=kafka_settings.topic_prefix)

    @reliable_subscriber(broker, REGISTRY_COMMANDS, group_id=group, dead_letter=sink)
    async def apply(command: Numbered) -> None:
        seen.append(command.n)

    await broker.start()
    try:
        await wait_for_committed(kafka_settings, physical_group, topic, {partition: 5})
    finally:
        await broker.stop()
    await produce(kafka_settings, topic, numbers(range(5, 8)), key="k")

    lag = await wait_for(
        lambda: consumer_group_lag(kafka_settings, physical_group),
        until=lambda found: found.get(topic, {}).get(partition) == 3,
        what="lag of 3",
    )
    assert sum(lag[topic].values()) == 3
    assert seen == [0, 1, 2, 3, 4]
