"""Unit tests of the broker factory's decisions (no servers).

The in-memory `TestKafkaBroker` runs the same middleware and decoder as production, which is
handy for fast handler tests; it never counts as proof of delivery guarantees (it has no offsets):
those are the service tests in `test_broker_reliability.py`.
"""

# FastStream's subscriber objects are untyped callables; decorating a handler with one is the
# test's way to register it, so mypy may not insist on typed decorators here.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pydantic
import pytest
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import ConsumerRecord
from faststream.exceptions import AckMessage
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.message import KafkaMessage as KafkaStreamMessage
from faststream.kafka.parser import AioKafkaParser
from mynaflow.contracts.envelope import CLOUDEVENTS_CONTENT_TYPE, RawCloudEvent
from mynaflow.contracts.topics import REGISTRY_COMMANDS
from mynaflow.messaging.broker import make_broker
from mynaflow.messaging.codec import parse_tolerating_bad_headers
from mynaflow.messaging.dead_letter import DeadLetterSink
from mynaflow.messaging.errors import PoisonMessage, TransientError
from mynaflow.messaging.failures import FailureKind, classify_failure
from mynaflow.messaging.records import RawRecord, record_of
from mynaflow.messaging.reliable_consume import (
    IDLE_POLL_MS,
    STORAGE_REJECTED_REASON,
    RetryPolicy,
    poison_reason,
    reliable_subscriber,
)
from mynaflow.messaging.topics_admin import _new_topics
from mynaflow.settings import MynaflowSettings
from pydantic import BaseModel

pytestmark = pytest.mark.unit


class Numbered(BaseModel):
    n: int


def validation_error() -> pydantic.ValidationError:
    try:
        Numbered.model_validate({"n": "x"})
    except pydantic.ValidationError as error:
        return error
    raise AssertionError("unreachable")


def sqlstate_error(sqlstate: str) -> asyncpg.PostgresError:
    """An error as asyncpg raises it for a SQLSTATE it has no class of its own for."""
    error = asyncpg.PostgresError(f"server said {sqlstate}")
    setattr(error, "sqlstate", sqlstate)  # noqa: B010  (asyncpg sets it per instance too)
    return error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (PoisonMessage("rule"), FailureKind.POISON),
        (validation_error(), FailureKind.POISON),
        (json.JSONDecodeError("bad", "x", 0), FailureKind.POISON),
        (TransientError("later"), FailureKind.TRANSIENT),
        (ConnectionRefusedError(), FailureKind.TRANSIENT),
        (TimeoutError(), FailureKind.TRANSIENT),
        (asyncpg.CannotConnectNowError("starting"), FailureKind.TRANSIENT),
        (asyncpg.DeadlockDetectedError("deadlock"), FailureKind.TRANSIENT),
        (asyncpg.AdminShutdownError("server restarting"), FailureKind.TRANSIENT),
        (asyncpg.InterfaceError("connection is closed"), FailureKind.TRANSIENT),
        # By SQLSTATE class: a database that is away, read-only or shutting down may pass.
        (asyncpg.ReadOnlySQLTransactionError("read-only transaction"), FailureKind.TRANSIENT),
        (asyncpg.IdleInTransactionSessionTimeoutError("idle"), FailureKind.TRANSIENT),
        (asyncpg.QueryCanceledError("statement timeout"), FailureKind.TRANSIENT),
        (asyncpg.PostgresIOError("could not read block"), FailureKind.TRANSIENT),
        (asyncpg.SerializationError("could not serialize access"), FailureKind.TRANSIENT),
        (asyncpg.TooManyConnectionsError("too many clients"), FailureKind.TRANSIENT),
        (asyncpg.ConnectionDoesNotExistError("connection lost"), FailureKind.TRANSIENT),
        (sqlstate_error("57P05"), FailureKind.TRANSIENT),  # a 57P code asyncpg has no class for
        (sqlstate_error("08999"), FailureKind.TRANSIENT),
        # Data the database refuses never passes.
        (asyncpg.DataError("invalid input syntax"), FailureKind.POISON),
        # asyncpg's own DataError is the client refusing an argument: a mistake in the call.
        (asyncpg.exceptions._base.DataError("invalid input for $1"), FailureKind.UNHANDLED),
        (asyncpg.CharacterNotInRepertoireError("invalid byte sequence 0x00"), FailureKind.POISON),
        (sqlstate_error("22999"), FailureKind.POISON),
        (asyncpg.UniqueViolationError("duplicate key"), FailureKind.UNHANDLED),
        (KafkaConnectionError(), FailureKind.TRANSIENT),
        (KeyError("bug"), FailureKind.UNHANDLED),
        (ValueError("bug"), FailureKind.UNHANDLED),
    ],
)
def test_failures_are_classified(error: Exception, kind: FailureKind) -> None:
    assert classify_failure(error) is kind


