"""Consuming without losing or skipping anything: the middleware and the subscriber factory.

`ReliableConsumeMiddleware` wraps decoding, validation and the handler (FastStream 0.7.8
validates the handler's model inside the innermost call every middleware wraps), classifies
each failure (`mynaflow.messaging.failures`) and decides:
- poison: record a dead letter (table and `<service>.dead-letter` topic via the outbox) in its
  own transaction, then return normally, so the offset is committed and the partition moves on;
- transient: retry in place with capped exponential backoff, for ever; never skipped, never
  dead-lettered; after `RetryPolicy.in_place_budget_s` the record is given back (sought) and
  read again, so the consumer keeps polling;
- unhandled (a programming error): retried a few times (it may be a race), then dead-lettered
  with reason `unhandled_error`, so one bad record cannot stop a partition.
While stopping, a message still being retried is given back uncommitted, so it is redelivered
after the restart. Why this works with FastStream's acknowledgement: `docs/platform.md`.
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
from faststream import BaseMiddleware
from faststream.exceptions import IgnoredException
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy

from mynaflow.contracts.topics import TopicSpec
from mynaflow.messaging.dead_letter import DeadLetterSink
from mynaflow.messaging.errors import PoisonMessage
from mynaflow.messaging.failures import (
    FailureKind,
    classify_failure,
    describe_error,
    is_transient,
)
from mynaflow.messaging.offset_commit import BackgroundOffsetCommitter
from mynaflow.messaging.records import RawRecord, records_of
from mynaflow.runtime.loops import Backoff
from mynaflow.runtime.metrics import ServiceMetrics

if TYPE_CHECKING:
    from types import TracebackType

    from faststream._internal.context.repository import ContextRepo
    from faststream.kafka.subscriber.usecase import BatchSubscriber, DefaultSubscriber

log = logging.getLogger(__name__)

__all__ = [
    "STORAGE_REJECTED_REASON",
    "UNHANDLED_REASON",
    "UNREADABLE_REASON",
    "ReliableConsumeMiddleware",
    "RetryPolicy",
    "poison_reason",
    "reliable_subscriber",
]

UNHANDLED_REASON = "unhandled_error"
UNREADABLE_REASON = "unreadable_record"
# What a dead letter says when the database refused its error text.
_MINIMAL_ERROR_TEXT = "(error text not storable)"
# The database refused the record's values (SQLSTATE class 22): no retry will store them.
STORAGE_REJECTED_REASON = "storage_rejected"


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
        # No jitter: one consumer retries one record, and a fixed schedule keeps the in-place
        # budget predictable.
        return Backoff(self.first_backoff_s, self.max_backoff_s, jitter=0.0).delay_for(attempt)


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
    if isinstance(error, asyncpg.PostgresError):
        return STORAGE_REJECTED_REASON
    return UNHANDLED_REASON


def _parses_as_json(value: bytes) -> bool:
    try:
        json.loads(value)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the stack
        return False
    return True


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

    def __init__(
        self,
        dead_letter: DeadLetterSink,
        policy: RetryPolicy | None = None,
        *,
        background_commit: bool = False,
    ) -> None:
        self.dead_letter = dead_letter
        self.policy = policy or RetryPolicy()
        self.metrics = ServiceMetrics(dead_letter.service)
        # See mynaflow.messaging.offset_commit: only for handlers that deduplicate redeliveries.
        self.committer = BackgroundOffsetCommitter() if background_commit else None

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
            result = await self._deliver(call_next, msg, records)
        except _GiveBack as give_back:
            # Raising makes FastStream nack: the partition is sought back to the record.
            raise give_back.__cause__ or give_back from None
        if self.owner.committer is not None:
            await self.owner.committer.commit(msg, records, wait=self._stopping())
        return result

    async def after_processed(  # FastStream's signature; only `exc_val` matters here
        self,
        exc_type: type[BaseException] | None = None,  # noqa: ARG002
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,  # noqa: ARG002
    ) -> bool | None:
        """A record FastStream could not even parse is poison, whatever the exception.

        Parsing happens before `consume_scope`. FastStream then cannot build the message it would
        nack, so it does nothing, and the next record's commit silently skips this one. Here it
        is dead-lettered (kept, with its bytes) and committed instead. Any exception counts, not
        only the known poison ones: parsing touches no database or network, so nothing there
        can pass by itself, and a record left unrecorded would be lost.
        """
        # FastStream's own control flow (AckMessage, StopConsume, ...) is not a failure.
        if self._consumed or not isinstance(exc_val, Exception):
            return False
        if isinstance(exc_val, IgnoredException):
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
        """Storing the dead letter may itself fail transiently: retry it, never skip the record.

        If the database refuses the dead letter as written, it is stored once more with only
        what it cannot refuse (the bytes, the key, the reason code, the error's class name):
        otherwise the record would be redelivered and refused for ever, stopping its partition.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.owner.dead_letter.record(record, reason=reason, error=text)
                return
            except Exception as store_error:
                if not is_transient(store_error):
                    if text == _MINIMAL_ERROR_TEXT:
                        raise
                    log.error(
                        "dead letter refused by the database; storing it without its error text",
                        extra={"error": type(store_error).__name__, "offset": record.offset},
                    )
                    text = _MINIMAL_ERROR_TEXT
                    continue
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


# How long a batch subscriber's poll waits for records, and, when it found none, how long
# FastStream then sleeps before polling again (`KafkaSubscriber.get_msg`): a record that lands
# during that sleep waits out the rest of it. FastStream's default, 200 ms, made an idle
# consumer pick up a lone record up to 200 ms late (a lone notice took 105–205 ms to reach
# notice-intake's handler, and every paced load test's first notices were its slowest;
# docs/BENCHMARKS.md). At 20 ms an idle consumer polls 25 times a second (a fraction of a
# percent of a core) and a lone record waits at most 20 ms.
IDLE_POLL_MS = 20


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
    background_commit: bool = False,
    **options: Any,
) -> DefaultSubscriber | BatchSubscriber:
    """A subscriber decorator with the safe defaults; use it like `broker.subscriber(...)`.

    Topics and `group_id` are logical names: `dead_letter.topic_prefix` is put in front of them,
    so deployments (and tests) sharing a cluster never meet. Offsets are committed only after
    the handler returns; `auto_offset_reset="earliest"`; one message (or one batch of at most
    `max_records`) at a time per consumer. Several topics make one consumer (tell them apart
    with `record_of(message).topic`); extra keyword arguments go to `subscriber(...)`.
    `background_commit=True` lets the next fetch start while the offsets are committed
    (mynaflow.messaging.offset_commit): only for handlers that deduplicate redeliveries.
    """
    prefix = dead_letter.topic_prefix
    names = [_physical(name, prefix) for name in (topic, *more_topics)]
    middleware = ReliableConsumeMiddleware(dead_letter, retry, background_commit=background_commit)
    router = KafkaRouter(middlewares=[middleware])
    subscriber_options: dict[str, Any] = {
        "group_id": f"{prefix}{group_id}",
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "auto_offset_reset": "earliest",
    } | options
    subscriber: DefaultSubscriber | BatchSubscriber
    if batch:
        batch_options = {"batch_timeout_ms": IDLE_POLL_MS} | subscriber_options
        subscriber = router.subscriber(*names, batch=True, max_records=max_records, **batch_options)
    else:
        subscriber = router.subscriber(*names, **subscriber_options)
    router_or_broker.include_router(router)
    return subscriber
