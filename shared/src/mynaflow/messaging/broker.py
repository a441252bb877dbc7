"""The Kafka broker factory and subscribers with safe delivery defaults.

What FastStream 0.7.8 does, read from its source, and what this module builds on it:

- `AckPolicy.ACK_FIRST` (FastStream's default) turns on aiokafka auto-commit: at-most-once. Every
  subscriber made here uses `AckPolicy.NACK_ON_ERROR` instead, which disables auto-commit. On
  success `KafkaAckableMessage.ack()` commits the consumer's positions (one message, or one
  batch, at a time per consumer, so nothing later than the handled message is committed); on an
  exception `nack()` seeks the partition back to the failed record, so it is read again and
  never skipped.
- A handler's message is decoded (JSON) and validated (pydantic, through fast_depends) inside
  the innermost call, which every middleware's `consume_scope` wraps. `ReliableConsumeMiddleware`
  therefore sees schema failures as well as handler errors, and decides:
  - poison (`PoisonMessage`, invalid JSON, a validation error): record a dead letter (table and
    `<service>.dead-letter` topic via the outbox) in its own transaction, then return normally so
    the offset is committed and the partition moves on;
  - transient (`TransientError`, OSError, asyncpg connection errors, Kafka errors): retry in
    place with capped exponential backoff, for ever; never skipped, never dead-lettered;
  - anything else (a programming error): retried a few times (it may be a race), then
    dead-lettered with reason `unhandled_error` so one bad record cannot stop a partition.
  While stopping, a message still being retried is given back uncommitted (seek), so it is
  redelivered after the restart.
- FastStream 0.7.8 has no per-subscriber middlewares, so `reliable_subscriber` registers each
  subscriber on its own small `KafkaRouter` carrying the middleware, included into the caller's
  router or broker.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import asyncpg
import fast_depends
import pydantic
from aiokafka.helpers import create_ssl_context
from faststream import BaseMiddleware
from faststream.exceptions import IgnoredException
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from mynaflow.contracts.topics import TopicSpec
from mynaflow.messaging.dead_letter import record_dead_letter
from mynaflow.messaging.errors import PoisonMessage, TransientError
from mynaflow.messaging.failures import (
    POISON_ERRORS,
    FailureKind,
    classify_failure,
    describe_error,
    is_transient,
)
from mynaflow.runtime.metrics import ServiceMetrics
from mynaflow.settings import MynaflowSettings

if TYPE_CHECKING:
    from types import TracebackType

    from faststream._internal.context.repository import ContextRepo
    from faststream.kafka.subscriber.usecase import BatchSubscriber, DefaultSubscriber

log = logging.getLogger(__name__)

__all__ = [
    "DeadLetterSink",
    "FailureKind",
    "PoisonMessage",
    "RawRecord",
    "ReliableConsumeMiddleware",
    "RetryPolicy",
    "TransientError",
    "classify_failure",
    "make_broker",
    "record_of",
    "records_of",
    "reliable_subscriber",
]

UNHANDLED_REASON = "unhandled_error"
UNREADABLE_REASON = "unreadable_record"


@dataclass(frozen=True)
class RetryPolicy:
    """How failed deliveries are retried."""

    first_backoff_s: float = 0.2
    max_backoff_s: float = 30.0
    # An unknown error is retried this many times in all before it is dead-lettered.
    unhandled_attempts: int = 5
    # After this long retrying in place, the record is handed back to the consumer (seek) and
    # read again: the consumer polls, so the group never evicts it for exceeding
    # `max_poll_interval_ms` (5 min) while a database is down.
    in_place_budget_s: float = 60.0

    def gives_up(self, kind: FailureKind, attempt: int) -> bool:
        """Whether a failure after `attempt` attempts means dead-lettering, not retrying."""
        if kind is FailureKind.POISON:
            return True
        return kind is FailureKind.UNHANDLED and attempt >= self.unhandled_attempts

    def backoff_s(self, attempt: int) -> float:
        return float(min(self.first_backoff_s * 2 ** (attempt - 1), self.max_backoff_s))


# --- raw Kafka coordinates ------------------------------------------------------------------


@dataclass(frozen=True)
class RawRecord:
    """One Kafka record as it was read: what dead letters and quarantine records keep."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int

    @classmethod
    def from_consumer_record(cls, record: Any) -> RawRecord:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=_as_bytes(record.key),
            value=_as_bytes(record.value) or b"",
            headers=tuple((name, bytes(value)) for name, value in (record.headers or ())),
            timestamp_ms=record.timestamp,
        )


