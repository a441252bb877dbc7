"""Email over SMTP (aiosmtplib): plain text plus HTML, Message-ID from the idempotency key."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import aiosmtplib

from notifier.domain.idempotency import message_id_for
from notifier.service_layer.ports import Outgoing, SendFailed


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    mail_from: str
    starttls: bool = False
    # PEM bundle of the CAs the relay's certificate may chain to (a ward's own internal CA);
    # None: the system's CAs. The certificate is verified either way.
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = None
    timeout_s: float = 30.0

    @property
    def message_id_domain(self) -> str:
        return self.mail_from.rpartition("@")[2] or "mynaflow.invalid"


def build_email(outgoing: Outgoing, config: SmtpConfig) -> EmailMessage:
    if outgoing.address is None:
        raise SendFailed("no_address")
    email = EmailMessage()
    email["From"] = config.mail_from
    email["To"] = outgoing.address
    email["Subject"] = outgoing.rendered.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = message_id_for(outgoing.message.message_key, config.message_id_domain)
    email.set_content(outgoing.rendered.text)
    email.add_alternative(outgoing.rendered.html, subtype="html")
    return email


class SmtpSender:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    async def send(self, outgoing: Outgoing) -> str | None:
        email = build_email(outgoing, self.config)
        try:
            await aiosmtplib.send(
                email,
                hostname=self.config.host,
                port=self.config.port,
                start_tls=self.config.starttls,
                # Never turned off: a relay whose certificate does not verify gets no mail.
                validate_certs=True,
                cert_bundle=str(self.config.ca_file) if self.config.ca_file else None,
                username=self.config.username,
                password=self.config.password,
                timeout=self.config.timeout_s,
            )
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
            # The kind of failure only: the exception text may carry the address.
            raise SendFailed(f"smtp_unavailable: {type(error).__name__}") from error
        return None
