"""Fixtures of the notifier's service tests: a real SMTP server (aiosmtpd) and a real HTTP
receiver, both on 127.0.0.1, and the notifier started against the real Kafka and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from mynaflow.runtime.definition import ServiceContext
from mynaflow.settings import load_settings
from mynaflow_testing.ports import free_port
from mynaflow_testing.service import RunningService, start_service
from notifier.app import bootstrap, definition, register
from notifier.settings import NotifierSettings

MANAGER = "M-RECORDS"
MANAGER_EMAIL = "records-manager@ward.test"
ISSUANCE_MANAGER = "M-ISSUANCE"
ISSUANCE_EMAIL = "issuance-manager@ward.test"
CHIEF = "C-KOSEKI"
CHIEF_EMAIL = "koseki-chief@ward.test"
HOOKED = "S-HOOK"


@dataclass
class SmtpCatcher:
    """An aiosmtpd server on 127.0.0.1 that keeps every message; can be stopped and started."""

    port: int
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802, ARG002
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpts, message in self.messages if address in rcpts]


@pytest.fixture
def smtp() -> Iterator[SmtpCatcher]:
    catcher = SmtpCatcher(free_port())
    catcher.start()
    yield catcher
    catcher.stop()


@dataclass
class HttpReceiver:
    """A local HTTP server (127.0.0.1) answering `fail_first` POSTs with 503, then 200."""

    fail_first: int = 0
    always_fail: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def answer(self, body: dict[str, Any]) -> int:
        self.requests.append(body)
        failing = self.always_fail or len(self.requests) <= self.fail_first
        status = 503 if failing else 200
        self.statuses.append(status)
        return status


def _handler_for(receiver: HttpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            status = receiver.answer(json.loads(self.rfile.read(length)))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(receiver))
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def staff_file(tmp_path: Path, webhook_url: str) -> Path:
    config = {
        "staff": {
            MANAGER: {"name": "記録係長", "email": MANAGER_EMAIL},
            ISSUANCE_MANAGER: {"name": "交付係長", "email": ISSUANCE_EMAIL},
            CHIEF: {"name": "戸籍課長", "email": CHIEF_EMAIL},
            HOOKED: {"name": "連携先", "webhook": webhook_url},
        },
        "queues": {
            "card-records": {"desk_manager": MANAGER, "section_chief": CHIEF},
            "card-issuance": {"desk_manager": ISSUANCE_MANAGER, "section_chief": CHIEF},
        },
        "default_queue": {"desk_manager": MANAGER, "section_chief": CHIEF},
    }
    path = tmp_path / "staff.json"
    path.write_text(json.dumps(config, ensure_ascii=False), "utf-8")
    return path


MakeSettings = Callable[..., NotifierSettings]


@pytest.fixture
def notifier_settings(
    kafka_bootstrap: str,
    topic_prefix: str,
    kafka_topics: dict[str, str],  # noqa: ARG001 (the topics must exist first)
    database_url: str,
    smtp: SmtpCatcher,
    receiver: HttpReceiver,
    tmp_path: Path,
) -> MakeSettings:
    """Settings sized for tests (seconds, not minutes); keyword arguments override."""

    def make(**overrides: Any) -> NotifierSettings:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": kafka_bootstrap,
            "topic_prefix": topic_prefix,
            "database_url": database_url,
            "smtp_url": f"smtp://127.0.0.1:{smtp.port}",
            "http_port": free_port(),
            "letters_dir": tmp_path / "letters",
            "staff_file": staff_file(tmp_path, receiver.url),
            "aggregation_window_s": 1.0,
            "retry_first_delay_s": 0.2,
            "retry_max_delay_s": 1.0,
            "retry_max_attempts": 6,
            "unknown_recipient_hold_s": 3.0,
            # Residents' email is never held by the tests' wall clock.
            "quiet_hours_start": "00:00",
            "quiet_hours_end": "23:59:59.999999",
        }
        return load_settings(NotifierSettings, **{**values, **overrides})

    return make


StartNotifier = Callable[..., Any]


@pytest.fixture
async def start_notifier(
    fresh_schema: str,
) -> AsyncIterator[Callable[..., Any]]:
    """`await start_notifier(settings, **overrides)`: the notifier on this test's schema."""
    running: list[RunningService[NotifierSettings]] = []

    async def start(settings: NotifierSettings, **overrides: Any) -> RunningService[Any]:
        def build(context: ServiceContext[NotifierSettings]) -> None:
            register(context, bootstrap(context, **overrides))

        service = replace(definition(), build=build)
        started = await start_service(service, settings, schema=fresh_schema)
        running.append(started)
        return started

    yield start
    for service in running:
        if not service.task.done():
            await service.stop()
