"""Fixtures for service tests: a deadline-watcher deployment on the real Kafka and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest_asyncio
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.harness.deadline_watcher import (
    Deployment,
    delete_topics,
    deployment_settings,
    new_schema,
)

# Policies on a scale of seconds, so real time can walk a whole ladder within a test.
TEST_POLICIES: dict[str, Any] = {
    "quick": {
        "stages": [
            {"name": "first", "offset": "-3s", "role": "resident"},
            {"name": "second", "offset": "-2s", "role": "assignee"},
            {"name": "third", "offset": "-1s", "role": "desk_manager"},
            {"name": "breach", "role": "desk_manager"},
            {"name": "escalate", "offset": "+1s", "role": "section_chief"},
        ]
    },
    "slow_escalation": {
        "stages": [
            {"name": "breach", "role": "desk_manager"},
            {"name": "escalate", "offset": "+30s", "role": "section_chief"},
        ]
    },
    # Day offsets that keep the due time's time of day: a due time one (business) day and a few
    # seconds ahead puts the stage a few seconds ahead.
    "calendar_day": {
        "stages": [
            {"name": "day_before", "offset": "-1d", "role": "resident"},
            {"name": "breach", "role": "desk_manager"},
        ]
    },
    "business_day": {
        "stages": [
            {"name": "business_day_before", "offset": "-1bd", "role": "desk_manager"},
            {"name": "breach", "role": "section_chief"},
        ]
    },
    "one_stage": {
        "stages": [
            {"name": "reminder", "offset": "-2s", "role": "resident"},
            {"name": "breach", "role": "desk_manager"},
        ]
    },
}


@pytest_asyncio.fixture
async def deployment(
    kafka_settings: MynaflowSettings, database_url: str
) -> AsyncIterator[Deployment]:
    settings = deployment_settings(
        kafka_settings,
        database_url,
        deadline_policies=json.dumps(TEST_POLICIES),
        shutdown_grace_s=6.0,
    )
    deployment = Deployment(settings, new_schema())
    try:
        yield deployment
    finally:
        await deployment.close()
        await delete_topics(kafka_settings.kafka_bootstrap_servers, settings.topic_prefix)


@pytest_asyncio.fixture
async def own_database_url(database_url: str) -> AsyncIterator[str]:
    """A database of this test's own, for a watcher run as a process: the console script always
    uses the schema `deadline_watcher`, and tests must not share one (a killed process can leave
    outbox rows for topics a later test no longer has)."""
    name = f"dw_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