def _as_bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def records_of(message: StreamMessage[Any]) -> list[RawRecord]:
    """The raw records behind a FastStream message (one, or all of a batch)."""
    raw = message.raw_message
    raw_records = raw if isinstance(raw, tuple | list) else (raw,)
    return [RawRecord.from_consumer_record(record) for record in raw_records]


def record_of(message: StreamMessage[Any]) -> RawRecord:
    """The raw record behind a single (non-batch) message.

    In a handler: `async def on_x(event: Model, message: KafkaMessage) -> None` with
    `from faststream.kafka.annotations import KafkaMessage`, then `record_of(message)`.
    """
    records = records_of(message)
    if len(records) != 1:
        raise ValueError(f"expected one record, got {len(records)}: use records_of()")
    return records[0]


# --- decoding -------------------------------------------------------------------------------


def _is_json_content_type(content_type: str | None) -> bool:
    if not content_type:
        return True  # structured-mode events may arrive without a content-type header
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _decode_body(body: bytes, content_type: str | None) -> Any:
    """JSON for JSON (and CloudEvents) content, else the bytes as they are.

    Bytes that do not parse are passed on unchanged: a handler typed with a model then fails
    validation (dead-lettered as `bad_json`), and a raw-bytes handler still gets them.
    """
    if not _is_json_content_type(content_type):
        return body
    try:
        return json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return body


async def decode_json_bodies(message: StreamMessage[Any]) -> Any:
    """Broker decoder: understands `application/cloudevents+json` as well as plain JSON."""
    if isinstance(message.raw_message, tuple):
        headers = message.batch_headers or [{} for _ in message.body]
        return [
            _decode_body(body, header.get("content-type"))
            for body, header in zip(message.body, headers, strict=True)
        ]
    return _decode_body(message.body, message.content_type)


def _readable_header(value: bytes) -> bytes:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("utf-8", errors="replace").encode("utf-8")
    return value


async def parse_tolerating_bad_headers(
    record: Any, parse: Callable[[Any], Awaitable[StreamMessage[Any]]]
) -> StreamMessage[Any]:
    """Broker parser: a header value that is not UTF-8 is replaced, not fatal.

    FastStream decodes every header as UTF-8 before any middleware runs; one stray byte in a
    tracing header would otherwise make a good record unprocessable.
    """
    for raw in record if isinstance(record, tuple) else (record,):
        if raw.headers:
            raw.headers = [(name, _readable_header(value)) for name, value in raw.headers]
    return await parse(record)


# --- the broker -----------------------------------------------------------------------------