def test_data_the_database_refuses_is_dead_lettered_as_storage_rejected() -> None:
    error = asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding")
    assert poison_reason(error, []) == STORAGE_REJECTED_REASON


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(first_backoff_s=0.5, max_backoff_s=3.0)
    assert [policy.backoff_s(attempt) for attempt in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def offline_broker(service: str) -> KafkaBroker:
    """The service's broker under topic prefix `t.`, for `TestKafkaBroker` (no server)."""
    settings = MynaflowSettings(kafka_bootstrap_servers="unused:9092", topic_prefix="t.")
    return make_broker(settings, service=service)


def consumer_record(
    key: bytes | None, value: bytes, headers: list[tuple[str, bytes | None]]
) -> ConsumerRecord[bytes, bytes]:
    """A record of `t.registry.events` as aiokafka hands it over (offset 7 of partition 0)."""
    return ConsumerRecord(
        topic="t.registry.events",
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value),
        headers=headers,
    )


class RecordingSink(DeadLetterSink):
    """Keeps dead letters in memory instead of PostgreSQL."""

    def __init__(self) -> None:
        self.service, self.topic_prefix = "card-registry", "t."
        self.records: list[tuple[RawRecord, str]] = []

    # `error` is part of the sink's keyword interface, which this fake implements.
    async def record(self, record: RawRecord, *, reason: str, error: str) -> None:  # noqa: ARG002
        self.records.append((record, reason))


async def test_cloudevents_content_type_is_decoded_and_poison_is_dead_lettered() -> None:
    broker = offline_broker("card-registry")
    sink = RecordingSink()
    seen: list[Any] = []

    @reliable_subscriber(broker, "registry.events", group_id="g", dead_letter=sink)
    async def on_event(event: RawCloudEvent) -> None:
        seen.append(event.data)

    event = {"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data": {"a": 1}}
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(
            json.dumps(event).encode(),
            "t.registry.events",
            headers={"content-type": CLOUDEVENTS_CONTENT_TYPE},
        )
        await test_broker.publish(b"{not json", "t.registry.events")

    assert seen == [{"a": 1}]
    assert [(record.value, reason) for record, reason in sink.records] == [
        (b"{not json", "bad_json")
    ]


@pytest.mark.parametrize(
    "error",
    [
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        # Not a known poison error: still no record may be left unrecorded and uncommitted.
        AttributeError("'NoneType' object has no attribute 'decode'"),
        RecursionError("maximum recursion depth exceeded"),
        KeyError("content-type"),
    ],
)
async def test_a_record_that_cannot_be_parsed_is_dead_lettered_as_unreadable(
    error: Exception,
) -> None:
    broker = offline_broker("card-registry")
    sink = RecordingSink()
    handled: list[Any] = []

    async def parser_that_fails(_record: Any) -> Any:
        raise error

    @reliable_subscriber(
        broker, "registry.events", group_id="g", dead_letter=sink, parser=parser_that_fails
    )
    async def on_event(body: Any) -> None:
        handled.append(body)

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b'{"a": 1}', "t.registry.events")

    assert handled == []
    assert [(record.value, reason) for record, reason in sink.records] == [
        (b'{"a": 1}', "unreadable_record")
    ]


async def test_faststream_control_flow_exceptions_pass_through_untouched() -> None:
    broker = offline_broker("card-registry")
    sink = RecordingSink()
    calls: list[int] = []

    @reliable_subscriber(broker, "registry.events", group_id="g", dead_letter=sink)
    async def on_event(event: Numbered) -> None:
        calls.append(event.n)
        raise AckMessage()

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish({"n": 1}, "t.registry.events")

    assert calls == [1]  # not retried
    assert sink.records == []  # not dead-lettered


async def test_one_subscriber_can_read_several_topics_and_tell_them_apart() -> None:
    broker = offline_broker("notifier")
    seen: list[tuple[str, int]] = []

    @reliable_subscriber(
        broker, "intake.receipts", "registry.events", group_id="g", dead_letter=RecordingSink()
    )
    async def on_event(event: Numbered, message: KafkaMessage) -> None:
        seen.append((record_of(message).topic, event.n))

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish({"n": 1}, "t.intake.receipts")
        await test_broker.publish({"n": 2}, "t.registry.events")

    assert seen == [("t.intake.receipts", 1), ("t.registry.events", 2)]


