"""The SMTP sender against a real aiosmtpd server that requires authentication (127.0.0.1):
credentials from the settings, plain text plus HTML, the Message-ID from the idempotency key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from mynaflow_testing.ports import free_port
from notifier.adapters.smtp import SmtpConfig, SmtpSender
from notifier.adapters.templates import RenderedMessage
from notifier.domain.idempotency import idempotency_key, message_id_for
from notifier.domain.records import Message
from notifier.service_layer.ports import Outgoing

pytestmark = [
    pytest.mark.service,
    # Auth without TLS is what this test wants (a relay on 127.0.0.1); aiosmtpd warns about it.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

USER, PASSWORD = "notifier", "s3cret"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802, ARG002
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def authenticate(
    server: Any,  # noqa: ARG001
    session: Any,  # noqa: ARG001
    envelope: Any,  # noqa: ARG001
    mechanism: str,  # noqa: ARG001
    auth_data: Any,
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (USER, PASSWORD)
    return AuthResult(success=ok)


@pytest.fixture
def relay() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    yield inbox, port
    controller.stop()


def outgoing(key: str) -> Outgoing:
    message = Message(
        message_id=uuid.uuid4(),
        aggregation_key=None,
        recipient_kind="staff",
        recipient_id="M-RECORDS",
        household_id=None,
        channel="email",
        template="staff_reminder",
        status="pending",
        send_after=datetime.now(UTC),
        message_key=key,
        created_at=datetime.now(UTC),
    )
    rendered = RenderedMessage("staff_reminder", "件名", "本文です。\n", "<p>本文です。</p>")
    return Outgoing(message, rendered, address="manager@ward.test")


async def test_mail_goes_through_an_authenticating_relay_with_its_message_id(
    relay: tuple[Inbox, int],
) -> None:
    inbox, port = relay
    config = SmtpConfig("127.0.0.1", port, "mynaflow@ward.test", username=USER, password=PASSWORD)
    key = idempotency_key("event-1", "M-RECORDS", "email")
    await SmtpSender(config).send(outgoing(key))

    (received,) = inbox.messages
    assert received["Message-ID"] == message_id_for(key, "ward.test")
    assert received["To"] == "manager@ward.test"
    assert received.get_body(("plain",)).get_content().strip() == "本文です。"  # type: ignore[union-attr]
    assert "本文です" in received.get_body(("html",)).get_content()  # type: ignore[union-attr]
