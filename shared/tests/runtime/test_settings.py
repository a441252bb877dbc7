"""Unit tests of the settings: everything configurable is read through pydantic-settings."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from mynaflow.contracts.topics import INTAKE_RECEIPTS, JLIS_NOTICES_RAW, REGISTRY_COMMANDS
from mynaflow.domain.calendar import national_holidays
from mynaflow.domain.time import now_jst
from mynaflow.settings import MynaflowSettings, TopicOverride
from pydantic import ValidationError

pytestmark = pytest.mark.unit

WEDNESDAY = date(2026, 6, 3)
SATURDAY = date(2026, 6, 6)


@pytest.fixture(autouse=True)
def _no_deployment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test states the variables it reads; none leak in from the shell running pytest."""
    prefixes = ("TOPIC_", "WARD_", "OUTBOX_", "RETENTION_", "MIGRATIONS_", "KAFKA_")
    for name in list(os.environ):
        if name.startswith((*prefixes, "SPOOL_DIR", "EXTRA_FILE")):
            monkeypatch.delenv(name)


def test_ward_closures_and_open_days_build_the_calendar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARD_CLOSURES", "2026-06-01..2026-06-03")
    monkeypatch.setenv("WARD_OPEN_DAYS", "2026-06-06")
    calendar = MynaflowSettings().business_calendar()
    assert not calendar.is_business_day(WEDNESDAY)
    assert calendar.is_business_day(SATURDAY)


def test_without_ward_variables_the_calendar_has_only_the_national_rules() -> None:
    calendar = MynaflowSettings().business_calendar()
    assert calendar.is_business_day(WEDNESDAY)
    assert not calendar.is_business_day(SATURDAY)
    assert calendar.extra_closures == frozenset()


def test_the_calendar_comes_with_this_years_holidays_loaded() -> None:
    # Loading them is slow (an import): it belongs to start-up, not to the first notice.
    national_holidays.cache_clear()
    MynaflowSettings().business_calendar()
    assert national_holidays.cache_info().currsize >= 1
    hits_before = national_holidays.cache_info().hits
    national_holidays(now_jst().year)
    assert national_holidays.cache_info().hits == hits_before + 1


def test_a_malformed_ward_closure_stops_the_settings_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WARD_CLOSURES", "2026-06-31")
    with pytest.raises(ValidationError, match="ward_closures"):
        MynaflowSettings()


def test_topic_variables_override_partitions_and_retention_of_their_topic_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOPIC_PARTITIONS_JLIS_NOTICES_RAW", "12")
    monkeypatch.setenv("TOPIC_RETENTION_MS_REGISTRY_COMMANDS", "-1")
    settings = MynaflowSettings()
    raw = settings.topic_spec(JLIS_NOTICES_RAW)
    commands = settings.topic_spec(REGISTRY_COMMANDS)
    assert (raw.partitions, raw.retention_ms) == (12, JLIS_NOTICES_RAW.retention_ms)
    assert (commands.partitions, commands.retention_ms) == (REGISTRY_COMMANDS.partitions, -1)
    assert settings.topic_spec(INTAKE_RECEIPTS) == INTAKE_RECEIPTS


def test_topic_overrides_given_in_code_may_use_the_topic_name() -> None:
    settings = MynaflowSettings(topic_overrides={"jlis.notices.raw": TopicOverride(partitions=3)})
    assert settings.topic_spec(JLIS_NOTICES_RAW).partitions == 3


def test_a_topic_variable_that_is_not_a_count_stops_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOPIC_PARTITIONS_JLIS_NOTICES_RAW", "0")
    with pytest.raises(ValidationError, match="partitions"):
        MynaflowSettings()


def test_replication_and_batch_sizes_are_settings_with_defaults_for_a_real_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = MynaflowSettings()
    assert (
        defaults.topic_replication_factor,
        defaults.topic_min_insync_replicas,
        defaults.outbox_batch_size,
        defaults.retention_batch_size,
    ) == (3, 2, 500, 10_000)
    # What `.mynaflow/env` exports for the local single broker.
    monkeypatch.setenv("TOPIC_REPLICATION_FACTOR", "1")
    monkeypatch.setenv("TOPIC_MIN_INSYNC_REPLICAS", "1")
    monkeypatch.setenv("OUTBOX_BATCH_SIZE", "50")
    monkeypatch.setenv("RETENTION_BATCH_SIZE", "1000")
    settings = MynaflowSettings()
    assert (
        settings.topic_replication_factor,
        settings.topic_min_insync_replicas,
        settings.outbox_batch_size,
        settings.retention_batch_size,
    ) == (1, 1, 50, 1000)


def test_the_relays_producer_batches_far_more_than_kafkas_16_kib_and_a_ward_may_change_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert MynaflowSettings().outbox_producer_batch_bytes == 256 * 1024
    monkeypatch.setenv("OUTBOX_PRODUCER_BATCH_BYTES", "65536")
    assert MynaflowSettings().outbox_producer_batch_bytes == 65536
    monkeypatch.setenv("OUTBOX_PRODUCER_BATCH_BYTES", "1024")
    with pytest.raises(ValidationError, match="outbox_producer_batch_bytes"):
        MynaflowSettings()


