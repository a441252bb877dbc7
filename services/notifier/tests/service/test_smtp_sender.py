"""The SMTP sender against real aiosmtpd servers on 127.0.0.1: one that requires authentication
(credentials from the settings, plain text plus HTML, the Message-ID from the idempotency key),
and one that requires STARTTLS with a certificate from a ward's own CA (made here with the
`openssl` CLI): the mail goes only over TLS to a certificate that verifies.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from mynaflow_testing.ports import free_port
from notifier.adapters.smtp import SmtpConfig, SmtpSender
from notifier.adapters.templates import RenderedMessage
from notifier.app import smtp_config
from notifier.domain.idempotency import idempotency_key, message_id_for
from notifier.domain.records import Message
from notifier.service_layer.ports import Outgoing, SendFailed
from notifier.settings import NotifierSettings

pytestmark = [
    pytest.mark.service,
    # Auth without TLS is what the first relay wants (on 127.0.0.1); aiosmtpd warns about it.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

USER, PASSWORD = "notifier", "s3cret"


def tls_version(session: Any) -> str | None:
    """The session's TLS version once STARTTLS is done (aiosmtpd keeps the TLS details in
    `session.ssl`), None while it is plain text."""
    return session.ssl["ssl_object"].version() if session.ssl is not None else None


class Inbox:
    """Every message the relay accepted, and the TLS version of each session it came over and
    of each login attempt (None: in clear text)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.message_tls: list[str | None] = []
        self.login_tls: list[str | None] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802, ARG002
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.message_tls.append(tls_version(session))
        return "250 OK"

    def authenticate(
        self,
        server: Any,  # noqa: ARG002
        session: Any,
        envelope: Any,  # noqa: ARG002
        mechanism: str,  # noqa: ARG002
        auth_data: Any,
    ) -> AuthResult:
        self.login_tls.append(tls_version(session))
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (USER, PASSWORD)
        return AuthResult(success=ok)


@contextmanager
def running_relay(**options: Any) -> Iterator[tuple[Inbox, int]]:
    """An authenticating aiosmtpd relay on 127.0.0.1; `options` go to its `SMTP`."""
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_required=True,
        **options,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def relay() -> Iterator[tuple[Inbox, int]]:
    with running_relay(auth_require_tls=False) as running:
        yield running


@dataclass(frozen=True)
class WardCa:
    ca_file: Path
    server_context: ssl.SSLContext


# Extensions as a real internal CA sets them: strict verification (VERIFY_X509_STRICT, the
# default from Python 3.13 on) accepts the chain too.
OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
# A P-256 key each (fast to make); the CA signs the server's certificate for 127.0.0.1.
MAKE_CA_AND_SERVER_CERTIFICATE = [
    "req -x509 -config openssl.cnf -extensions ca -newkey ec"
    " -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2"
    " -subj /CN=Ward-test-CA",
    "req -new -config openssl.cnf -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    " -keyout server.key -out server.csr -subj /CN=127.0.0.1",
    "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 1 -days 2"
    " -extfile openssl.cnf -extensions server -out server.pem",
]


def openssl(folder: Path, command: str) -> None:
    # A failure, never a skip: without the binary the TLS path would go untested unnoticed.
    if shutil.which("openssl") is None:
        pytest.fail("the openssl binary is needed to make the test CA (.ci/run installs it)")
    done = subprocess.run(
        ["openssl", *command.split()], cwd=folder, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"openssl {command} failed: {done.stderr}")


@pytest.fixture
def ward_ca(tmp_path: Path) -> WardCa:
    """A throwaway CA, and a server context with its certificate for 127.0.0.1."""
    (tmp_path / "openssl.cnf").write_text(OPENSSL_CONFIG)
    for command in MAKE_CA_AND_SERVER_CERTIFICATE:
        openssl(tmp_path, command)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    return WardCa(tmp_path / "ca.pem", context)


@pytest.fixture
def tls_relay(ward_ca: WardCa) -> Iterator[tuple[Inbox, int]]:
    """A relay that refuses everything but EHLO before STARTTLS, and AUTH in clear text."""
    with running_relay(
        tls_context=ward_ca.server_context, require_starttls=True, auth_require_tls=True
    ) as running:
        yield running


def tls_settings(port: int, **overrides: Any) -> NotifierSettings:
    values: dict[str, Any] = {
        "smtp_url": f"smtp://127.0.0.1:{port}",
        "smtp_starttls": True,
        "smtp_username": USER,
        "smtp_password": PASSWORD,
        "mail_from": "mynaflow@ward.test",
        "smtp_timeout_s": 10.0,
    }
    return NotifierSettings(**{**values, **overrides})


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


async def test_with_starttls_and_the_wards_ca_the_mail_and_the_login_go_over_tls(
    tls_relay: tuple[Inbox, int], ward_ca: WardCa
) -> None:
    inbox, port = tls_relay
    sender = SmtpSender(smtp_config(tls_settings(port, smtp_ca_file=ward_ca.ca_file)))
    key = idempotency_key("event-1", "M-RECORDS", "email")
    await sender.send(outgoing(key))

    (received,) = inbox.messages
    assert received["Message-ID"] == message_id_for(key, "ward.test")
    (login_tls,) = inbox.login_tls
    (message_tls,) = inbox.message_tls
    assert login_tls in {"TLSv1.2", "TLSv1.3"}
    assert message_tls in {"TLSv1.2", "TLSv1.3"}


async def test_a_certificate_from_a_ca_the_system_does_not_trust_gets_no_mail(
    tls_relay: tuple[Inbox, int],
) -> None:
    inbox, port = tls_relay
    sender = SmtpSender(smtp_config(tls_settings(port)))
    with pytest.raises(SendFailed, match=r"^smtp_unavailable: ") as failed:
        await sender.send(outgoing(idempotency_key("event-1", "M-RECORDS", "email")))

    assert isinstance(failed.value.__cause__, ssl.SSLCertVerificationError)
    assert inbox.messages == []
    assert inbox.login_tls == []


@pytest.mark.parametrize("with_login", [False, True], ids=["anonymous", "with-login"])
async def test_without_starttls_a_relay_that_requires_it_gets_no_mail_and_no_password(
    tls_relay: tuple[Inbox, int], with_login: bool
) -> None:
    inbox, port = tls_relay
    login = {} if with_login else {"smtp_username": None, "smtp_password": None}
    sender = SmtpSender(smtp_config(tls_settings(port, smtp_starttls=False, **login)))
    with pytest.raises(SendFailed, match=r"^smtp_unavailable: ") as failed:
        await sender.send(outgoing(idempotency_key("event-1", "M-RECORDS", "email")))

    # Anonymous: the relay's 530 to MAIL; with a login: AUTH is not offered before STARTTLS.
    assert "STARTTLS" in str(failed.value.__cause__)
    assert inbox.messages == []
    assert inbox.login_tls == []
