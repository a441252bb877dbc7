"""Service tests: card-registry in-process on the real Kafka and PostgreSQL, one schema and
topic prefix per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.harness.card_registry import RegistryRun, registry_settings, start_registry


@pytest_asyncio.fixture
async def registry(
    kafka_settings: MynaflowSettings, database_url: str
) -> AsyncIterator[RegistryRun]:
    """card-registry with a 2 s wait for unknown references, swept every 0.2 s."""
    settings = registry_settings(
        kafka_settings, database_url, unknown_wait_s=2.0, pending_sweep_s=0.2
    )
    run = await start_registry(settings)
    try:
        yield run
    finally:
        await run.close()
