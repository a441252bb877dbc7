"""scripts/infra.py's KRaft cluster id never starts with "-" (read as an option by Kafka)."""

from __future__ import annotations

import base64
import uuid

import pytest
from mynaflow_testing.own_servers import infra


def test_an_id_that_would_start_with_a_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xF8 as first byte encodes as "-" in URL-safe base64 (index 62).
    dashed = uuid.UUID(bytes=b"\xf8" + bytes(15))
    plain = uuid.UUID(bytes=b"\x00" + bytes(15))
    assert base64.urlsafe_b64encode(dashed.bytes).decode().startswith("-")
    draws = iter([dashed, dashed, plain])
    monkeypatch.setattr(infra.uuid, "uuid4", lambda: next(draws))

    cluster_id = infra.kafka_cluster_id()

    assert cluster_id == base64.urlsafe_b64encode(plain.bytes).decode().rstrip("=")
    assert len(cluster_id) == 22
