"""Settings shared by every service and the CLI.

Values come from the environment. When `KAFKA_BOOTSTRAP_SERVERS` or `DATABASE_URL` are unset, the
`export` lines that `make infra-up` writes to `.mynaflow/env` fill them in, so a developer's shell
needs no setup. Settings are built at start-up (never at import time) so tests can build a service
with other values.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_EXPORT_LINE = re.compile(r"^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$")
LOCAL_ENV_RELATIVE_PATH = Path(".mynaflow") / "env"


def find_local_env_file(start: Path | None = None) -> Path | None:
    """The nearest `.mynaflow/env` at or above `start` (default: the working directory).

    `MYNAFLOW_HOME` names the project folder explicitly, for processes started elsewhere.
    """
    home = os.environ.get("MYNAFLOW_HOME")
    if home:
        candidate = Path(home) / LOCAL_ENV_RELATIVE_PATH
        return candidate if candidate.is_file() else None
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / LOCAL_ENV_RELATIVE_PATH
        if candidate.is_file():
            return candidate
    return None


def read_export_lines(path: Path) -> dict[str, str]:
    """Parse `export NAME=value` lines; values may be single- or double-quoted."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _EXPORT_LINE.match(line)
        if match:
            name, raw = match.groups()
            values[name] = raw.strip().strip("'\"")
    return values


def apply_local_env_defaults(start: Path | None = None) -> None:
    """Fill unset variables from `.mynaflow/env`; variables already set always win."""
    path = find_local_env_file(start)
    if path is None:
        return
    for name, value in read_export_lines(path).items():
        os.environ.setdefault(name, value)


class KafkaSecuritySettings(BaseSettings):
    """TLS and SASL for deployments whose Kafka authenticates producers of commands.

    Defaults are PLAINTEXT, which is what the local single-node broker speaks.
    """

    model_config = SettingsConfigDict(extra="ignore")

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None


class MynaflowSettings(KafkaSecuritySettings):
    """The variables every service reads, with the same names everywhere."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: str = "postgresql://mynaflow@127.0.0.1:5432/mynaflow"
    smtp_url: str = "smtp://127.0.0.1:1025"
    # Prefix for every topic name, so that several wards (or test runs) can share one cluster.
    topic_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    log_level: str = "INFO"
    # Seconds a graceful shutdown may take before in-flight work is abandoned (uncommitted).
    shutdown_grace_s: float = Field(default=8.0, gt=0)
    # Published outbox rows are kept this long (for inspection after an incident), then pruned.
    outbox_retention_hours: int = Field(default=168, gt=0)
    # Longer than the longest topic retention (365 days), so an event that can still be
    # redelivered from the log always finds its inbox id (see `mynaflow.messaging.retention`).
    inbox_retention_days: int = Field(default=400, gt=0)
    # Seconds between retention passes over the outbox and inbox.
    retention_interval_s: float = Field(default=3600.0, gt=0)


SettingsT = TypeVar("SettingsT", bound=MynaflowSettings)


def load_settings(settings_class: type[SettingsT], **overrides: object) -> SettingsT:
    """Build settings at start-up: environment first, then `.mynaflow/env`, then defaults."""
    apply_local_env_defaults()
    return settings_class(**overrides)  # type: ignore[arg-type]
