"""Service tests: card-registry in-process on the real Kafka and PostgreSQL, one schema and
topic prefix per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.harness.card_registry import RegistryRun, registry_settings, start_registry
from mynaflow_testing.harness.deadline_watcher import Deployment, deployment_settings, new_schema


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


@pytest_asyncio.fixture
async def watcher(kafka_settings: MynaflowSettings, database_url: str) -> AsyncIterator[Deployment]:
    """A real deadline-watcher on the same topics (its own schema); catch-up settles in 1 s."""
    deployment = Deployment(
        deployment_settings(kafka_settings, database_url, catchup_settle_s=1.0), new_schema()
    )
    await deployment.start_watcher()
    try:
        yield deployment
    finally:
        await deployment.close()
