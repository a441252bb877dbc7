"""Handler unit tests drive card-registry on in-memory repositories and a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from mynaflow.domain.clock import FakeClock
from mynaflow_testing.memory.card_registry import Registry


@pytest.fixture
def reg() -> Registry:
    return Registry(FakeClock(datetime(2022, 3, 15, 1, 0, tzinfo=UTC)))
