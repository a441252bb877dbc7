"""Settings of notifier: the common variables, with this service's own (docs/notifier.md)."""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import urlsplit

from mynaflow.settings import MynaflowSettings
from pydantic import field_validator, model_validator

from notifier.domain.content import WardInfo

# Debian's fonts-ipaexfont (installed by .ci/run and the Dockerfile).
DEFAULT_FONT_PATH = Path("/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf")


class NotifierSettings(MynaflowSettings):
    """Read from the environment at start-up (`HTTP_PORT` overrides the port)."""

    http_port: int = 8084

    # The ward, as letters and emails name it.
    ward_name: str = "横浜市中区役所"
    ward_address: str = "横浜市中区日本大通35"
    ward_section: str = "戸籍課 マイナンバーカード担当"
    ward_phone: str = "045-224-8296"

    letters_dir: Path = Path(".mynaflow/letters")
    letter_font_path: Path = DEFAULT_FONT_PATH

    # Email: SMTP_URL (common) is smtp://host:port.
    smtp_starttls: bool = False
    # The relay's CA when it is not a system CA (a ward's internal CA), as a PEM bundle.
    smtp_ca_file: Path | None = None
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_s: float = 30.0
    mail_from: str = "mynaflow@ward.example.jp"
    sms_gateway_url: str | None = None
    # Staff webhook when a staff member has none of their own (e.g. a chat channel).
    staff_webhook_url: str | None = None
    http_timeout_s: float = 10.0

    routing_file: Path | None = None
    staff_file: Path | None = None

    aggregation_window_s: float = 600.0
    quiet_hours_start: str = "08:00"
    quiet_hours_end: str = "20:00"
    retry_first_delay_s: float = 30.0
    retry_max_delay_s: float = 3600.0
    retry_max_attempts: int = 6
    unknown_recipient_hold_s: float = 300.0
    watcher_silence_s: float = 600.0
    delivery_batch_size: int = 50

    @field_validator("smtp_ca_file")
    @classmethod
    def _ca_file_must_load(cls, path: Path | None) -> Path | None:
        # At start-up, not at the first email: each one would fail the same way until dead.
        if path is not None:
            try:
                ssl.create_default_context(cafile=path)
            except OSError as error:  # missing, unreadable, or no PEM certificate in it
                raise ValueError(
                    f"SMTP_CA_FILE={path} is not a readable PEM bundle: {error}"
                ) from error
        return path

    @model_validator(mode="after")
    def _ca_file_needs_starttls(self) -> NotifierSettings:
        if self.smtp_ca_file is not None and not self.smtp_starttls:
            raise ValueError(
                "SMTP_CA_FILE is set but SMTP_STARTTLS is off: the mail would go in clear text "
                "and the CA would never be used"
            )
        return self

    def ward(self) -> WardInfo:
        return WardInfo(self.ward_name, self.ward_address, self.ward_section, self.ward_phone)

    def smtp_host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.smtp_url)
        return parts.hostname or "127.0.0.1", parts.port or 25
