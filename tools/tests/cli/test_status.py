"""`mynaflow status` against real servers: local HTTP readiness endpoints and the real Kafka.

Each test starts its own tiny HTTP servers (one per service, answering /readyz with a chosen
status) and uses its own topic prefix, so its consumer groups (`<prefix><service>`) are its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic
from mynaflow.messaging.topics_admin import admin_client
from mynaflow_testing.kafka_helpers import produce
from mynaflow_testing.ports import free_port
from mynaflow_testing.waiting import wait_for
from mynaflow_tools.cli.main import app
from mynaflow_tools.cli.status import EXIT_LAG_UNKNOWN, EXIT_NOT_READY, EXIT_OK
from typer.testing import CliRunner, Result

pytestmark = pytest.mark.service

SERVICE_URL_VARIABLES = {
    "notice-intake": "NOTICE_INTAKE_URL",
    "card-registry": "CARD_REGISTRY_URL",
    "deadline-watcher": "DEADLINE_WATCHER_URL",
    "notifier": "NOTIFIER_URL",
}
NOT_READY_BODY = {"status": "not ready", "checks": {"kafka": "ok", "postgres": "timed out"}}


def _readiness_handler(status: int, body: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code, payload = (status, body) if self.path == "/readyz" else (404, {"error": "no"})
            encoded = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on the CLI's output, not the server's."""

    return Handler