def test_a_null_header_value_is_kept_as_null_in_the_raw_record() -> None:
    record = consumer_record(
        b"k\x00", b"{}", [("traceparent", None), ("content-type", b"application/json")]
    )
    raw = RawRecord.from_consumer_record(record)
    assert raw.headers == (("traceparent", None), ("content-type", b"application/json"))
    assert raw.key == b"k\x00"


async def test_the_parser_reads_a_record_with_a_null_header_value() -> None:
    record = consumer_record(None, b'{"n": 1}', [("traceparent", None)])
    faststream_parser = AioKafkaParser(KafkaStreamMessage, None)
    message = await parse_tolerating_bad_headers(record, faststream_parser.parse_message)
    assert message.headers["traceparent"] == ""
    assert message.body == b'{"n": 1}'


async def test_json_nested_deeper_than_the_stack_is_passed_on_as_bytes() -> None:
    broker = offline_broker("card-registry")
    sink = RecordingSink()
    nested = b"[" * 100_000 + b"]" * 100_000

    @reliable_subscriber(broker, "registry.events", group_id="g", dead_letter=sink)
    async def on_event(event: Numbered) -> None:
        raise AssertionError(f"never valid: {event}")

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(nested, "t.registry.events")

    assert [reason for _, reason in sink.records] == ["bad_json"]


def test_topics_are_created_for_a_real_cluster_unless_the_settings_say_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TOPIC_REPLICATION_FACTOR", raising=False)  # `.mynaflow/env` sets them
    monkeypatch.delenv("TOPIC_MIN_INSYNC_REPLICAS", raising=False)
    cluster = MynaflowSettings(kafka_bootstrap_servers="unused:9092")
    local = MynaflowSettings(
        kafka_bootstrap_servers="unused:9092",
        topic_replication_factor=1,
        topic_min_insync_replicas=1,
    )

    (on_cluster,) = _new_topics(cluster, [REGISTRY_COMMANDS], "t.")
    (on_local,) = _new_topics(local, [REGISTRY_COMMANDS], "t.")

    assert (on_cluster.replication_factor, on_cluster.topic_configs["min.insync.replicas"]) == (
        3,
        "2",
    )
    assert (on_local.replication_factor, on_local.topic_configs["min.insync.replicas"]) == (1, "1")


class RefusingErrorTextSink(RecordingSink):
    """A sink whose database refuses every error text but the minimal one."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []

    async def record(self, record: RawRecord, *, reason: str, error: str) -> None:
        self.errors.append(error)
        if error != "(error text not storable)":
            raise asyncpg.CharacterNotInRepertoireError("invalid byte sequence")
        await super().record(record, reason=reason, error=error)


async def test_a_dead_letter_the_database_refuses_is_stored_without_its_error_text() -> None:
    broker = offline_broker("card-registry")
    sink = RefusingErrorTextSink()

    @reliable_subscriber(broker, "registry.events", group_id="g", dead_letter=sink)
    async def on_event(event: Numbered) -> None:
        raise AssertionError(f"never valid: {event}")

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"{not json", "t.registry.events")

    assert [(record.value, reason) for record, reason in sink.records] == [
        (b"{not json", "bad_json")
    ]
    assert sink.errors[-1] == "(error text not storable)"
    assert len(sink.errors) == 2


def test_a_batch_subscriber_polls_an_idle_topic_every_few_milliseconds() -> None:
    # FastStream sleeps `batch_timeout_ms` after an empty poll: its 200 ms default made a lone
    # record wait up to 200 ms on an idle consumer (docs/BENCHMARKS.md, 2026-12-04).
    broker = offline_broker("card-registry")
    sink = RecordingSink()
    batch = reliable_subscriber(
        broker, "registry.events", group_id="g", dead_letter=sink, batch=True, max_records=10
    )
    chosen = reliable_subscriber(
        broker,
        "registry.commands",
        group_id="g",
        dead_letter=sink,
        batch=True,
        max_records=10,
        batch_timeout_ms=5,
    )

    assert IDLE_POLL_MS <= 50
    assert batch.batch_timeout_ms == IDLE_POLL_MS  # type: ignore[union-attr]
    assert chosen.batch_timeout_ms == 5  # type: ignore[union-attr]  # a caller's choice stands
