"""Topic creation and consumer-group lag, through aiokafka's admin client.

Every service ensures the whole catalogue at start-up: automatic topic creation is never relied
on, and creating a topic that exists (or that a concurrent start-up is creating) is not an error.
Connection security (TLS, SASL) comes from the same settings as every other Kafka client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code
from aiokafka.helpers import create_ssl_context

from mynaflow.contracts.topics import CATALOGUE, TopicSpec, topic_name
from mynaflow.settings import MynaflowSettings

log = logging.getLogger(__name__)

_NO_ERROR = 0
_TOPIC_ALREADY_EXISTS = 36
# Errors no retry can cure: the topic settings do not fit this cluster (partitions, replication
# factor, min.insync.replicas, another config, a broker policy).
_CONFIGURATION_ERRORS = frozenset({37, 38, 39, 40, 44})


class TopicConfigurationError(RuntimeError):
    """The cluster refused a topic's settings; start-up stops at once and says which."""


# How long ensure_topics waits for newly created topics to appear in the cluster metadata, so
# that a consumer subscribing right after start-up finds every partition.
_METADATA_WAIT_S = 30.0
# Without settings (a bootstrap string): the local single-node broker.
DEFAULT_REPLICATION_FACTOR = 1


def kafka_client_options(settings: MynaflowSettings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client: bootstrap servers, TLS and SASL."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
        )
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = password.get_secret_value() if password else None
    return options


def _client_options(settings_or_bootstrap: MynaflowSettings | str) -> dict[str, Any]:
    if isinstance(settings_or_bootstrap, str):
        return {"bootstrap_servers": settings_or_bootstrap}
    return kafka_client_options(settings_or_bootstrap)


def _prefix_of(settings_or_bootstrap: MynaflowSettings | str, prefix: str | None) -> str:
    if prefix is not None:
        return prefix
    if isinstance(settings_or_bootstrap, str):
        return ""
    return settings_or_bootstrap.topic_prefix


@asynccontextmanager
async def admin_client(
    settings_or_bootstrap: MynaflowSettings | str, *, request_timeout_ms: int = 10_000
) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on exit."""
    admin = AIOKafkaAdminClient(
        client_id="mynaflow-admin",
        request_timeout_ms=request_timeout_ms,
        **_client_options(settings_or_bootstrap),
    )
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


def _new_topic(
    spec: TopicSpec, prefix: str, replication_factor: int, min_insync_replicas: int | None = None
) -> NewTopic:
    configs = {"retention.ms": str(spec.retention_ms)}
    if min_insync_replicas is not None:
        configs["min.insync.replicas"] = str(min_insync_replicas)
    return NewTopic(
        name=topic_name(spec, prefix),
        num_partitions=spec.partitions,
        replication_factor=replication_factor,
        topic_configs=configs,
    )


def _new_topics(
    settings_or_bootstrap: MynaflowSettings | str, specs: Iterable[TopicSpec], prefix: str
) -> list[NewTopic]:
    """The topics to create: as the catalogue says, or as the settings' deployment overrides."""
    if isinstance(settings_or_bootstrap, str):
        return [_new_topic(spec, prefix, DEFAULT_REPLICATION_FACTOR) for spec in specs]
    settings = settings_or_bootstrap
    return [
        _new_topic(
            settings.topic_spec(spec),
            prefix,
            settings.topic_replication_factor,
            settings.topic_min_insync_replicas,
        )
        for spec in specs
    ]


def _raise_for_create_errors(response: Any) -> list[str]:
    """Topics this request created; existing ones are fine, any other error is raised."""
    created: list[str] = []
    for topic_error in response.topic_errors:
        topic, code = topic_error[0], topic_error[1]
        if code == _NO_ERROR:
            created.append(topic)
        elif code != _TOPIC_ALREADY_EXISTS:
            message = topic_error[2] if len(topic_error) > 2 else ""
            _raise_create_error(topic, code, message)
    return created


def _raise_create_error(topic: str, code: int, message: str) -> None:
    error = for_code(code)
    if code in _CONFIGURATION_ERRORS:
        raise TopicConfigurationError(
            f"cannot create topic {topic}: {error.__name__}: {message}; check "
            "TOPIC_REPLICATION_FACTOR, TOPIC_MIN_INSYNC_REPLICAS and TOPIC_PARTITIONS_* "
            "against this cluster (a single local broker needs 1 and 1)"
        )
    raise error(f"cannot create topic {topic}: {message}")


