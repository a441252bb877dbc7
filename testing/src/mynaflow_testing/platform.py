"""Set-up for tests of the platform's messaging tables against the real PostgreSQL and Kafka.

`Platform` bundles what those tests share (a fresh schema with the outbox, inbox and dead-letter
tables, and the broker); `dead_letter` records one poison record the way a consumer would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from mynaflow.messaging.dead_letter import record_dead_letter

from mynaflow_testing.fixture_types import Pool

DEAD_LETTER_SERVICE = "notice-intake"


@dataclass(frozen=True)
class Platform:
    """`platform_pool` on `fresh_schema`, the schema's name, and the broker's bootstrap servers."""

    pool: Pool
    schema: str
    kafka_bootstrap: str


def idempotent_producer(kafka_bootstrap: str, **options: Any) -> AIOKafkaProducer:
    """A producer as the relay's (acks=all, idempotent), not started; `options` go to aiokafka."""
    return AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True, **options
    )


async def dead_letter(
    pool: Pool,
    prefix: str,
    *,
    payload: bytes,
    key: bytes | None,
    offset: int = 41,
    error: str = "not JSON",
) -> bool:
    """Record a record of `jlis.notices.raw` (partition 3) as notice-intake's invalid JSON."""
    async with pool.acquire() as conn, conn.transaction():
        return await record_dead_letter(
            conn,
            service=DEAD_LETTER_SERVICE,
            source_topic="jlis.notices.raw",
            partition=3,
            offset=offset,
            key=key,
            payload=payload,
            reason="invalid-json",
            error=error,
            topic_prefix=prefix,
        )
