"""Service tests of the pool factory against the real PostgreSQL."""

from __future__ import annotations

import socket
import time

import pytest
from mynaflow.storage.pool import DatabaseUnavailableError, create_pool

pytestmark = pytest.mark.service


async def test_connections_use_the_schema_and_json_codecs(fresh_schema, pg_pool_factory):
    pool = await pg_pool_factory(fresh_schema)
    await pool.execute("CREATE TABLE docs (body jsonb)")
    await pool.execute("INSERT INTO docs VALUES ($1)", {"名前": "中区", "n": [1, 2]})

    assert await pool.fetchval("SELECT current_schema()") == fresh_schema
    assert await pool.fetchval("SELECT body FROM docs") == {"名前": "中区", "n": [1, 2]}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_unreachable_server_fails_clearly_after_the_timeout():
    url = f"postgresql://someone:secret-pw@127.0.0.1:{_closed_port()}/nothing"
    started = time.monotonic()

    with pytest.raises(DatabaseUnavailableError, match=r"did not accept connections") as caught:
        await create_pool(url, schema="x", connect_timeout_s=1.5)

    assert 1.0 <= time.monotonic() - started < 5.0
    assert "secret-pw" not in str(caught.value)
