"""Settings shared by every service and the CLI.

Values come from the environment. When `KAFKA_BOOTSTRAP_SERVERS` or `DATABASE_URL` are unset, the
`export` lines that `make infra-up` writes to `.mynaflow/env` fill them in, so a developer's shell
needs no setup. Settings are built at start-up (never at import time) so tests can build a service
with other values.

Every setting is read here, through pydantic-settings, and nowhere else: the ward's calendar
(`WARD_CLOSURES`, `WARD_OPEN_DAYS`, built by `business_calendar()`), the topics' partitions and
retention (`TOPIC_PARTITIONS_<NAME>`, `TOPIC_RETENTION_MS_<NAME>`, applied by `topic_spec()`), the
replication factor and the platform's batch sizes.

An empty variable never names a path: `SMTP_CA_FILE=` (what compose files and `${VAR:-}` give)
means "not set" for an optional path and stops the start-up for a required one, where pydantic
alone would read it as `Path(".")` (`SettingsBase`).
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import NoneType
from typing import Any, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from mynaflow.contracts.topics import TopicSpec
from mynaflow.domain.calendar import BusinessCalendar, parse_date_list
from mynaflow.domain.time import to_jst_date

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


class SettingsBase(BaseSettings):
    """What every settings class of the project shares, services' own classes included.

    A path setting given as an empty or blank value is "not set" (None) when the setting is
    optional (`Path | None`), and refused, naming the variable, when it is required. pydantic
    reads `""` as `Path(".")`, the working directory: an optional file that is really a folder
    stops the start-up with a confusing error (`SMTP_CA_FILE=`), and a required folder silently
    becomes wherever the process started. pydantic-settings offers no per-type rule for this
    (`env_parse_none_str=""` would also turn `TOPIC_PREFIX=` into None, and `env_ignore_empty`
    would give a required path its default), hence one validator over every field, which also
    covers the fields subclasses add.
    """

    model_config = SettingsConfigDict(extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def _an_empty_path_is_not_set(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str) or value.strip():
            return value
        name = info.field_name or ""
        annotation = cls.model_fields[name].annotation
        kinds = get_args(annotation) or (annotation,)
        if Path not in kinds:
            return value
        if NoneType in kinds:
            return None
        raise ValueError(f"{name.upper()} is empty: it needs a path (unset it for the default)")


class KafkaSecuritySettings(SettingsBase):
    """TLS and SASL for deployments whose Kafka authenticates producers of commands.

    Defaults are PLAINTEXT, which is what the local single-node broker speaks.
    """

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    # SASL PLAIN sends the password as it is: over PLAINTEXT anyone on the path reads it. Refused
    # unless a deployment says so on purpose (a test broker on a private network).
    kafka_allow_sasl_plain_over_plaintext: bool = False

    @model_validator(mode="after")
    def _no_clear_text_password(self) -> KafkaSecuritySettings:
        plain = (self.kafka_sasl_mechanism or "PLAIN") == "PLAIN"
        if (
            self.kafka_security_protocol == "SASL_PLAINTEXT"
            and plain
            and not self.kafka_allow_sasl_plain_over_plaintext
        ):
            raise ValueError(
                "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT with SASL PLAIN sends the Kafka password "
                "in clear text: use SASL_SSL, or a SCRAM mechanism, or set "
                "KAFKA_ALLOW_SASL_PLAIN_OVER_PLAINTEXT=true on purpose"
            )
        return self


class TopicOverride(BaseModel):
    """One topic's partitions and retention, where a deployment differs from the catalogue."""

    partitions: int | None = Field(default=None, gt=0)
    # -1 is Kafka's "keep for ever".
    retention_ms: int | None = Field(default=None, ge=-1)


# `TOPIC_PARTITIONS_<NAME>=12` sets `topic_overrides["<NAME>"].partitions`, and so on.
_TOPIC_OVERRIDE_VARIABLES = {
    "TOPIC_PARTITIONS_": "partitions",
    "TOPIC_RETENTION_MS_": "retention_ms",
}


def topic_override_key(name: str) -> str:
    """The key of a topic in `topic_overrides`: `jlis.notices.raw` → `JLIS_NOTICES_RAW`."""
    return name.upper().replace(".", "_").replace("-", "_")


