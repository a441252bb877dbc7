"""What the operator CLI reads: the common settings plus where each service's HTTP server is."""

from __future__ import annotations

from mynaflow.contracts.topics import SERVICES
from mynaflow.settings import MynaflowSettings, load_settings
from pydantic import Field


class CliSettings(MynaflowSettings):
    """`NOTICE_INTAKE_URL`, `CARD_REGISTRY_URL`, `DEADLINE_WATCHER_URL`, `NOTIFIER_URL` name the
    services' HTTP servers (default: each service's default port on 127.0.0.1)."""

    notice_intake_url: str = "http://127.0.0.1:8081"
    card_registry_url: str = "http://127.0.0.1:8082"
    deadline_watcher_url: str = "http://127.0.0.1:8083"
    notifier_url: str = "http://127.0.0.1:8084"
    # Seconds one HTTP request to a service may take before it counts as not answering.
    cli_http_timeout_s: float = Field(default=5.0, gt=0)
    # Seconds reading consumer-group offsets from Kafka may take in total.
    cli_kafka_timeout_s: float = Field(default=15.0, gt=0)

    def service_urls(self) -> dict[str, str]:
        """Base URL of each service, in the catalogue's order, without a trailing slash."""
        urls = {
            "notice-intake": self.notice_intake_url,
            "card-registry": self.card_registry_url,
            "deadline-watcher": self.deadline_watcher_url,
            "notifier": self.notifier_url,
        }
        return {service: urls[service].rstrip("/") for service in SERVICES}


def load_cli_settings() -> CliSettings:
    """Environment first, then `.mynaflow/env`, then the defaults above."""
    return load_settings(CliSettings)
