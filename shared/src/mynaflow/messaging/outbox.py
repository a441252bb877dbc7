"""The transactional outbox and its relay.

`add_to_outbox` writes an event in the caller's transaction, next to the state change it
describes. `OutboxRelay` publishes committed rows in id order, waits for the broker's
acknowledgement (the producer is idempotent with `acks="all"`), and only then marks them sent. A
crash anywhere loses nothing: an unmarked row is published again (consumers dedupe with the
inbox).

Only one relay per schema publishes at a time: it holds a session advisory lock on a dedicated
connection, which also LISTENs for the insert trigger's NOTIFY. Other replicas wait for the lock.
Rows of one key therefore leave in id order; callers keep id order per key by locking the
aggregate's row before adding its event (the usual case for a state change).

A row the broker can never accept (too large, an invalid topic: `PERMANENT_SEND_ERRORS`) is
parked with its reason (`parked_at`, `parked_reason`), logged as an error and counted in
`mynaflow_outbox_parked`, instead of being retried for ever in front of every later row. Later
rows of the same topic and key wait behind it, so their order is kept; every other row flows on.
`mynaflow_outbox_pending` is recounted after every pass that failed or parked a row, and at most
a second apart otherwise (each count is a round trip, and at 1,000 notices/s a pass runs every
few ms); it includes parked and waiting rows, so rows that cannot leave always show, at once.
See docs/operations.md.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from aiokafka.errors import (
    CorruptRecordException,
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from prometheus_client import Counter, Gauge

from mynaflow.contracts.envelope import CLOUDEVENTS_CONTENT_TYPE, CloudEvent, encode_event
from mynaflow.domain.ids import new_id
from mynaflow.messaging.inbox import require_transaction
from mynaflow.runtime.loops import Backoff, resilient_loop, sleep_until_woken_or_stopping

if TYPE_CHECKING:
    import asyncpg
    from aiokafka import AIOKafkaProducer

    from mynaflow.storage.pool import DbConnection

log = logging.getLogger(__name__)

# The service's "messages out": every event a service emits leaves through its outbox.
OUTBOX_PUBLISHED = Counter(
    "mynaflow_messages_out", "Events published to Kafka by the outbox relay", ["service", "topic"]
)
OUTBOX_PENDING = Gauge("mynaflow_outbox_pending", "Outbox rows not yet published", ["service"])
OUTBOX_PARKED = Gauge(
    "mynaflow_outbox_parked",
    "Outbox rows the broker can never accept, parked for an operator (alert on > 0)",
    ["service"],
)

# Refusals that no retry changes: the same bytes to the same topic are refused every time.
PERMANENT_SEND_ERRORS: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    InvalidTopicError,
    CorruptRecordException,
)

# The first parked row of each key that has one (few or none), read once per statement from
# `outbox_parked_idx`. MATERIALIZED, and joined below instead of a NOT EXISTS on `outbox` itself:
# with statistics taken when few rows were unsent, the planner ran that NOT EXISTS as a
# nested loop re-reading every unsent row for each row fetched (11-13 s for a batch of 500 behind
# 67,000-97,500 unsent rows, docs/BENCHMARKS.md); now the parked rows are read once.
_PARKED_KEYS = """
    WITH parked AS MATERIALIZED (
        SELECT topic, key, min(id) AS first_id FROM outbox
        WHERE parked_at IS NOT NULL AND published_at IS NULL
        GROUP BY topic, key
    )
"""
# A row (aliased `o`) the relay may send: unsent, not parked, and not behind a parked row of its
# key (whose order it would break). Parked rows and those behind them are left to an operator.
_SENDABLE = """
    o.published_at IS NULL AND o.parked_at IS NULL
    AND NOT EXISTS (
        SELECT 1 FROM parked AS p
        WHERE p.topic = o.topic AND p.key = o.key AND p.first_id < o.id
    )
