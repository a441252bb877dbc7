"""Start-up check: a service's inbox must remember event ids longer than Kafka keeps the events.

An inbox id is what makes a redelivery change nothing. A consumer-group reset or a replay can
read a record until it leaves the log, which is the topic's `retention.ms` (and a little later:
Kafka deletes whole segments). If the inbox forgot the id first, that record would be applied a
second time. So a service refuses to start when `INBOX_RETENTION_DAYS` is not longer than the
retention of every topic it consumes, as this deployment configures them
(`MynaflowSettings.topic_spec`, including `TOPIC_RETENTION_MS_<NAME>`); a topic kept for ever
(`retention.ms=-1`) can never be matched. See docs/operations.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mynaflow.contracts.topics import CATALOGUE, DAY_MS, TopicSpec
from mynaflow.settings import MynaflowSettings, topic_override_key

__all__ = ["InboxRetentionTooShort", "check_inbox_outlives_topics", "consumed_specs"]

_BY_NAME = {spec.name: spec for spec in CATALOGUE}


class InboxRetentionTooShort(ValueError):
    """`INBOX_RETENTION_DAYS` would forget ids of events a consumed topic can still deliver."""


@dataclass(frozen=True)
class _Shortfall:
    spec: TopicSpec

    def describe(self) -> str:
        variable = f"TOPIC_RETENTION_MS_{topic_override_key(self.spec.name)}"
        if self.spec.retention_ms < 0:
            return f"{self.spec.name} keeps records for ever (retention.ms=-1; {variable})"
        days = self.spec.retention_ms / DAY_MS
        return f"{self.spec.name} keeps records {days:g} days (retention.ms; {variable})"


def consumed_specs(topics: Iterable[TopicSpec | str]) -> list[TopicSpec]:
    """The catalogue specs of the topics a service subscribes to (logical names or specs)."""
    specs: list[TopicSpec] = []
    for topic in topics:
        spec = topic if isinstance(topic, TopicSpec) else _BY_NAME.get(topic)
        if spec is not None and spec not in specs:
            specs.append(spec)
    return specs


def _outlives(inbox_ms: int, retention_ms: int) -> bool:
    return retention_ms >= 0 and inbox_ms > retention_ms


def check_inbox_outlives_topics(
    settings: MynaflowSettings, consumed: Iterable[TopicSpec | str]
) -> None:
    """Raise `InboxRetentionTooShort` naming every consumed topic the inbox would not outlive."""
    inbox_ms = settings.inbox_retention_days * DAY_MS
    shortfalls = [
        _Shortfall(effective)
        for effective in (settings.topic_spec(spec) for spec in consumed_specs(consumed))
        if not _outlives(inbox_ms, effective.retention_ms)
    ]
    if shortfalls:
        topics = "; ".join(shortfall.describe() for shortfall in shortfalls)
        raise InboxRetentionTooShort(
            f"INBOX_RETENTION_DAYS={settings.inbox_retention_days} is not longer than the "
            f"retention of topics this service consumes: {topics}. A redelivered event would be "
            "applied twice. Raise INBOX_RETENTION_DAYS or shorten those topics' retention."
        )
