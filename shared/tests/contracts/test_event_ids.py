"""Event ids are random version-4 UUIDs in canonical text form, each new."""

from __future__ import annotations

from uuid import RFC_4122, UUID

import pytest
from mynaflow.contracts.envelope import AnyCloudEvent, new_event_id

pytestmark = pytest.mark.unit


def test_an_event_id_is_a_canonical_version_4_uuid() -> None:
    for _ in range(1000):
        event_id = new_event_id()
        parsed = UUID(event_id)
        assert str(parsed) == event_id
        assert parsed.version == 4
        assert parsed.variant == RFC_4122


def test_event_ids_do_not_repeat() -> None:
    ids = {new_event_id() for _ in range(10_000)}
    assert len(ids) == 10_000


def test_every_envelope_gets_its_own_id() -> None:
    first = AnyCloudEvent(source="test", type="jp.mynaflow.test.v1", data={})
    second = AnyCloudEvent(source="test", type="jp.mynaflow.test.v1", data={})
    assert first.id != second.id
    assert UUID(first.id).version == 4