"""
# The queries built on it are constants: only these literal fragments are joined.
FETCH_SENDABLE = (
    f"{_PARKED_KEYS} SELECT id, topic, key, payload, headers::text FROM outbox AS o "  # noqa: S608
    f"WHERE {_SENDABLE} ORDER BY id LIMIT $1"
)
_MAX_SENDABLE_ID = f"{_PARKED_KEYS} SELECT max(id) FROM outbox AS o WHERE {_SENDABLE}"  # noqa: S608
_NONE_SENDABLE_THROUGH = (
    f"{_PARKED_KEYS} SELECT NOT EXISTS "  # noqa: S608
    f"(SELECT 1 FROM outbox AS o WHERE o.id <= $1 AND {_SENDABLE})"
)
_LOCK_NAMESPACE = "mynaflow.outbox:"
_CLOUDEVENTS_HEADERS = {"content-type": CLOUDEVENTS_CONTENT_TYPE}
_FIRST_BACKOFF_S = 0.2
_MAX_BACKOFF_S = 10.0
# A pass that went well recounts the backlog only if the last count is at least this old.
_BACKLOG_RECOUNT_S = 1.0


async def walk_the_unsent_index(conn: DbConnection) -> None:
    """Make this session's relay fetch walk `outbox_unpublished_idx` in id order and stop after
    its LIMIT, whatever the table's statistics say.

    Without statistics (a new schema: autovacuum analyses a table a minute later at best), or
    with statistics taken when nearly every row was sent (the steady state), the planner expects
    a handful of unsent rows and prefers reading all of them and sorting. During a backlog that
    read every unsent row for each batch: 108 ms a fetch of 500 behind 100,000 unsent rows, so a
    burst's relay slowed down as the backlog grew (docs/BENCHMARKS.md). With sorting off the
    index order is used: under 1 ms for the same fetch. Set once on the relay's own connection
    (its other statements never sort) rather than per fetch, which cost three extra round trips
    a batch; the pool's reset on release (`RESET ALL`) gives the connection back unchanged.
    """
    await conn.execute("SET enable_sort = off")


class OutboxFlushTimeout(TimeoutError):
    """`flush()` gave up before every pending row was published."""


class _Stopped(Exception):
    """`stop()` was called while this relay was still waiting to become the publisher."""


async def add_raw_to_outbox(
    conn: DbConnection,
    *,
    topic: str,
    key: str | None,
    payload: bytes,
    headers: dict[str, str] | None = None,
    event_id: str | UUID | None = None,
) -> None:
    """Queue `payload` for `topic` in the caller's transaction (for non-CloudEvents bytes)."""
    require_transaction(conn, "add_raw_to_outbox")
    await conn.execute(
        """
        INSERT INTO outbox (event_id, topic, key, payload, headers)
        VALUES ($1, $2, $3, $4, $5)
        """,
        UUID(str(event_id)) if event_id is not None else new_id(),
        topic,
        key,
        payload,
        headers or {},
    )


async def add_to_outbox(
    conn: DbConnection, *, topic: str, key: str | None, event: CloudEvent[Any]
) -> None:
    """Queue a CloudEvent for `topic`, keyed by its aggregate id, in the caller's transaction."""
    await add_raw_to_outbox(
        conn,
        topic=topic,
        key=key,
        payload=encode_event(event),
        headers=_CLOUDEVENTS_HEADERS,
        event_id=event.id,
    )


async def add_many_to_outbox(
    conn: DbConnection, *, topic: str, events: Sequence[tuple[str | None, CloudEvent[Any]]]
) -> None:
    """Queue `(key, event)` pairs for `topic` in one statement, in the given (= publish) order.

    For batch work: one round trip instead of one per event, same rows as `add_to_outbox`.
    """
    await add_events_to_outbox(conn, [(topic, key, event) for key, event in events])


async def add_events_to_outbox(
    conn: DbConnection, events: Sequence[tuple[str, str | None, CloudEvent[Any]]]
) -> None:
    """Queue `(topic, key, event)` triples, for any topics, in one statement, in the given
    (= publish) order: a unit of work's whole outbox in one round trip."""
    require_transaction(conn, "add_events_to_outbox")
    if not events:
        return
    await conn.execute(
        """
        INSERT INTO outbox (event_id, topic, key, payload, headers)
        SELECT event_id, topic, key, payload, $5::jsonb
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[]) WITH ORDINALITY
            AS e(event_id, topic, key, payload, position)
        ORDER BY position
        """,
        # asyncpg encodes a uuid parameter from its text: no UUID object needed.
        [event.id for _, _, event in events],
        [topic for topic, _, _ in events],
        [key for _, key, _ in events],
        [encode_event(event) for _, _, event in events],
        _CLOUDEVENTS_HEADERS,
    )


KafkaHeaders = list[tuple[str, bytes]]


