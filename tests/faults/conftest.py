"""Fixtures of the fault-injection suite: a database and a topic prefix per test, the load,
the processes a test launched (killed at the end whatever happened), and servers of the test's
own for the faults that stop a server (the shared ones serve every other test at once)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio
from mynaflow_testing.faults import Load, OutRecord, fault_volume
from mynaflow_testing.own_servers import OwnKafka, OwnPostgres, remove_folder, scratch_folder
from mynaflow_testing.processes import Fleet
from mynaflow_tools.loadtest.notices import generate_notices, new_run_id


async def _create_database(server_url: str) -> str:
    name = f"faults_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


async def _drop_database(server_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(server_url)
    try:
        # FORCE: a killed process's connections may not be gone yet.
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest_asyncio.fixture
async def fault_database_url(database_url: str) -> AsyncIterator[str]:
    """A database of this test's own on the shared server: the console scripts use fixed schema
    names, and `/stats` must count this test's receipts only."""
    url = await _create_database(database_url)
    yield url
    await _drop_database(database_url, url)


@pytest.fixture
def volume() -> int:
    return fault_volume()


@pytest.fixture
def load(volume: int) -> Load:
    """`volume` valid notices of a fresh run (the load test's generator: never an individual
    number), keyed by notice id."""
    notices = list(generate_notices(new_run_id(), volume))
    return Load(
        [OutRecord(n.key, n.payload) for n in notices], {n.notice_id: n.kind for n in notices}
    )


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    yield fleet
    fleet.stop_all()


@pytest.fixture
def scratch() -> Iterator[Path]:
    folder = scratch_folder("mynaflow-faults-")
    yield folder
    remove_folder(folder)


@pytest_asyncio.fixture
async def own_kafka(scratch: Path) -> AsyncIterator[OwnKafka]:
    kafka = OwnKafka(scratch / "kafka")
    await kafka.start()
    yield kafka
    await kafka.stop()


@pytest_asyncio.fixture
async def own_postgres(scratch: Path) -> AsyncIterator[OwnPostgres]:
    postgres = OwnPostgres(scratch / "postgres")
    await postgres.start(first=True)
    yield postgres
    await postgres.stop("immediate")