def test_more_replicas_in_sync_than_replicas_stops_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOPIC_REPLICATION_FACTOR", "1")
    with pytest.raises(ValidationError, match="TOPIC_MIN_INSYNC_REPLICAS"):
        MynaflowSettings()


def test_the_local_env_file_sets_one_replica() -> None:
    infra = Path(__file__).resolve().parents[3] / "scripts" / "infra.py"
    text = infra.read_text(encoding="utf-8")
    assert '"export TOPIC_REPLICATION_FACTOR=1\\n"' in text
    assert '"export TOPIC_MIN_INSYNC_REPLICAS=1\\n"' in text


@pytest.mark.parametrize("mechanism", [None, "PLAIN"])
def test_sasl_plain_over_plaintext_is_refused_unless_allowed(
    monkeypatch: pytest.MonkeyPatch, mechanism: str | None
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    if mechanism is not None:
        monkeypatch.setenv("KAFKA_SASL_MECHANISM", mechanism)
    with pytest.raises(ValidationError, match="KAFKA_ALLOW_SASL_PLAIN_OVER_PLAINTEXT"):
        MynaflowSettings()
    monkeypatch.setenv("KAFKA_ALLOW_SASL_PLAIN_OVER_PLAINTEXT", "true")
    assert MynaflowSettings().kafka_security_protocol == "SASL_PLAINTEXT"


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [("SASL_SSL", "PLAIN"), ("SASL_PLAINTEXT", "SCRAM-SHA-512"), ("PLAINTEXT", None)],
)
def test_a_password_that_never_crosses_the_wire_in_clear_is_accepted(
    monkeypatch: pytest.MonkeyPatch, protocol: str, mechanism: str | None
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", protocol)
    if mechanism is not None:
        monkeypatch.setenv("KAFKA_SASL_MECHANISM", mechanism)
    assert MynaflowSettings().kafka_security_protocol == protocol


def test_a_deployment_may_say_where_the_migrations_are(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MynaflowSettings().migrations_dir is None  # the workspace layout, next to the code
    monkeypatch.setenv("MIGRATIONS_DIR", "/srv/notice-intake/migrations")
    assert MynaflowSettings().migrations_dir == Path("/srv/notice-intake/migrations")


@pytest.mark.parametrize("value", ["", "   "], ids=["empty", "blank"])
@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("MIGRATIONS_DIR", "migrations_dir"),
        ("KAFKA_SSL_CAFILE", "kafka_ssl_cafile"),
        ("KAFKA_SSL_CERTFILE", "kafka_ssl_certfile"),
        ("KAFKA_SSL_KEYFILE", "kafka_ssl_keyfile"),
    ],
)
def test_an_empty_optional_path_variable_is_not_set_rather_than_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, variable: str, field: str, value: str
) -> None:
    # What `VAR=` in a compose file or `${VAR:-}` gives; pydantic alone reads it as Path(".").
    monkeypatch.setenv(variable, value)
    assert getattr(MynaflowSettings(), field) is None


def test_a_given_optional_path_is_still_read_as_a_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SSL_CAFILE", "/etc/mynaflow/kafka-tls/ca.crt")
    assert MynaflowSettings().kafka_ssl_cafile == Path("/etc/mynaflow/kafka-tls/ca.crt")


class _ServiceLikeSettings(MynaflowSettings):
    """A service's own class: the rule must reach the path fields a subclass adds."""

    spool_dir: Path = Path("/var/lib/spool")
    extra_file: Path | None = None


def test_the_rule_reaches_the_path_fields_a_service_adds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXTRA_FILE", "")
    assert _ServiceLikeSettings().extra_file is None
    monkeypatch.setenv("EXTRA_FILE", "/srv/extra.json")
    assert _ServiceLikeSettings().extra_file == Path("/srv/extra.json")


@pytest.mark.parametrize("value", ["", " \t"], ids=["empty", "blank"])
def test_an_empty_required_path_stops_the_settings_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SPOOL_DIR", value)
    with pytest.raises(ValidationError, match="SPOOL_DIR is empty"):
        _ServiceLikeSettings()


def test_the_rule_holds_for_values_given_in_code_too() -> None:
    assert MynaflowSettings(migrations_dir="").migrations_dir is None
    with pytest.raises(ValidationError, match="SPOOL_DIR is empty"):
        _ServiceLikeSettings(spool_dir="")


def test_an_empty_value_of_a_setting_that_is_not_a_path_is_left_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An empty topic prefix is a real value (no prefix), not "unset".
    monkeypatch.setenv("TOPIC_PREFIX", "")
    monkeypatch.setenv("WARD_CLOSURES", "")
    settings = MynaflowSettings()
    assert (settings.topic_prefix, settings.ward_closures) == ("", "")
