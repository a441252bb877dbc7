"""The topic catalogue (`docs/architecture.md`): one registry of names, partitions and retention.

Topics are created explicitly at every service's start-up (idempotently); automatic creation is
never relied on. A deployment may set other partition counts and retention per topic
(`TOPIC_PARTITIONS_<NAME>` / `TOPIC_RETENTION_MS_<NAME>`): the settings read them and
`MynaflowSettings.topic_spec(spec)` applies them; this module reads no environment.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 24 * 60 * 60 * 1000
# Notices and facts are kept long enough to rebuild any service from the log after an incident.
LONG_RETENTION_MS = 365 * DAY_MS
SHORT_RETENTION_MS = 7 * DAY_MS


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    description: str


JLIS_NOTICES_RAW = TopicSpec(
    "jlis.notices.raw", 6, LONG_RETENTION_MS, "Raw J-LIS notices (plain JSON, from outside)"
)
RESIDENT_MOVES = TopicSpec(
    "resident.moves", 6, LONG_RETENTION_MS, "Move-in/move-out events from the resident registry"
)
REGISTRY_COMMANDS = TopicSpec(
    "registry.commands", 6, LONG_RETENTION_MS, "Staff commands to card-registry"
)
INTAKE_RECEIPTS = TopicSpec(
    "intake.receipts", 6, LONG_RETENTION_MS, "Notice receipts and sequence-gap events"
)
REGISTRY_EVENTS = TopicSpec("registry.events", 6, LONG_RETENTION_MS, "card-registry domain events")
DEADLINES_REQUESTS = TopicSpec(
    "deadlines.requests", 6, LONG_RETENTION_MS, "Schedule/clear requests to deadline-watcher"
)
DEADLINES_EVENTS = TopicSpec(
    "deadlines.events", 6, LONG_RETENTION_MS, "Deadline stages, breaches, digests, heartbeats"
)
NOTIFIER_COMMANDS = TopicSpec(
    "notifier.commands", 3, LONG_RETENTION_MS, "Staff commands to the notifier (apology letters)"
)
NOTIFIER_DELIVERIES = TopicSpec(
    "notifier.deliveries", 3, LONG_RETENTION_MS, "Delivery log of the notifier"
)


def dead_letter_topic(service: str) -> TopicSpec:
    return TopicSpec(
        f"{service}.dead-letter", 1, LONG_RETENTION_MS, f"Poison messages of {service}"
    )


SERVICES = ("notice-intake", "card-registry", "deadline-watcher", "notifier")
# The dead-letter topic of notice-intake is `intake.dead-letter` (the contract names it so).
SERVICE_TOPIC_PREFIX = {
    "notice-intake": "intake",
    "card-registry": "registry",
    "deadline-watcher": "deadlines",
    "notifier": "notifier",
}
DEAD_LETTER_TOPICS = tuple(dead_letter_topic(SERVICE_TOPIC_PREFIX[s]) for s in SERVICES)

CATALOGUE: tuple[TopicSpec, ...] = (
    JLIS_NOTICES_RAW,
    RESIDENT_MOVES,
    REGISTRY_COMMANDS,
    INTAKE_RECEIPTS,
    REGISTRY_EVENTS,
    DEADLINES_REQUESTS,
    DEADLINES_EVENTS,
    NOTIFIER_COMMANDS,
    NOTIFIER_DELIVERIES,
    *DEAD_LETTER_TOPICS,
)


def topic_name(spec: TopicSpec, prefix: str = "") -> str:
    """The physical topic name under a deployment's prefix (empty by default)."""
    return f"{prefix}{spec.name}"


def dead_letter_topic_for(service: str) -> TopicSpec:
    return dead_letter_topic(SERVICE_TOPIC_PREFIX[service])
