"""Service tests of the migration runner against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg
import pytest
from mynaflow.storage.migrations import (
    PLATFORM_MIGRATIONS,
    MigrationChecksumError,
    apply_migrations,
    read_tracks,
)
from mynaflow_testing.fixture_types import PoolFactory

pytestmark = pytest.mark.service

# Each file would fail if run twice (plain CREATE TABLE), and logs its version, so the order and
# the count of applications are both visible in the database.
_TRACK = {
    "V1__create_log.sql": "CREATE TABLE applied_log"
    " (version int NOT NULL, at timestamptz DEFAULT clock_timestamp());"
    " INSERT INTO applied_log (version) VALUES (1);",
    "V2__add_widgets.sql": "CREATE TABLE widgets (id int PRIMARY KEY);"
    " INSERT INTO applied_log (version) VALUES (2);",
    # Slow on purpose: concurrent runners overlap here if the lock does not serialise them.
    "V3__slow_change.sql": "SELECT pg_sleep(0.3); ALTER TABLE widgets ADD COLUMN name text;"
    " INSERT INTO applied_log (version) VALUES (3);",
}


def _write_track(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql, encoding="utf-8")
    return folder


@pytest.fixture
def service_track(tmp_path: Path) -> Path:
    return _write_track(tmp_path / "migrations", _TRACK)


async def _log_versions(pool: asyncpg.Pool) -> list[int]:
    rows = await pool.fetch("SELECT version FROM applied_log ORDER BY at, version")
    return [row["version"] for row in rows]


async def _history(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    rows = await pool.fetch("SELECT track, version FROM schema_migrations ORDER BY applied_at")
    return [(row["track"], row["version"]) for row in rows]


async def test_applies_tracks_in_order_then_nothing_the_second_time(
    fresh_schema: str, pg_pool_factory: PoolFactory, service_track: Path
) -> None:
    pool = await pg_pool_factory(fresh_schema)
    directories = [PLATFORM_MIGRATIONS, service_track]

    first = await apply_migrations(pool, schema=fresh_schema, directories=directories)
    second = await apply_migrations(pool, schema=fresh_schema, directories=directories)

    assert first == [
        "platform/V1__outbox_inbox_dead_letters.sql",
        "platform/V2__dead_letter_identity_and_parked_outbox.sql",
        "service/V1__create_log.sql",
        "service/V2__add_widgets.sql",
        "service/V3__slow_change.sql",
    ]
    assert second == []
    assert await _log_versions(pool) == [1, 2, 3]
    assert await _history(pool) == [
        ("platform", 1),
        ("platform", 2),
        ("service", 1),
        ("service", 2),
        ("service", 3),
    ]


async def test_creates_a_missing_schema_with_an_odd_name(
    pg_pool_factory: PoolFactory, service_track: Path
) -> None:
    schema = "Odd-Schema name"
    pool = await pg_pool_factory(schema)
    try:
        applied = await apply_migrations(pool, schema=schema, directories=[service_track])
        assert len(applied) == 3
        assert await pool.fetchval("SELECT count(*) FROM widgets") == 0
    finally:
        await pool.execute('DROP SCHEMA "Odd-Schema name" CASCADE')


async def test_refuses_an_edited_applied_migration_and_runs_nothing(
    fresh_schema: str, pg_pool_factory: PoolFactory, service_track: Path
) -> None:
    pool = await pg_pool_factory(fresh_schema)
    await apply_migrations(pool, schema=fresh_schema, directories=[service_track])
    edited = service_track / "V2__add_widgets.sql"
    edited.write_text(edited.read_text() + " -- edited", encoding="utf-8")
    (service_track / "V4__pending.sql").write_text("CREATE TABLE must_not_exist (id int);")

    with pytest.raises(MigrationChecksumError, match=r"V2__add_widgets\.sql"):
        await apply_migrations(pool, schema=fresh_schema, directories=[service_track])

    assert await pool.fetchval("SELECT to_regclass('must_not_exist')") is None
    assert await _history(pool) == [("service", 1), ("service", 2), ("service", 3)]


async def test_a_failing_migration_leaves_no_trace_of_itself(
    fresh_schema: str, pg_pool_factory: PoolFactory, service_track: Path
) -> None:
    pool = await pg_pool_factory(fresh_schema)
    (service_track / "V4__broken.sql").write_text(
        "CREATE TABLE half_done (id int); SELECT no_such_function();"
    )

    with pytest.raises(asyncpg.UndefinedFunctionError):
        await apply_migrations(pool, schema=fresh_schema, directories=[service_track])

    assert await pool.fetchval("SELECT to_regclass('half_done')") is None
    assert await _log_versions(pool) == [1, 2, 3]


async def test_concurrent_runners_apply_each_file_exactly_once(
    fresh_schema: str, pg_pool_factory: PoolFactory, service_track: Path
) -> None:
    pools = [await pg_pool_factory(fresh_schema) for _ in range(3)]
    directories = [PLATFORM_MIGRATIONS, service_track]

    results = await asyncio.gather(
        *(apply_migrations(pool, schema=fresh_schema, directories=directories) for pool in pools)
    )

    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(m.name for m in read_tracks(directories))
    assert await _log_versions(pools[0]) == [1, 2, 3]
    assert len(await _history(pools[0])) == len(read_tracks(directories))


_MIGRATE_IN_SUBPROCESS = """
import asyncio, json, sys
from mynaflow.storage.migrations import PLATFORM_MIGRATIONS, migrate
url, schema, track = sys.argv[1:4]
print(json.dumps(asyncio.run(migrate(url, schema, [PLATFORM_MIGRATIONS, track]))))
"""


async def _migrate_in_subprocess(database_url: str, schema: str, track: Path) -> list[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _MIGRATE_IN_SUBPROCESS,
        database_url,
        schema,
        str(track),
        stdout=asyncio.subprocess.PIPE,
        env=os.environ.copy(),
    )
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    applied: list[str] = json.loads(stdout)
    return applied


async def test_concurrent_processes_apply_each_file_exactly_once(
    database_url: str, fresh_schema: str, pg_pool_factory: PoolFactory, service_track: Path
) -> None:
    results = await asyncio.gather(
        *(_migrate_in_subprocess(database_url, fresh_schema, service_track) for _ in range(3))
    )

    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(
        m.name for m in read_tracks([PLATFORM_MIGRATIONS, service_track])
    )
    pool = await pg_pool_factory(fresh_schema)
    assert await _log_versions(pool) == [1, 2, 3]
