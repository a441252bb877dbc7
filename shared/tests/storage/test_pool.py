"""Tests of the pool factory: service tests against the real PostgreSQL, and its defaults."""

from __future__ import annotations

import time

import asyncpg
import pytest
from mynaflow.messaging.failures import FailureKind, classify_failure
from mynaflow.storage.pool import (
    ARRAY_PARAMETER_TYPES,
    DatabaseTimeouts,
    DatabaseUnavailableError,
    create_pool,
    open_connection,
)
from mynaflow_testing.fixture_types import PoolFactory
from mynaflow_testing.ports import free_port


@pytest.mark.service
async def test_connections_use_the_schema_and_json_codecs(
    fresh_schema: str, pg_pool_factory: PoolFactory
) -> None:
    pool = await pg_pool_factory(fresh_schema)
    await pool.execute("CREATE TABLE docs (body jsonb)")
    await pool.execute("INSERT INTO docs VALUES ($1)", {"名前": "中区", "n": [1, 2]})

    assert await pool.fetchval("SELECT current_schema()") == fresh_schema
    assert await pool.fetchval("SELECT body FROM docs") == {"名前": "中区", "n": [1, 2]}


@pytest.mark.service
async def test_a_new_pooled_connection_knows_its_array_codecs_before_any_statement_needs_them(
    fresh_schema: str, pg_pool_factory: PoolFactory
) -> None:
    # Otherwise the first statement binding `$1::uuid[]` on each connection pays for a catalogue
    # lookup on the hot path.
    pool = await pg_pool_factory(fresh_schema)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT t.name, t.name::regtype::oid AS oid FROM unnest($1::text[]) AS t(name)",
            [f"{name}[]" for name in ARRAY_PARAMETER_TYPES],
        )
        oids = {row["name"].removesuffix("[]"): row["oid"] for row in rows}
        codecs = conn._con._protocol.get_settings()  # type: ignore[attr-defined]
        known = {name: codecs.get_data_codec(oid) is not None for name, oid in oids.items()}

    assert known == dict.fromkeys(ARRAY_PARAMETER_TYPES, True)


@pytest.mark.service
async def test_unreachable_server_fails_clearly_after_the_timeout() -> None:
    url = f"postgresql://someone:secret-pw@127.0.0.1:{free_port()}/nothing"
    started = time.monotonic()

    with pytest.raises(DatabaseUnavailableError, match=r"did not accept connections") as caught:
        await create_pool(url, schema="x", connect_timeout_s=1.5)

    assert 1.0 <= time.monotonic() - started < 5.0
    assert "secret-pw" not in str(caught.value)


# --- timeouts --------------------------------------------------------------------------------

# Kafka's `max.poll.interval.ms` as the consumers use it: a query must never outlast it.
MAX_POLL_INTERVAL_S = 300.0


@pytest.mark.service
async def test_every_connection_gets_a_statement_timeout_and_tcp_keepalives(
    fresh_schema: str, pg_pool_factory: PoolFactory
) -> None:
    pool = await pg_pool_factory(fresh_schema)

    async with pool.acquire() as conn:
        settings = {
            name: await conn.fetchval(f"SELECT current_setting('{name}')")
            for name in (
                "statement_timeout",
                "idle_in_transaction_session_timeout",
                "tcp_keepalives_idle",
                "tcp_keepalives_interval",
                "tcp_keepalives_count",
            )
        }
    assert settings == {
        "statement_timeout": "1min",
        "idle_in_transaction_session_timeout": "2min",
        "tcp_keepalives_idle": "30",
        "tcp_keepalives_interval": "10",
        "tcp_keepalives_count": "3",
    }


@pytest.mark.service
async def test_a_hung_query_is_cut_by_the_server_and_classified_as_transient(
    fresh_schema: str, pg_pool_factory: PoolFactory
) -> None:
    timeouts = DatabaseTimeouts(statement_timeout_s=0.3, command_timeout_s=10)
    pool = await pg_pool_factory(fresh_schema, timeouts=timeouts)
    started = time.monotonic()

    with pytest.raises(asyncpg.QueryCanceledError) as caught:
        await pool.execute("SELECT pg_sleep(30)")

    assert time.monotonic() - started < 5
    assert classify_failure(caught.value) is FailureKind.TRANSIENT
    assert await pool.fetchval("SELECT 1") == 1  # the connection is still usable


@pytest.mark.service
async def test_a_query_the_server_never_answers_is_cut_by_the_client_and_is_transient(
    fresh_schema: str, pg_pool_factory: PoolFactory
) -> None:
    # The server's own limit is far away: only asyncpg's command_timeout can end this wait.
    timeouts = DatabaseTimeouts(statement_timeout_s=60, command_timeout_s=0.3)
    pool = await pg_pool_factory(fresh_schema, timeouts=timeouts)
    started = time.monotonic()

    with pytest.raises(TimeoutError) as caught:
        await pool.execute("SELECT pg_sleep(30)")

    assert time.monotonic() - started < 5
    assert classify_failure(caught.value) is FailureKind.TRANSIENT


@pytest.mark.service
async def test_timeouts_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, fresh_schema: str, database_url: str
) -> None:
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_S", "2.5")
    monkeypatch.setenv("DB_TCP_KEEPALIVES_IDLE_S", "15")
    conn = await open_connection(database_url, schema=fresh_schema)
    try:
        assert await conn.fetchval("SELECT current_setting('statement_timeout')") == "2500ms"
        assert await conn.fetchval("SELECT current_setting('tcp_keepalives_idle')") == "15"
    finally:
        await conn.close()


@pytest.mark.unit
def test_default_timeouts_stay_below_the_kafka_poll_interval() -> None:
    defaults = DatabaseTimeouts()

    assert defaults.statement_timeout_s < defaults.command_timeout_s < MAX_POLL_INTERVAL_S / 2
