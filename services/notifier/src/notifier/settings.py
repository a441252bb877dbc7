"""Settings of notifier: the common variables, with this service's own (docs/notifier.md)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from mynaflow.settings import MynaflowSettings

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

    def ward(self) -> WardInfo:
        return WardInfo(self.ward_name, self.ward_address, self.ward_section, self.ward_phone)

    def smtp_host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.smtp_url)
        return parts.hostname or "127.0.0.1", parts.port or 25
