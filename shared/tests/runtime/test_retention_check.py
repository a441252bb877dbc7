"""Unit tests of the start-up check that the inbox outlives every consumed topic's retention."""

from __future__ import annotations

import os

import pytest
from mynaflow.contracts.topics import (
    DAY_MS,
    DEADLINES_REQUESTS,
    JLIS_NOTICES_RAW,
    LONG_RETENTION_MS,
    REGISTRY_COMMANDS,
)
from mynaflow.runtime.retention_check import InboxRetentionTooShort, check_inbox_outlives_topics
from mynaflow.settings import MynaflowSettings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _no_deployment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test states the retention it means; none leaks in from the shell running pytest."""
    for name in list(os.environ):
        if name.startswith(("TOPIC_", "INBOX_")):
            monkeypatch.delenv(name)


def test_the_defaults_pass() -> None:
    assert LONG_RETENTION_MS == 365 * DAY_MS
    check_inbox_outlives_topics(MynaflowSettings(), [JLIS_NOTICES_RAW, "registry.events"])


def test_an_inbox_shorter_than_a_consumed_topic_refuses_the_start() -> None:
    settings = MynaflowSettings(inbox_retention_days=30)
    with pytest.raises(InboxRetentionTooShort, match=r"deadlines\.requests keeps records 365 days"):
        check_inbox_outlives_topics(settings, [DEADLINES_REQUESTS])


def test_an_inbox_as_long_as_the_topic_is_not_enough() -> None:
    # Kafka deletes whole segments, so a record can still be read a little after retention.ms.
    with pytest.raises(InboxRetentionTooShort):
        check_inbox_outlives_topics(MynaflowSettings(inbox_retention_days=365), ["registry.events"])


def test_a_topic_kept_for_ever_refuses_any_inbox_retention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOPIC_RETENTION_MS_REGISTRY_COMMANDS", "-1")
    settings = MynaflowSettings(inbox_retention_days=100_000)
    with pytest.raises(InboxRetentionTooShort, match="TOPIC_RETENTION_MS_REGISTRY_COMMANDS"):
        check_inbox_outlives_topics(settings, [REGISTRY_COMMANDS])


def test_a_longer_retention_set_for_this_deployment_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOPIC_RETENTION_MS_JLIS_NOTICES_RAW", str(500 * DAY_MS))
    with pytest.raises(InboxRetentionTooShort, match=r"jlis\.notices\.raw keeps records 500 days"):
        check_inbox_outlives_topics(MynaflowSettings(), [JLIS_NOTICES_RAW])
    # Topics the service does not consume do not matter.
    check_inbox_outlives_topics(MynaflowSettings(), [REGISTRY_COMMANDS])