def kafka_security(settings: MynaflowSettings) -> BaseSecurity | None:
    """FastStream's security object for the settings' TLS/SASL choice (None for PLAINTEXT)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    use_ssl = protocol in ("SSL", "SASL_SSL")
    ssl_context = (
        create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
        )
        if use_ssl
        else None
    )
    if protocol == "SSL":
        return BaseSecurity(ssl_context=ssl_context, use_ssl=True)
    username = settings.kafka_sasl_username or ""
    password = (
        settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    )
    sasl_classes: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }
    sasl_class = sasl_classes[settings.kafka_sasl_mechanism or "PLAIN"]
    return sasl_class(username, password, ssl_context=ssl_context, use_ssl=use_ssl)


def graceful_timeout_s(settings: MynaflowSettings) -> float:
    """How long stopping waits for in-flight handlers: the grace period minus time to flush."""
    return max(settings.shutdown_grace_s - 2.5, 1.0)


def make_broker(settings: MynaflowSettings, *, service: str, **options: Any) -> KafkaBroker:
    """A `KafkaBroker` for `service`: client id, TLS/SASL from settings, JSON/CloudEvents decoding.

    Topics are never created implicitly (`ensure_topics` does it at start-up). Extra keyword
    arguments go to `KafkaBroker` unchanged.
    """
    defaults: dict[str, Any] = {
        "client_id": f"{settings.topic_prefix}{service}",
        "security": kafka_security(settings),
        "decoder": decode_json_bodies,
        "parser": parse_tolerating_bad_headers,
        "allow_auto_create_topics": False,
        "graceful_timeout": graceful_timeout_s(settings),
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "acks": "all",
        "enable_idempotence": True,
        "logger": logging.getLogger(f"mynaflow.faststream.{service}"),
        # "Received"/"Processed" for every message is too much at INFO under load.
        "log_level": logging.DEBUG,
    }
    return KafkaBroker(settings.kafka_bootstrap_servers, **(defaults | options))


# --- dead letters ---------------------------------------------------------------------------


class DeadLetterSink:
    """Where a service's poison messages go: its `dead_letters` table and dead-letter topic.

    Each record is written in its own transaction on the service's pool; the outbox relay then
    publishes it to `<prefix><service>.dead-letter`. `topic_prefix` is also the prefix the
    service's subscribers read under.
    """

    def __init__(self, pool: asyncpg.Pool[Any], *, service: str, topic_prefix: str = "") -> None:
        self.pool = pool
        self.service = service
        self.topic_prefix = topic_prefix

    async def record(self, record: RawRecord, *, reason: str, error: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await record_dead_letter(
                conn,
                service=self.service,
                source_topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                payload=record.value,
                reason=reason,
                error=error,
                topic_prefix=self.topic_prefix,
            )


def poison_reason(error: BaseException, records: list[RawRecord]) -> str:
    """Why a poison message can never succeed, as a short stable code."""
    if isinstance(error, PoisonMessage):
        return error.reason
    if isinstance(error, json.JSONDecodeError | UnicodeDecodeError):
        return "bad_json"
    if isinstance(error, fast_depends.ValidationError | pydantic.ValidationError):
        return (
            "bad_json" if any(not _parses_as_json(r.value) for r in records) else "schema_invalid"
        )
    return UNHANDLED_REASON


def _parses_as_json(value: bytes) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


# --- the middleware -------------------------------------------------------------------------


class _GiveBack(Exception):
    """Internal: stop retrying in place; the record is sought back and read again."""


def _subset_message(message: StreamMessage[Any], index: int) -> StreamMessage[Any]:
    """Record `index` of a batch message, as a batch of one (same handler signature)."""
    single = copy.copy(message)
    single.raw_message = (message.raw_message[index],)
    single.body = [message.body[index]]
    single.batch_headers = message.batch_headers[index : index + 1]
    return single


class ReliableConsumeMiddleware:
    """A FastStream middleware factory: classify failures, retry, dead-letter (see module doc)."""

    def __init__(self, dead_letter: DeadLetterSink, policy: RetryPolicy | None = None) -> None:
        self.dead_letter = dead_letter
        self.policy = policy or RetryPolicy()
        self.metrics = ServiceMetrics(dead_letter.service)

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> _ReliableConsumeScope:
        return _ReliableConsumeScope(msg, context=context, owner=self)


class _ReliableConsumeScope(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: ContextRepo, owner: ReliableConsumeMiddleware):
        super().__init__(msg, context=context)
        self.owner = owner
        self._consumed = False

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        self._consumed = True
        records = records_of(msg)
        for record in records:
            self.owner.metrics.message_in(record.topic)
        try:
            return await self._deliver(call_next, msg, records)
        except _GiveBack as give_back:
            # Raising makes FastStream nack: the partition is sought back to the record.
            raise give_back.__cause__ or give_back from None

    async def after_processed(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool | None:
        """A record FastStream could not even parse (e.g. non-UTF-8 headers) is poison too.

        Parsing happens before `consume_scope`. FastStream then cannot build the message it would
        nack, so it does nothing, and the next record's commit silently skips this one. Here it
        is dead-lettered (kept, with its bytes) and committed instead.
        """
        if self._consumed or not isinstance(exc_val, POISON_ERRORS):
            return False
        raw = self.msg if isinstance(self.msg, tuple) else (self.msg,)
        records = [RawRecord.from_consumer_record(record) for record in raw]
        await self._dead_letter(records, exc_val, FailureKind.POISON, reason=UNREADABLE_REASON)
        # Concurrent subscribers put their consumer on the record; the others have one.
        consumer = getattr(raw[0], "consumer", None) or getattr(
            self.context.get("handler_"), "consumer", None
        )
        if consumer is not None:
            await consumer.commit()  # FastStream cannot ack a message it could not parse
        return True

    def _stopping(self) -> bool:
        subscriber = self.context.get("handler_")
        return subscriber is not None and not getattr(subscriber, "running", True)

    async def _deliver(
        self,
        call_next: Callable[[StreamMessage[Any]], Awaitable[Any]],
        msg: StreamMessage[Any],
        records: list[RawRecord],
        policy: RetryPolicy | None = None,
    ) -> Any:
        policy = policy or self.owner.policy
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call_next(msg)
            except IgnoredException:
                raise  # FastStream's own control flow (AckMessage, StopConsume, ...)
            except Exception as error:
                kind = classify_failure(error)
                self.owner.metrics.message_failed(records[0].topic, kind.value)
                if policy.gives_up(kind, attempt):
                    if len(records) > 1:
                        return await self._deliver_one_by_one(call_next, msg, records, kind)
                    await self._dead_letter(records, error, kind)
                    return None
                delay = policy.backoff_s(attempt)
                self._log_retry(records, error, kind, attempt, delay)
                if time.monotonic() - started + delay > policy.in_place_budget_s:
                    raise _GiveBack from error
                await self._sleep_unless_stopping(delay, error)
            msg.clear_cache()

    async def _deliver_one_by_one(
        self,
        call_next: Callable[[StreamMessage[Any]], Awaitable[Any]],
        msg: StreamMessage[Any],
        records: list[RawRecord],
        kind: FailureKind,
    ) -> None:
        """A batch gave up: replay it record by record to isolate the bad ones.

        The batch's transaction rolled back, so nothing is applied twice; records that pass are
        applied one by one, the others are dead-lettered. An unknown error was already retried
        with the whole batch, so each record then gets one attempt, not the full count again.
        """
        policy = self.owner.policy
        if kind is FailureKind.UNHANDLED:
            policy = replace(policy, unhandled_attempts=1)
        for index, record in enumerate(records):
            single = _subset_message(msg, index)
            # Handlers that read `Context("message")` must see the record they are given.
            with self.context.scope("message", single):
                await self._deliver(call_next, single, [record], policy)

    async def _sleep_unless_stopping(self, delay: float, error: Exception) -> None:
        deadline = time.monotonic() + delay
        while (remaining := deadline - time.monotonic()) > 0:
            if self._stopping():
                raise _GiveBack from error
            await asyncio.sleep(min(remaining, 0.1))
        if self._stopping():
            raise _GiveBack from error

    async def _dead_letter(
        self,
        records: list[RawRecord],
        error: Exception,
        kind: FailureKind,
        reason: str | None = None,
    ) -> None:
        if reason is None:
            reason = (
                poison_reason(error, records) if kind is FailureKind.POISON else UNHANDLED_REASON
            )
        text = describe_error(error)
        for record in records:
            await self._record_dead_letter_until_stored(record, reason, text, error)
            self.owner.metrics.message_dead_lettered(record.topic)
            log.warning(
                "message dead-lettered",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "reason": reason,
                },
            )

    async def _record_dead_letter_until_stored(
        self, record: RawRecord, reason: str, text: str, error: Exception
    ) -> None:
        """Storing the dead letter may itself fail transiently: retry it, never skip the record."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.owner.dead_letter.record(record, reason=reason, error=text)
                return
            except Exception as store_error:
                if not is_transient(store_error):
                    raise
                delay = self.owner.policy.backoff_s(attempt)
                log.warning(
                    "cannot store dead letter yet; retrying",
                    extra={"error": type(store_error).__name__, "delay_s": delay},
                )
                await self._sleep_unless_stopping(delay, error)

    def _log_retry(
        self,
        records: list[RawRecord],
        error: Exception,
        kind: FailureKind,
        attempt: int,
        delay: float,
    ) -> None:
        first = records[0] if records else None
        log.warning(
            "handler failed; retrying the same message",
            extra={
                "kind": kind.value,
                "error": describe_error(error),
                "attempt": attempt,
                "delay_s": delay,
                "topic": first.topic if first else None,
                "partition": first.partition if first else None,
                "offset": first.offset if first else None,
            },
        )


