"""The PostgreSQL fixtures fail loudly (never skip) when the server is missing (no server used)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mynaflow_testing import postgres
from mynaflow_testing.ports import free_port

pytestmark = pytest.mark.unit


def test_an_unconfigured_server_fails_the_session_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("MYNAFLOW_HOME", str(tmp_path))  # a project folder with no .mynaflow/env

    with pytest.raises(pytest.fail.Exception, match=r"make infra-up"):
        postgres._server_url()


async def test_an_unreachable_server_fails_with_what_to_do_and_no_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(postgres, "_CONNECT_TIMEOUT_S", 1.0)
    url = f"postgresql://someone:secret-pw@127.0.0.1:{free_port()}/x"

    with pytest.raises(pytest.fail.Exception, match=r"cannot be reached.*make infra-up") as failed:
        await postgres._admin_connection(url)

    assert "secret-pw" not in str(failed.value)
