"""Fixtures of the messaging tests that publish through the outbox (real PostgreSQL and Kafka)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from mynaflow.contracts.topics import dead_letter_topic_for, topic_name
from mynaflow.messaging.topics_admin import ensure_topics
from mynaflow_testing.fixture_types import Pool
from mynaflow_testing.platform import DEAD_LETTER_SERVICE, Platform, idempotent_producer


@pytest.fixture
def platform(platform_pool: Pool, fresh_schema: str, kafka_bootstrap: str) -> Platform:
    return Platform(pool=platform_pool, schema=fresh_schema, kafka_bootstrap=kafka_bootstrap)


@pytest_asyncio.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    started = idempotent_producer(kafka_bootstrap)
    await started.start()
    yield started
    await started.stop()


@pytest_asyncio.fixture
async def dead_letter_topic(kafka_bootstrap: str, topic_prefix: str) -> tuple[str, str]:
    """(prefix, physical name) of notice-intake's dead-letter topic under this test's prefix."""
    spec = dead_letter_topic_for(DEAD_LETTER_SERVICE)
    await ensure_topics(kafka_bootstrap, [spec], topic_prefix)
    return topic_prefix, topic_name(spec, topic_prefix)
