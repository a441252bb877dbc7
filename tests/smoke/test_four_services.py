"""Smoke: the four services start as real processes, report ready, and stop cleanly on SIGTERM.

Each runs its own console script against the real Kafka and PostgreSQL, with a fresh database, a
unique topic prefix and a free HTTP port. All four start at once, so they also race on creating
the topic catalogue, which must be harmless.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mynaflow_testing.ports import free_port
from mynaflow_testing.waiting import wait_for

pytestmark = pytest.mark.service

SERVICES = ("notice-intake", "card-registry", "deadline-watcher", "notifier")
READY_TIMEOUT_S = 90.0
STOP_LIMIT_S = 10.0
ASYNCAPI_DIR = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"


@dataclass
class RunningService:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def describe(self) -> str:
        tail = "\n".join(self.log_lines()[-30:])
        return f"{self.name} (exit {self.process.poll()}), last log lines:\n{tail}"


def start_service(
    name: str, *, database_url: str, kafka_bootstrap: str, prefix: str, log_dir: Path
) -> RunningService:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TOPIC_PREFIX": prefix,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "SHUTDOWN_GRACE_S": "8",
    }
    log_path = log_dir / f"{name}.log"
    script = Path(sys.executable).parent / name  # the console script `uv run <name>` runs
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(script)], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    return RunningService(name, process, port, log_path)


@pytest.fixture
def four_services(
    database_url: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> Iterator[list[RunningService]]:
    services = [
        start_service(
            name,
            database_url=database_url,
            kafka_bootstrap=kafka_bootstrap,
            prefix=topic_prefix,
            log_dir=tmp_path,
        )
        for name in SERVICES
    ]
    yield services
    for service in services:  # whatever the test did, leave no process behind
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait()


async def readiness(service: RunningService) -> tuple[int | None, str]:
    if service.process.poll() is not None:
        pytest.fail(f"{service.describe()}", pytrace=False)
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"{service.url}/readyz")
    except httpx.TransportError as error:
        return None, type(error).__name__
    return response.status_code, response.text


def assert_serves_its_asyncapi_document(
    service: RunningService, served: dict[str, Any], prefix: str
) -> None:
    """The live document names the same channels as the committed one, under this prefix."""
    committed = json.loads((ASYNCAPI_DIR / f"{service.name}.json").read_text("utf-8"))
    live_topics = {channel["address"] for channel in served["channels"].values()}
    committed_topics = {prefix + c["address"] for c in committed["channels"].values()}
    assert served["asyncapi"] == "3.0.0"
    assert live_topics == committed_topics


async def test_all_four_services_start_report_ready_and_stop_on_sigterm(
    four_services: list[RunningService], topic_prefix: str
) -> None:
    for service in four_services:
        _status, body = await wait_for(
            lambda service=service: readiness(service),  # type: ignore[misc]
            until=lambda answer: answer[0] == 200,
            timeout=READY_TIMEOUT_S,
            interval=0.25,
            what=f"{service.name} ready",
        )
        assert json.loads(body)["checks"] == {"kafka": "ok", "postgres": "ok"}

    async with httpx.AsyncClient(timeout=5) as client:
        for service in four_services:
            assert (await client.get(f"{service.url}/healthz")).status_code == 200
            info = (await client.get(f"{service.url}/info")).json()
            assert info["service"] == service.name
            assert "service/V1__service_info" in info["migrations"]
            metrics = (await client.get(f"{service.url}/metrics")).text
            assert "mynaflow_messages_in_total" in metrics or "mynaflow_messages_in" in metrics
            assert_serves_its_asyncapi_document(
                service, (await client.get(f"{service.url}/asyncapi.json")).json(), topic_prefix
            )

    for service in four_services:
        service.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    for service in four_services:
        remaining = max(STOP_LIMIT_S - (time.monotonic() - started), 0.1)
        try:
            code = service.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            pytest.fail(f"did not stop within {STOP_LIMIT_S}s: {service.describe()}")
        assert code == 0, service.describe()

    for service in four_services:
        lines = service.log_lines()
        entries = [json.loads(line) for line in lines]  # every line is one JSON object
        assert {entry["service"] for entry in entries} == {service.name}
        assert any(entry["message"] == "service stopped" for entry in entries)