@pytest.fixture
def readiness_server() -> Iterator[Callable[[int], str]]:
    """Start a real HTTP server answering /readyz with `status`; returns its base URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int) -> str:
        body = {"status": "ready", "checks": {"kafka": "ok"}} if status == 200 else NOT_READY_BODY
        server = ThreadingHTTPServer(("127.0.0.1", 0), _readiness_handler(status, body))
        Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """A URL where nothing listens: the port was free a moment ago and is closed again."""
    return f"http://127.0.0.1:{free_port()}"


async def run_cli(args: list[str], env: dict[str, str]) -> Result:
    # In a thread: the command runs its own event loop while this test's loop keeps consumer
    # heartbeats going.
    return await asyncio.to_thread(CliRunner().invoke, app, args, env=env)


def cli_env(urls: dict[str, str], bootstrap: str, prefix: str) -> dict[str, str]:
    env = {SERVICE_URL_VARIABLES[service]: url for service, url in urls.items()}
    env.update(KAFKA_BOOTSTRAP_SERVERS=bootstrap, TOPIC_PREFIX=prefix, COLUMNS="250")
    return env


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    async with admin_client(bootstrap) as admin:
        await admin.create_topics([NewTopic(name, partitions, 1)])


async def commit_offset(bootstrap: str, group_id: str, tp: TopicPartition, offset: int) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: offset})
    finally:
        await consumer.stop()


@pytest.fixture
async def live_member_that_never_commits(
    kafka_bootstrap: str, topic_prefix: str
) -> AsyncIterator[tuple[str, str]]:
    """A card-registry group member holding a topic with 3 messages, committing nothing."""
    topic = f"{topic_prefix}registry.commands"
    await create_topic(kafka_bootstrap, topic, 1)
    await produce(kafka_bootstrap, topic, [b"one", b"two", b"three"])
    group_id = f"{topic_prefix}card-registry"
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()

    async def assignment() -> set[TopicPartition]:
        return set(consumer.assignment())

    await wait_for(assignment, what="the group member's assignment", timeout=30)
    yield group_id, topic
    await consumer.stop()


def by_service(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["service"]: item for item in items}


async def test_not_ready_services_give_a_failing_exit_code(
    readiness_server: Callable[[int], str], kafka_bootstrap: str, topic_prefix: str
) -> None:
    urls = {
        "notice-intake": readiness_server(200),
        "card-registry": readiness_server(503),
        "deadline-watcher": closed_port_url(),
        "notifier": readiness_server(200),
    }
    result = await run_cli(["status", "--json"], cli_env(urls, kafka_bootstrap, topic_prefix))
    assert result.exit_code == EXIT_NOT_READY, result.output
    report = json.loads(result.stdout)
    services = by_service(report["services"])
    assert report["ready"] is False
    assert {name: s["ready"] for name, s in services.items()} == {
        "notice-intake": True,
        "card-registry": False,
        "deadline-watcher": False,
        "notifier": True,
    }
    assert services["card-registry"]["http_status"] == 503
    assert services["card-registry"]["detail"] == "postgres: timed out"
    assert services["deadline-watcher"]["http_status"] is None
    assert services["deadline-watcher"]["detail"].startswith("no answer")
    assert services["notice-intake"]["url"] == f"{urls['notice-intake']}/readyz"


async def test_all_ready_reports_each_groups_lag_and_exits_zero(
    readiness_server: Callable[[int], str],
    kafka_bootstrap: str,
    topic_prefix: str,
    live_member_that_never_commits: tuple[str, str],
) -> None:
    # notice-intake: 5 messages, 2 committed -> lag 3 on a committed partition.
    topic = f"{topic_prefix}jlis.notices.raw"
    await create_topic(kafka_bootstrap, topic, 1)
    await produce(kafka_bootstrap, topic, [f"notice {i}" for i in range(5)])
    await commit_offset(
        kafka_bootstrap, f"{topic_prefix}notice-intake", TopicPartition(topic, 0), 2
    )
    urls = {service: readiness_server(200) for service in SERVICE_URL_VARIABLES}

    result = await run_cli(["status", "--json"], cli_env(urls, kafka_bootstrap, topic_prefix))

    assert result.exit_code == EXIT_OK, result.output
    report = json.loads(result.stdout)
    assert report["ready"] is True
    groups = by_service(report["consumer_groups"])
    intake = groups["notice-intake"]
    assert intake["group_id"] == f"{topic_prefix}notice-intake"
    assert (intake["total_lag"], intake["error"]) == (3, None)
    assert intake["partitions"] == [{"topic": topic, "partition": 0, "lag": 3, "committed": True}]
    registry_group, registry_topic = live_member_that_never_commits
    registry = groups["card-registry"]
    assert registry["group_id"] == registry_group
    assert (registry["total_lag"], registry["members"], registry["state"]) == (3, 1, "Stable")
    assert registry["partitions"] == [
        {"topic": registry_topic, "partition": 0, "lag": 3, "committed": False}
    ]
    assert groups["notifier"]["total_lag"] == 0
    assert groups["notifier"]["partitions"] == []


async def test_people_get_tables_with_the_same_facts(
    readiness_server: Callable[[int], str], kafka_bootstrap: str, topic_prefix: str
) -> None:
    urls = {service: readiness_server(200) for service in SERVICE_URL_VARIABLES}
    urls["notifier"] = readiness_server(503)
    result = await run_cli(["status"], cli_env(urls, kafka_bootstrap, topic_prefix))
    assert result.exit_code == EXIT_NOT_READY
    lines = result.stdout.splitlines()
    notifier_row = next(line for line in lines if "notifier" in line and "readyz" in line)
    assert "NO" in notifier_row
    assert "503" in notifier_row
    assert "postgres: timed out" in notifier_row
    assert f"{topic_prefix}notice-intake" in result.stdout
    assert "NOT all services are ready" in result.stdout


async def test_unreachable_kafka_with_ready_services_exits_three(
    readiness_server: Callable[[int], str], topic_prefix: str
) -> None:
    urls = {service: readiness_server(200) for service in SERVICE_URL_VARIABLES}
    nowhere = closed_port_url().removeprefix("http://")
    result = await run_cli(["status", "--json"], cli_env(urls, nowhere, topic_prefix))
    assert result.exit_code == EXIT_LAG_UNKNOWN, result.output
    groups = json.loads(result.stdout)["consumer_groups"]
    assert [group["total_lag"] for group in groups] == [None] * 4
    assert all("KafkaConnectionError" in group["error"] for group in groups)
