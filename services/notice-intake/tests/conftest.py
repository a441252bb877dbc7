"""Fixtures for notice-intake's tests; real Kafka and PostgreSQL come from `mynaflow_testing`."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from mynaflow.domain.personal_number import personal_number_check_digit
from mynaflow_testing.harness.notice_intake import InProcessIntake, start_in_process
from notice_intake.settings import NoticeIntakeSettings


def make_individual_number(first11: str) -> str:
    """A valid 個人番号 computed from docs/domain.md's formula, so none is ever committed."""
    return first11 + str(personal_number_check_digit(first11))


@pytest.fixture
def individual_number() -> Callable[[], str]:
    """Fresh valid individual numbers (random first 11 digits, computed check digit)."""
    rng = random.Random()

    def make() -> str:
        return make_individual_number("".join(rng.choice("0123456789") for _ in range(11)))

    return make


@pytest.fixture
def intake_settings(
    kafka_bootstrap: str,
    topic_prefix: str,
    kafka_topics: dict[str, str],  # noqa: ARG001 (requested so the topics exist first)
    database_url: str,
) -> NoticeIntakeSettings:
    return NoticeIntakeSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        http_port=0,
        sequence_gap_grace_s=2.0,
    )


@pytest_asyncio.fixture
async def running_intake(
    intake_settings: NoticeIntakeSettings, fresh_schema: str
) -> AsyncIterator[InProcessIntake]:
    """notice-intake running in this process on a schema of its own."""
    intake = await start_in_process(intake_settings, schema=fresh_schema)
    yield intake
    assert await intake.stop() == 0
