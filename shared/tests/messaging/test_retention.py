"""Service tests of outbox and inbox retention against the real PostgreSQL.

Rows are made "old" by moving their timestamps back in SQL; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from mynaflow.messaging.retention import (
    prune_inbox,
    prune_once,
    prune_periodically,
    prune_published_outbox,
)
from mynaflow.runtime.definition import ServiceDefinition
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.fixture_types import Pool, PoolFactory
from mynaflow_testing.service import start_service
from mynaflow_testing.waiting import wait_for
from pydantic import ValidationError

pytestmark = pytest.mark.service

WEEK = timedelta(days=7)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


async def add_outbox_rows(
    pool: Pool, count: int, *, published_ago: timedelta | None, created_ago: timedelta = HOUR
) -> set[int]:
    """`count` outbox rows created `created_ago`, published `published_ago` (None: never)."""
    rows = await pool.fetch(
        """
        INSERT INTO outbox (event_id, topic, payload, created_at, published_at)
        SELECT gen_random_uuid(), 'retention-test', '\\x00'::bytea, now() - $1::interval,
               now() - $2::interval
        FROM generate_series(1, $3)
        RETURNING id
        """,
        created_ago,
        published_ago,
        count,
    )
    return {row["id"] for row in rows}


async def add_inbox_ids(pool: Pool, count: int, *, processed_ago: timedelta) -> set[str]:
    """`count` inbox ids of consumer "c", processed `processed_ago`."""
    event_ids = [str(uuid.uuid4()) for _ in range(count)]
    await pool.execute(
        """
        INSERT INTO inbox (consumer, event_id, processed_at)
        SELECT 'c', event_id, now() - $2::interval FROM unnest($1::text[]) AS e(event_id)
        """,
        event_ids,
        processed_ago,
    )
    return set(event_ids)


async def outbox_ids(pool: Pool) -> set[int]:
    return {row["id"] for row in await pool.fetch("SELECT id FROM outbox")}


async def inbox_ids(pool: Pool) -> set[str]:
    return {row["event_id"] for row in await pool.fetch("SELECT event_id FROM inbox")}


# --- outbox ---------------------------------------------------------------------------------


async def test_old_published_rows_are_deleted_and_recent_ones_kept(platform_pool: Pool) -> None:
    old = await add_outbox_rows(platform_pool, 3, published_ago=WEEK + HOUR, created_ago=2 * WEEK)
    recent = await add_outbox_rows(platform_pool, 2, published_ago=WEEK - HOUR)

    async with platform_pool.acquire() as conn:
        deleted = await prune_published_outbox(conn, WEEK)

    assert deleted == len(old)
    assert await outbox_ids(platform_pool) == recent


async def test_unpublished_rows_are_kept_however_old(platform_pool: Pool) -> None:
    unpublished = await add_outbox_rows(
        platform_pool, 3, published_ago=None, created_ago=timedelta(days=1000)
    )

    async with platform_pool.acquire() as conn:
        deleted = await prune_published_outbox(conn, HOUR)

    assert deleted == 0
    assert await outbox_ids(platform_pool) == unpublished


async def test_outbox_pruning_deletes_more_than_one_batch(platform_pool: Pool) -> None:
    await add_outbox_rows(platform_pool, 25, published_ago=2 * WEEK)
    kept = await add_outbox_rows(platform_pool, 4, published_ago=None, created_ago=2 * WEEK)

    async with platform_pool.acquire() as conn:
        deleted = await prune_published_outbox(conn, WEEK, batch_size=10)

    assert deleted == 25
    assert await outbox_ids(platform_pool) == kept


# --- inbox ----------------------------------------------------------------------------------


async def test_old_inbox_ids_are_deleted_and_recent_ones_kept(platform_pool: Pool) -> None:
    await add_inbox_ids(platform_pool, 3, processed_ago=timedelta(days=401))
    recent = await add_inbox_ids(platform_pool, 2, processed_ago=timedelta(days=399))

    async with platform_pool.acquire() as conn:
        deleted = await prune_inbox(conn, timedelta(days=400))

    assert deleted == 3
    assert await inbox_ids(platform_pool) == recent


async def test_inbox_pruning_deletes_more_than_one_batch(platform_pool: Pool) -> None:
    await add_inbox_ids(platform_pool, 23, processed_ago=2 * DAY)
    recent = await add_inbox_ids(platform_pool, 3, processed_ago=HOUR)

    async with platform_pool.acquire() as conn:
        deleted = await prune_inbox(conn, DAY, batch_size=5)

    assert deleted == 23
    assert await inbox_ids(platform_pool) == recent


async def test_a_pruned_id_can_be_claimed_again_but_a_kept_one_cannot(platform_pool: Pool) -> None:
    # Why the inbox retention must outlive the topic's: a forgotten id is applied again.
    (old,) = await add_inbox_ids(platform_pool, 1, processed_ago=2 * DAY)
    (kept,) = await add_inbox_ids(platform_pool, 1, processed_ago=HOUR)
    await prune_once(platform_pool, outbox_older_than=WEEK, inbox_older_than=DAY)

    claimed = await platform_pool.fetch(
        """
        INSERT INTO inbox (consumer, event_id) SELECT 'c', unnest($1::text[])
        ON CONFLICT DO NOTHING RETURNING event_id
        """,
        [old, kept],
    )

    assert [row["event_id"] for row in claimed] == [old]


# --- the periodic task ----------------------------------------------------------------------


async def test_the_periodic_task_prunes_both_tables_and_stops_promptly(platform_pool: Pool) -> None:
    kept_outbox = await add_outbox_rows(platform_pool, 2, published_ago=None, created_ago=2 * WEEK)
    await add_outbox_rows(platform_pool, 2, published_ago=2 * WEEK)
    await add_inbox_ids(platform_pool, 2, processed_ago=2 * DAY)
    stopping = asyncio.Event()
    task = asyncio.create_task(
        prune_periodically(
            platform_pool,
            outbox_older_than=WEEK,
            inbox_older_than=DAY,
            interval_s=3600,
            first_delay_s=0,
            stopping=stopping,
        )
    )

    await wait_for(
        lambda: inbox_ids(platform_pool), until=lambda ids: not ids, what="the inbox pruned"
    )
    assert await outbox_ids(platform_pool) == kept_outbox
    stopping.set()
    # Waiting out its hour-long interval, it must still return at once.
    await asyncio.wait_for(task, timeout=5)


async def test_a_failed_pass_is_logged_and_retried_at_the_next_interval(
    fresh_schema: str, pg_pool_factory: PoolFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # No platform tables in this schema: every pass fails, as with a database that is away.
    pool = await pg_pool_factory(fresh_schema)
    stopping = asyncio.Event()
    caplog.set_level(logging.WARNING, logger="mynaflow.messaging.retention")
    task = asyncio.create_task(
        prune_periodically(
            pool,
            outbox_older_than=WEEK,
            inbox_older_than=DAY,
            interval_s=0.05,
            first_delay_s=0,
            stopping=stopping,
        )
    )

    async def failures() -> int:
        return sum("retention pass failed" in r.getMessage() for r in caplog.records)

    await wait_for(failures, until=lambda n: n >= 2, what="two failed passes, both logged")
    assert not task.done()
    stopping.set()
    await asyncio.wait_for(task, timeout=5)


async def test_a_running_service_prunes_its_own_schema(
    kafka_settings: MynaflowSettings,
    database_url: str,
    pg_pool_factory: PoolFactory,
    tmp_path: Path,
) -> None:
    schema = f"svc_{uuid.uuid4().hex[:8]}"
    settings = kafka_settings.model_copy(
        update={"database_url": database_url, "http_port": 0, "retention_interval_s": 0.1}
    )
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "V1__nothing.sql").write_text("SELECT 1;\n")
    definition = ServiceDefinition(
        name="notifier",
        schema=schema,
        migrations_dir=migrations,
        settings_class=MynaflowSettings,
        build=lambda _context: None,
    )
    service = await start_service(definition, settings)
    try:
        pool = await pg_pool_factory(schema)
        kept = await add_outbox_rows(pool, 1, published_ago=timedelta(hours=167))
        await add_outbox_rows(pool, 2, published_ago=timedelta(hours=169))
        await add_inbox_ids(pool, 2, processed_ago=timedelta(days=401))

        await wait_for(lambda: inbox_ids(pool), until=lambda ids: not ids, what="inbox pruned")
        await wait_for(lambda: outbox_ids(pool), until=lambda ids: ids == kept, what="outbox")
    finally:
        assert await service.stop(timeout_s=15) == 0


# --- settings -------------------------------------------------------------------------------


def test_retention_settings_have_their_defaults_and_must_be_positive() -> None:
    settings = MynaflowSettings()
    assert (
        settings.outbox_retention_hours,
        settings.inbox_retention_days,
        settings.retention_interval_s,
    ) == (168, 400, 3600)
    for name in ("outbox_retention_hours", "inbox_retention_days", "retention_interval_s"):
        with pytest.raises(ValidationError, match=name):
            # The field is named at run time, which pydantic's mypy plugin cannot follow.
            MynaflowSettings(**{name: 0})  # type: ignore[arg-type]
