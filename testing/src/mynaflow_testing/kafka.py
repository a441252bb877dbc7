"""pytest fixtures for the real Kafka.

`kafka_bootstrap` names the broker from `KAFKA_BOOTSTRAP_SERVERS` or `.mynaflow/env`. A broker
that cannot be reached FAILS the tests with a message saying what to do; it never skips them.
Each test gets its own topic prefix (`t<hex8>.`), so tests sharing the cluster never meet.

Every public name here is a fixture (the root conftest loads this module as a plugin);
helpers (`produce`, `consume_until`, ...) live in `mynaflow_testing.kafka_helpers`.
"""

from __future__ import annotations

import os as _os
import uuid as _uuid
from collections.abc import AsyncIterator as _AsyncIterator

import pytest
import pytest_asyncio
from mynaflow.contracts.topics import CATALOGUE as _CATALOGUE
from mynaflow.contracts.topics import topic_name as _topic_name
from mynaflow.messaging.topics_admin import admin_client as _admin_client
from mynaflow.messaging.topics_admin import (
    delete_topics_with_prefix as _delete_topics_with_prefix,
)
from mynaflow.messaging.topics_admin import ensure_topics as _ensure_topics
from mynaflow.settings import MynaflowSettings as _MynaflowSettings
from mynaflow.settings import apply_local_env_defaults as _apply_local_env_defaults
from mynaflow.settings import load_settings as _load_settings

_CONNECT_TIMEOUT_MS = 10_000


async def _fail_unless_reachable(bootstrap: str) -> None:
    try:
        async with _admin_client(bootstrap, request_timeout_ms=_CONNECT_TIMEOUT_MS) as admin:
            await admin.list_topics()
    except Exception as error:
        pytest.fail(
            f"Kafka at {bootstrap} cannot be reached ({type(error).__name__}: {error}). "
            "Start it with `make infra-up`, or point KAFKA_BOOTSTRAP_SERVERS at a running broker.",
            pytrace=False,
        )


@pytest_asyncio.fixture(scope="session")
async def kafka_bootstrap() -> str:
    """`host:port` of the real Kafka; the session fails if it does not answer."""
    _apply_local_env_defaults()
    bootstrap = _os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        pytest.fail(
            "Kafka is not configured: KAFKA_BOOTSTRAP_SERVERS is unset and no .mynaflow/env was "
            "found. Run `make infra-up` (it writes .mynaflow/env) or export it.",
            pytrace=False,
        )
    await _fail_unless_reachable(bootstrap)
    return bootstrap


@pytest_asyncio.fixture
async def topic_prefix() -> _AsyncIterator[str]:
    """A prefix no other test uses: `t<hex8>.`. Its topics are deleted after the test.

    Every test (and every service it starts) creates the whole catalogue under its prefix; a
    broker holding tens of thousands of stale partitions runs out of file handles.
    """
    prefix = f"t{_uuid.uuid4().hex[:8]}."
    yield prefix
    bootstrap = _os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:  # unset only for tests that never reach Kafka, so nothing was created
        await _delete_topics_with_prefix(bootstrap, prefix)


@pytest_asyncio.fixture
async def kafka_topics(kafka_bootstrap: str, topic_prefix: str) -> dict[str, str]:
    """The whole catalogue created under `topic_prefix`: logical name → physical name."""
    await _ensure_topics(kafka_bootstrap, _CATALOGUE, prefix=topic_prefix)
    return {spec.name: _topic_name(spec, topic_prefix) for spec in _CATALOGUE}


@pytest.fixture
def kafka_settings(
    kafka_bootstrap: str,
    topic_prefix: str,
    kafka_topics: dict[str, str],  # noqa: ARG001 (requested so the topics exist first)
) -> _MynaflowSettings:
    """Settings for code under test: the real Kafka, this test's prefix, its topics created."""
    return _load_settings(
        _MynaflowSettings, kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix
    )