class TopicOverridesSource(PydanticBaseSettingsSource):
    """Collects the per-topic variables, whose names pydantic-settings cannot know in advance."""

    # The signature pydantic-settings calls; this source produces everything in `__call__`.
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:  # noqa: ARG002
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        overrides: dict[str, dict[str, str]] = {}
        for variable, value in os.environ.items():
            for prefix, attribute in _TOPIC_OVERRIDE_VARIABLES.items():
                if variable.startswith(prefix) and len(variable) > len(prefix):
                    overrides.setdefault(variable[len(prefix) :], {})[attribute] = value
        return {"topic_overrides": overrides} if overrides else {}


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
    # Rows deleted per statement by a retention pass: large enough to keep up with any real
    # volume in a few statements, small enough that one takes well under a second and locks
    # only that many rows.
    retention_batch_size: int = Field(default=10_000, gt=0)
    # Outbox rows the relay reads, sends and marks published per round trip.
    outbox_batch_size: int = Field(default=500, gt=0)
    # Bytes of one partition's record batch in the relay's producer. Kafka's client default (16
    # KiB, about ten events) made a pass of 500 rows wait for the broker a few dozen times, each
    # wait also queued behind the consumer's work on the event loop; one batch per partition
    # per pass needs one wait. Must stay under the topics' `max.message.bytes` (Kafka's default
    # is 1 MiB): a batch the broker refuses as too large would park every row in it.
    outbox_producer_batch_bytes: int = Field(default=256 * 1024, ge=16 * 1024)
    # The ward's own closed days and extra open days (開庁日), e.g. `2026-06-01..2026-06-05`; see
    # `mynaflow.domain.calendar.parse_date_list` for the format.
    ward_closures: str = ""
    ward_open_days: str = ""
    # Where the service's own migrations are, when not next to its code in the workspace layout
    # (`services/<name>/migrations`); a container image that copies them elsewhere sets it.
    migrations_dir: Path | None = None
    # Replicas of each partition a service creates, and how many must have a record before the
    # producers' `acks="all"` succeeds (`min.insync.replicas`, set on each topic created). The
    # defaults suit a real cluster of three or more brokers: one may fail and nothing is lost.
    # The local single broker needs 1 and 1, which `make infra-up` exports in `.mynaflow/env`.
    topic_replication_factor: int = Field(default=3, gt=0)
    topic_min_insync_replicas: int = Field(default=2, gt=0)
    # Partitions and retention per topic where a deployment differs from the catalogue; read from
    # `TOPIC_PARTITIONS_<NAME>` and `TOPIC_RETENTION_MS_<NAME>` (dots and dashes of the topic
    # name become underscores: `TOPIC_PARTITIONS_JLIS_NOTICES_RAW=12`).
    topic_overrides: dict[str, TopicOverride] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TopicOverridesSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    @field_validator("ward_closures", "ward_open_days")
    @classmethod
    def _dates_must_parse(cls, value: str) -> str:
        parse_date_list(value)  # a typo stops the start-up, not the first deadline
        return value

    @field_validator("topic_overrides")
    @classmethod
    def _keys_as_variables_spell_them(
        cls, overrides: dict[str, TopicOverride]
    ) -> dict[str, TopicOverride]:
        return {topic_override_key(name): override for name, override in overrides.items()}

    @model_validator(mode="after")
    def _in_sync_replicas_exist(self) -> MynaflowSettings:
        if self.topic_min_insync_replicas > self.topic_replication_factor:
            raise ValueError(
                f"TOPIC_MIN_INSYNC_REPLICAS ({self.topic_min_insync_replicas}) is more than "
                f"TOPIC_REPLICATION_FACTOR ({self.topic_replication_factor}): every write would "
                "be refused"
            )
        return self

    def business_calendar(self) -> BusinessCalendar:
        """The ward's business-day calendar: national rules plus its closures and open days.

        Ready for this year's dates when returned: the first question otherwise loads the
        `holidays` package's Japanese tables (an import of ~0.3 s with the event loop stopped,
        which the first notice after every start-up waited for). Services build the calendar
        at start-up, so the load happens there.
        """
        calendar = BusinessCalendar.from_settings_string(self.ward_closures, self.ward_open_days)
        calendar.add_business_days(to_jst_date(datetime.now(UTC)), 1)
        return calendar

    def topic_spec(self, spec: TopicSpec) -> TopicSpec:
        """`spec` with this deployment's partitions and retention, where it sets them."""
        override = self.topic_overrides.get(topic_override_key(spec.name))
        if override is None:
            return spec
        return replace(
            spec,
            partitions=override.partitions or spec.partitions,
            retention_ms=spec.retention_ms
            if override.retention_ms is None
            else override.retention_ms,
        )


SettingsT = TypeVar("SettingsT", bound=MynaflowSettings)


def load_settings(settings_class: type[SettingsT], **overrides: object) -> SettingsT:
    """Build settings at start-up: environment first, then `.mynaflow/env`, then defaults."""
    apply_local_env_defaults()
    return settings_class(**overrides)  # type: ignore[arg-type]