@dataclass(frozen=True)
class _Row:
    id: int
    topic: str
    key: str | None
    payload: bytes
    # Shared by the rows whose headers read the same (nearly all do): never to be changed.
    kafka_headers: KafkaHeaders

    def kafka_key(self) -> bytes | None:
        return self.key.encode("utf-8") if self.key is not None else None

    @property
    def ordering_key(self) -> tuple[str, str] | None:
        """Rows with the same ordering key must leave in id order (a null key orders nothing)."""
        return None if self.key is None else (self.topic, self.key)


@dataclass(frozen=True)
class _Parked:
    row: _Row
    error: Exception

    @property
    def reason(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"[:1000]


class _KafkaHeadersCache:
    """Kafka headers of an outbox row, from the text of its `headers` column.

    Nearly every row has the same headers (the CloudEvents content type), so each distinct text
    is parsed and encoded once, not once a row (a JSON decode and a list a row, ~2 % of
    notice-intake's CPU in a burst). A handful of distinct texts are kept; the cache starts
    again if there are ever more.
    """

    _MAX_TEXTS = 64

    def __init__(self) -> None:
        self._by_text: dict[str, KafkaHeaders] = {}

    def __call__(self, text: str) -> KafkaHeaders:
        headers = self._by_text.get(text)
        if headers is None:
            if len(self._by_text) >= self._MAX_TEXTS:
                self._by_text.clear()
            headers = self._by_text[text] = _encoded_headers(json.loads(text))
        return headers


def _encoded_headers(headers: dict[str, str]) -> KafkaHeaders:
    return [(name, value.encode("utf-8")) for name, value in headers.items()]


def _failed(result: object) -> bool:
    return isinstance(result, BaseException)


class OutboxRelay:
    """Publishes a schema's outbox. `run()` until `stop()`; `flush()` drains what is pending."""

    def __init__(
        self,
        pool: asyncpg.Pool[asyncpg.Record],
        producer: AIOKafkaProducer,
        *,
        schema: str,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        service: str | None = None,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._schema = schema
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._service = service or schema
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._backoff = Backoff(_FIRST_BACKOFF_S, _MAX_BACKOFF_S)
        self._backlog_counted_at: float | None = None  # monotonic; None: count after this pass
        self._kafka_headers = _KafkaHeadersCache()

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def _running(self) -> bool:
        return self._loop is not None and not self._loop.done()

    async def run(self) -> None:
        """Publish until `stop()`; every failure is logged and retried, never fatal."""
        # The loop runs as its own task so that `stop()` can cut a stuck batch short.
        self._loop = asyncio.create_task(self._lead_until_stopped(), name="outbox-relay-loop")
        try:
            await asyncio.wait([self._loop])
        finally:
            self._loop.cancel()
            await asyncio.wait([self._loop])

    async def stop(self, *, timeout_s: float = 5.0) -> None:
        """Make `run()` return after the batch in flight, waiting up to `timeout_s` for it.

        A batch still waiting for the broker then is abandoned: its rows stay unmarked and are
        published again later (consumers dedupe with the inbox), so nothing is lost.
        """
        self._stopping.set()
        self._wake.set()
        if self._loop is None or self._loop.done():
            return
        finished, _ = await asyncio.wait([self._loop], timeout=timeout_s)
        if not finished:
            log.warning("outbox relay for %s abandoned a batch at stop", self._schema)
            self._loop.cancel()
            await asyncio.wait([self._loop])

    async def flush(self, *, timeout_s: float = 30.0) -> None:
        """Publish every row pending now; raises `OutboxFlushTimeout` if that takes too long.

        Publishes itself when no relay of this schema is publishing; otherwise waits for the
        publishing relay (this one's `run()` or another replica's) to get past those rows.
        """
        try:
            async with asyncio.timeout(timeout_s):
                if self._running or not await self._publish_if_free():
                    await self._wait_until_published()
        except TimeoutError as error:
            raise OutboxFlushTimeout(
                f"outbox of {self._schema} not flushed in {timeout_s:g}s"
            ) from error

    async def _lead_until_stopped(self) -> None:
        # The relay must outlive any outage: every failure is logged and retried.
        await resilient_loop(
            self._lead_once,
            name=f"outbox relay for {self._schema}",
            stopping=self._stopping,
            interval_s=_MAX_BACKOFF_S,
            backoff=self._backoff,
            logger=log,
        )

    async def _lead_once(self) -> None:
        """Become the schema's publisher and publish until stopped (or a failure)."""
        try:
            async with self._leadership() as conn:
                self._backoff.reset()  # publishing again: the next failure starts afresh
                await self._publish_until_stopped(conn)
        except _Stopped:
            return

    # --- leadership: one publishing relay per schema ----------------------------------------

    @contextlib.asynccontextmanager
    async def _leadership(self) -> AsyncIterator[DbConnection]:
        """A connection holding the schema's relay lock and listening for new rows.

        A standby replica waits here until the publishing one stops or loses its connection.
        """
        async with self._pool.acquire() as conn:
            while not await self._try_lock(conn):
                if self._stopping.is_set():
                    raise _Stopped
                await sleep_until_woken_or_stopping(None, self._stopping, self._poll_interval_s)
            log.info("outbox relay for %s is publishing", self._schema)
            await walk_the_unsent_index(conn)
            try:
                async with self._listening(conn):
                    yield conn
            finally:
                await self._unlock(conn)

    @contextlib.asynccontextmanager
    async def _listening(self, conn: DbConnection) -> AsyncIterator[None]:
        channel = await conn.fetchval("SELECT outbox_channel($1)", self._schema)
        await conn.add_listener(channel, self._on_notify)
        try:
            yield
        finally:
            # A broken connection has stopped listening already; nothing more to undo.
            with contextlib.suppress(Exception):
                await conn.remove_listener(channel, self._on_notify)

    async def _publish_if_free(self) -> bool:
        """Drain the outbox here if no relay holds the lock; False if one does."""
        async with self._pool.acquire() as conn:
            if not await self._try_lock(conn):
                return False
            try:
                await walk_the_unsent_index(conn)
                await self._publish_pending(conn)
            finally:
                await self._unlock(conn)
        return True

    async def _try_lock(self, conn: DbConnection) -> bool:
        locked: bool = await conn.fetchval(
            """
            SELECT pg_try_advisory_lock(hashtextextended($1, 0))
            """,
            _LOCK_NAMESPACE + self._schema,
        )
        return locked

    async def _unlock(self, conn: DbConnection) -> None:
        # A broken connection has released the lock with its session.
        with contextlib.suppress(Exception):
            await conn.execute(
                """
                SELECT pg_advisory_unlock(hashtextextended($1, 0))
                """,
                _LOCK_NAMESPACE + self._schema,
            )

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    # --- publishing -------------------------------------------------------------------------

    async def _publish_until_stopped(self, conn: DbConnection) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            await self._publish_pending(conn)
            # `stop()` sets the wake-up too, so this returns at once when stopping.
            await sleep_until_woken_or_stopping(self._wake, self._stopping, self._poll_interval_s)

    async def _publish_pending(self, conn: DbConnection) -> None:
        """Publish batches until none is left; the pending count is recorded after a failed
        pass, and after a good one when the last count is a second old (module doc)."""
        try:
            while await self._publish_batch(conn) == self._batch_size:
                pass
        except BaseException:
            self._backlog_counted_at = None
            raise
        finally:
            if self._backlog_count_due():
                await self._record_backlog(conn)
        self._progress.set()

    def _backlog_count_due(self) -> bool:
        counted_at = self._backlog_counted_at
        return counted_at is None or time.monotonic() - counted_at >= _BACKLOG_RECOUNT_S

    async def _record_backlog(self, conn: DbConnection) -> None:
        # Best effort: when the database is away, the failure that got here is the one to report.
        with contextlib.suppress(Exception):
            pending, parked = await self._count_backlog(conn)
            OUTBOX_PENDING.labels(self._service).set(pending)
            OUTBOX_PARKED.labels(self._service).set(parked)
            self._backlog_counted_at = time.monotonic()

    async def _publish_batch(self, conn: DbConnection) -> int:
        """Publish the oldest sendable rows; marks those acknowledged, parks those refused for
        good, and raises if any other was not acknowledged. Returns how many rows it read."""
        rows = await self._fetch_unpublished(conn)
        delivered, parked, error = await self._send(rows)
        await self._mark_published(conn, delivered)
        await self._park(conn, parked)
        self._count_published(rows, set(delivered))
        if error is not None:
            raise error
        return len(rows)

    def _count_published(self, rows: list[_Row], delivered: set[int]) -> None:
        per_topic = collections.Counter(row.topic for row in rows if row.id in delivered)
        for topic, count in per_topic.items():
            OUTBOX_PUBLISHED.labels(self._service, topic).inc(count)

    async def _fetch_unpublished(self, conn: DbConnection) -> list[_Row]:
        """The oldest unsent rows, leaving out parked rows and rows of a key waiting behind one."""
        records = await conn.fetch(FETCH_SENDABLE, self._batch_size)
        headers_of = self._kafka_headers
        return [
            _Row(r["id"], r["topic"], r["key"], r["payload"], headers_of(r["headers"]))
            for r in records
        ]

    async def _send(self, rows: list[_Row]) -> tuple[list[int], list[_Parked], Exception | None]:
        """Send in id order, then await every acknowledgement.

        Returns the ids acknowledged, the rows refused for good (to park), and the first other
        error (the rows it concerns stay unsent and are tried again).
        """
        sent, parked, error = await self._enqueue_all(rows)
        results = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
        delivered: list[int] = []
        failures: list[Exception] = []
        for (row, _), result in zip(sent, results, strict=True):
            if not _failed(result):
                delivered.append(row.id)
            elif isinstance(result, PERMANENT_SEND_ERRORS):
                parked.append(_Parked(row, result))
            elif isinstance(result, Exception):
                failures.append(result)
        return delivered, parked, error or (failures[0] if failures else None)

    async def _enqueue_all(
        self, rows: list[_Row]
    ) -> tuple[list[tuple[_Row, asyncio.Future[Any]]], list[_Parked], Exception | None]:
        """Buffer rows in the producer; stop at the first refusal that may pass (broker away).

        A row refused for good is set aside to be parked, and later rows of its key are held
        back (not sent) so that they never overtake it.
        """
        sent: list[tuple[_Row, asyncio.Future[Any]]] = []
        parked: list[_Parked] = []
        blocked: set[tuple[str, str]] = set()
        for row in rows:
            if row.ordering_key is not None and row.ordering_key in blocked:
                continue
            try:
                sent.append((row, await self._enqueue(row)))
            except PERMANENT_SEND_ERRORS as error:
                parked.append(_Parked(row, error))
                if row.ordering_key is not None:
                    blocked.add(row.ordering_key)
            except Exception as error:
                return sent, parked, error
        return sent, parked, None

    async def _enqueue(self, row: _Row) -> asyncio.Future[Any]:
        # `send` returns once the record is in the producer's buffer; the future resolves on ack.
        future: asyncio.Future[Any] = await self._producer.send(
            row.topic, value=row.payload, key=row.kafka_key(), headers=row.kafka_headers
        )
        return future

    async def _mark_published(self, conn: DbConnection, ids: list[int]) -> None:
        if not ids:
            return
        await conn.execute(
            """
            UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])
            """,
            ids,
        )

    async def _park(self, conn: DbConnection, parked: list[_Parked]) -> None:
        """Set rows the broker refuses for good aside, with their reason, and say so loudly."""
        if not parked:
            return
        self._backlog_counted_at = None  # parked rows show in the gauges at once
        await conn.executemany(
            """
            UPDATE outbox SET parked_at = now(), parked_reason = $2
            WHERE id = $1 AND published_at IS NULL
            """,
            [(item.row.id, item.reason) for item in parked],
        )
        for item in parked:
            log.error(
                "outbox row parked: the broker can never accept it; later rows of its key wait",
                extra={
                    "outbox_id": item.row.id,
                    "topic": item.row.topic,
                    "payload_bytes": len(item.row.payload),
                    "reason": item.reason,
                },
            )

    async def _count_backlog(self, conn: DbConnection) -> tuple[int, int]:
        """(rows not yet published, parked ones among them)."""
        row = await conn.fetchrow(
            """
            SELECT count(*) AS pending, count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked
            FROM outbox WHERE published_at IS NULL
            """
        )
        assert row is not None  # an aggregate always returns one row
        return int(row["pending"]), int(row["parked"])

    # --- waiting ----------------------------------------------------------------------------

    async def _wait_until_published(self) -> None:
        """Wake the running loop and wait until no row that exists now is still unsent."""
        target = await self._max_pending_id()
        while target is not None and not await self._published_through(target):
            self._progress.clear()
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), timeout=0.1)

    async def _max_pending_id(self) -> int | None:
        max_id: int | None = await self._pool.fetchval(_MAX_SENDABLE_ID)
        return max_id

    async def _published_through(self, max_id: int) -> bool:
        done: bool = await self._pool.fetchval(
            _NONE_SENDABLE_THROUGH,
            max_id,
        )
        return done
