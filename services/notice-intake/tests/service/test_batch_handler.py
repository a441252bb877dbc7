"""The batch handler against the real PostgreSQL (and, for the poison case, the real Kafka):
redeliveries change nothing, and one message the database refuses neither holds back nor
loses the rest of its batch."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from mynaflow.contracts import jlis
from mynaflow.messaging.errors import PoisonMessage
from mynaflow.storage.migrations import PLATFORM_MIGRATIONS, apply_migrations
from mynaflow_testing.context import storage_context
from mynaflow_testing.harness.notice_intake import InProcessIntake, produce_raw, read_until
from notice_intake.app import bootstrap, definition
from notice_intake.domain.messages import RawNoticeMessage
from notice_intake.service_layer import intake
from notice_intake.service_layer.deps import IntakeDeps
from notice_intake.settings import NoticeIntakeSettings

pytestmark = pytest.mark.service

POISON_MARK = "db-refuses-me"


def raw_notice(notice_id: str, **extra: Any) -> bytes:
    value = {
        "notice_id": notice_id,
        "kind": "card_delivered",
        "municipality_code": "141046",
        "issued_at": "2025-12-26T10:00:00+09:00",
    } | extra
    return json.dumps(value).encode()


def messages(values: list[bytes], topic: str = "jlis.notices.raw") -> list[RawNoticeMessage]:
    return [RawNoticeMessage(topic, 0, offset, None, value) for offset, value in enumerate(values)]


@pytest_asyncio.fixture
async def pool(fresh_schema: str, pg_pool_factory: Any) -> AsyncIterator[asyncpg.Pool[Any]]:
    pool = await pg_pool_factory(fresh_schema)
    service_migrations = definition().migrations_dir
    await apply_migrations(
        pool, schema=fresh_schema, directories=[PLATFORM_MIGRATIONS, service_migrations]
    )
    yield pool


@pytest_asyncio.fixture
async def deps(pool: asyncpg.Pool[Any], fresh_schema: str) -> IntakeDeps:
    settings = NoticeIntakeSettings()
    return bootstrap(storage_context(definition(), settings, pool, schema=fresh_schema))


async def outbox_count(pool: asyncpg.Pool[Any]) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox"))


async def test_a_redelivered_batch_stores_and_emits_nothing(
    deps: IntakeDeps, pool: asyncpg.Pool[Any]
) -> None:
    batch = messages([raw_notice(f"R-{n}") for n in range(5)] + [b"not json"])
    first = await intake.acknowledge_batch(batch, deps)
    queued = await outbox_count(pool)
    again = await intake.acknowledge_batch(batch, deps)
    assert len(first.receipts) == 6
    assert first.redeliveries == 0
    assert (again.receipts, again.redeliveries) == ([], 6)
    assert await outbox_count(pool) == queued  # no second receipt, request or dead letter
    assert await pool.fetchval("SELECT count(*) FROM receipts") == 6
    # A later offset of the same partition is new, even with an already-known notice id.
    later = [RawNoticeMessage("jlis.notices.raw", 0, 6, None, raw_notice("R-0"))]
    (duplicate,) = (await intake.acknowledge_batch(later, deps)).receipts
    assert duplicate.status.value == "duplicate"


def poisoning_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the parser let through a value PostgreSQL refuses (a NUL in a text column)."""
    real_parse = jlis.parse_raw_notice

    def parse(payload: bytes) -> jlis.ParsedNotice:
        parsed = real_parse(payload)
        if POISON_MARK.encode() in payload:
            fields = parsed.fields.model_copy(update={"kind": "card\x00delivered"})
            return replace(parsed, fields=fields)
        return parsed

    monkeypatch.setattr(intake, "parse_raw_notice", parse)


async def test_an_unstorable_message_fails_its_batch_then_is_receipted_alone(
    deps: IntakeDeps, pool: asyncpg.Pool[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    poisoning_parser(monkeypatch)
    batch = messages([raw_notice("P-1"), raw_notice("P-2", resident_ref=POISON_MARK)])
    with pytest.raises(PoisonMessage):
        await intake.acknowledge_batch(batch, deps)
    assert await pool.fetchval("SELECT count(*) FROM receipts") == 0  # rolled back
    outcomes = [await intake.acknowledge_batch([m], deps) for m in batch]
    statuses = [
        (o.receipts[0].status.value, [r.code for r in o.receipts[0].reasons]) for o in outcomes
    ]
    assert statuses == [("accepted", []), ("quarantined", ["storage_rejected"])]


async def test_a_poison_message_in_a_real_batch_holds_back_nothing(
    running_intake: InProcessIntake, monkeypatch: pytest.MonkeyPatch
) -> None:
    poisoning_parser(monkeypatch)
    settings = running_intake.settings
    run = uuid.uuid4().hex[:8]
    values = [
        raw_notice(f"{run}-{n}", resident_ref=POISON_MARK if n == 3 else "R") for n in range(8)
    ]
    # One key: one partition, so the poison sits in the middle of the others' batch.
    await produce_raw(
        settings, f"{settings.topic_prefix}jlis.notices.raw", [(b"k", v) for v in values]
    )
    events = await read_until(
        settings,
        f"{settings.topic_prefix}intake.receipts",
        lambda evs: len(evs) >= len(values),
    )
    by_offset = {e["data"]["source"]["offset"]: e["data"] for e in events}
    assert sorted(by_offset) == list(range(len(values)))
    assert [by_offset[n]["status"] for n in range(len(values))] == [
        "quarantined" if n == 3 else "accepted" for n in range(len(values))
    ]
    assert [r["code"] for r in by_offset[3]["reasons"]] == ["storage_rejected"]
    assert isinstance(running_intake.context.pool, asyncpg.Pool)