def _ready_topics(descriptions: list[dict[str, Any]]) -> set[str]:
    """Topics whose every partition has a leader (a new topic has none for a moment)."""
    return {
        description["topic"]
        for description in descriptions
        if description["error_code"] == _NO_ERROR
        and description["partitions"]
        and all(
            p["error_code"] == _NO_ERROR and p["leader"] >= 0 for p in description["partitions"]
        )
    }


async def _wait_until_ready(admin: AIOKafkaAdminClient, names: set[str]) -> None:
    deadline = time.monotonic() + _METADATA_WAIT_S
    while True:
        missing = names - _ready_topics(await admin.describe_topics(sorted(names)))
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics without partition leaders: {sorted(missing)}")
        await asyncio.sleep(0.1)


async def ensure_topics(
    settings_or_bootstrap: MynaflowSettings | str,
    specs: Iterable[TopicSpec] = CATALOGUE,
    prefix: str | None = None,
) -> list[str]:
    """Create the missing topics of `specs` under `prefix`; return the names created now.

    `prefix=None` means the settings' `topic_prefix` (or none, given a bootstrap string).
    Partitions and `retention.ms` come from each spec, with the settings' `topic_overrides`
    applied, and replication from `topic_replication_factor` and `topic_min_insync_replicas`
    (given a bootstrap string: the specs as they are, one replica, the broker's default).
    Idempotent, and safe when several services start at the same time.
    """
    effective_prefix = _prefix_of(settings_or_bootstrap, prefix)
    new_topics = _new_topics(settings_or_bootstrap, specs, effective_prefix)
    async with admin_client(settings_or_bootstrap) as admin:
        existing = set(await admin.list_topics())
        missing = [topic for topic in new_topics if topic.name not in existing]
        created: list[str] = []
        if missing:
            created = _raise_for_create_errors(await admin.create_topics(missing))
        await _wait_until_ready(admin, {topic.name for topic in new_topics})
    if created:
        log.info("created topics", extra={"topics": created})
    return created


def group_id_for(service: str, prefix: str = "") -> str:
    """The consumer group of a service: its name, under the deployment's topic prefix."""
    return f"{prefix}{service}"


async def _end_offsets(
    settings_or_bootstrap: MynaflowSettings | str, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    # A consumer without a group only reads metadata and offsets; it joins nothing.
    consumer = AIOKafkaConsumer(
        group_id=None, enable_auto_commit=False, **_client_options(settings_or_bootstrap)
    )
    await consumer.start()
    try:
        offsets: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return offsets
    finally:
        await consumer.stop()


async def consumer_group_lag(
    settings_or_bootstrap: MynaflowSettings | str, group_id: str
) -> dict[str, dict[int, int]]:
    """Messages not yet committed by `group_id`, per topic and partition.

    Only partitions the group has committed at least once appear; a group that has never
    committed anything has an empty result.
    """
    async with admin_client(settings_or_bootstrap) as admin:
        committed = await admin.list_consumer_group_offsets(group_id)
    partitions = [tp for tp, meta in committed.items() if meta.offset >= 0]
    if not partitions:
        return {}
    ends = await _end_offsets(settings_or_bootstrap, partitions)
    lag: dict[str, dict[int, int]] = {}
    for tp in partitions:
        lag.setdefault(tp.topic, {})[tp.partition] = max(ends[tp] - committed[tp].offset, 0)
    return lag


async def committed_offsets(
    settings_or_bootstrap: MynaflowSettings | str, group_id: str
) -> dict[str, dict[int, int]]:
    """The offsets `group_id` has committed, per topic and partition (next offset to read)."""
    async with admin_client(settings_or_bootstrap) as admin:
        committed = await admin.list_consumer_group_offsets(group_id)
    result: dict[str, dict[int, int]] = {}
    for tp, meta in committed.items():
        if meta.offset >= 0:
            result.setdefault(tp.topic, {})[tp.partition] = meta.offset
    return result


async def delete_topics_with_prefix(
    settings_or_bootstrap: MynaflowSettings | str, prefix: str
) -> list[str]:
    """Delete every topic whose name starts with `prefix`; returns the names deleted.

    For test runs and retired deployments: a broker holding tens of thousands of partitions runs
    out of file handles. An empty prefix would name the whole cluster, so it is refused.
    """
    if not prefix:
        raise ValueError("refusing to delete topics with an empty prefix (that is every topic)")
    async with admin_client(settings_or_bootstrap) as admin:
        names = sorted(name for name in await admin.list_topics() if name.startswith(prefix))
        if names:
            await admin.delete_topics(names)
    return names