# --- subscribers ----------------------------------------------------------------------------


def _physical(name: TopicSpec | str, prefix: str) -> str:
    return f"{prefix}{name.name if isinstance(name, TopicSpec) else name}"


def reliable_subscriber(
    router_or_broker: KafkaBroker | KafkaRouter,
    topic: TopicSpec | str,
    *more_topics: TopicSpec | str,
    group_id: str,
    dead_letter: DeadLetterSink,
    batch: bool = False,
    max_records: int | None = None,
    retry: RetryPolicy | None = None,
    **options: Any,
) -> DefaultSubscriber | BatchSubscriber:
    """A subscriber decorator with the safe defaults; use it like `broker.subscriber(...)`.

    Topics and `group_id` are logical names: `dead_letter.topic_prefix` is put in front of them,
    so deployments (and tests) sharing a cluster never meet. Offsets are committed only after
    the handler returns; `auto_offset_reset="earliest"`; one message (or one batch of at most
    `max_records`) at a time per consumer. Several topics make one consumer (tell them apart
    with `record_of(message).topic`); extra keyword arguments go to `subscriber(...)`.
    """
    prefix = dead_letter.topic_prefix
    names = [_physical(name, prefix) for name in (topic, *more_topics)]
    router = KafkaRouter(middlewares=[ReliableConsumeMiddleware(dead_letter, retry)])
    subscriber_options: dict[str, Any] = {
        "group_id": f"{prefix}{group_id}",
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "auto_offset_reset": "earliest",
    } | options
    subscriber: DefaultSubscriber | BatchSubscriber
    if batch:
        subscriber = router.subscriber(
            *names, batch=True, max_records=max_records, **subscriber_options
        )
    else:
        subscriber = router.subscriber(*names, **subscriber_options)
    router_or_broker.include_router(router)
    return subscriber
