"""The unit of work: one transaction, the service's repositories, and the events it emits.

Handlers are written against `UnitOfWork` only, so the same handler runs on PostgreSQL in the
service and on in-memory fakes in unit tests (`mynaflow_testing.uow.FakeUnitOfWork`):

    async with uow_factory() as uow:
        if not await uow.claim(event_id):
            return                      # applied before: change nothing
        card = await uow.repos.cards.get(card_id)
        ...
        uow.emit(topic, key, event)
        await uow.commit()

Invariants:
- Nothing is kept unless `commit()` is called inside the block; leaving the block any other way
  (an exception, a plain return) rolls everything back, repositories and emitted events alike.
- Events passed to `emit()` are written to the outbox *in the same transaction*, just before it
  commits, in the order they were emitted. A crash after the commit loses nothing; a rollback
  publishes nothing.
- `claim(event_id)` records the inbox id in that same transaction: a redelivery changes nothing.
  `claim_many(event_ids)` does the same for a batch in one statement and returns one flag per
  id, True only for the first copy of an id never applied (a second copy in the same batch is a
  redelivery too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar
from uuid import UUID

from mynaflow.contracts.envelope import CloudEvent
from mynaflow.messaging.inbox import claim_inbox, claim_inbox_many
from mynaflow.messaging.outbox import add_events_to_outbox

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    from mynaflow.storage.pool import DbConnection

ReposT = TypeVar("ReposT")
ReposT_co = TypeVar("ReposT_co", covariant=True)


@dataclass(frozen=True)
class Emitted:
    """One event queued by a handler: where it goes and under which Kafka key."""

    topic: str
    key: str | None
    event: CloudEvent[Any]


class UnitOfWork(Protocol[ReposT_co]):
    """What a handler sees. Implementations: `PostgresUnitOfWork`, and the testing fake."""

    @property
    def repos(self) -> ReposT_co: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def claim(self, event_id: str | UUID, *, consumer: str = "default") -> bool:
        """Record `event_id` in the inbox; False means it was applied before."""
        ...

    async def claim_many(
        self, event_ids: Sequence[str | UUID], *, consumer: str = "default"
    ) -> list[bool]:
        """Record many inbox ids at once; per id, in order, whether to apply it: True only for
        the first copy of an id never applied before (later copies in the batch are False)."""
        ...

    def emit(self, topic: str, key: str | None, event: CloudEvent[Any]) -> None:
        """Queue `event` for `topic`; written to the outbox only if this unit commits."""
        ...

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork[ReposT]]


class UnitOfWorkError(RuntimeError):
    """A unit of work used out of order (commit outside the block, or twice)."""


class PostgresUnitOfWork(Generic[ReposT]):
    """A unit of work on one pooled connection and one transaction.

    `make_repos(conn)` builds the service's repositories on the unit's connection, so every
    repository call joins the transaction without being handed it.
    """

    def __init__(
        self, pool: asyncpg.Pool[Any], make_repos: Callable[[DbConnection], ReposT]
    ) -> None:
        self._pool = pool
        self._make_repos = make_repos
        self._conn: PoolConnectionProxy[Any] | None = None
        self._repos: ReposT | None = None
        self._emitted: list[Emitted] = []
        self._committed = False

    @property
    def repos(self) -> ReposT:
        if self._repos is None:
            raise UnitOfWorkError("repositories are only available inside `async with`")
        return self._repos

    @property
    def connection(self) -> DbConnection:
        """The unit's connection, for adapters that need it directly (reports, dead letters)."""
        if self._conn is None:
            raise UnitOfWorkError("the connection is only available inside `async with`")
        return self._conn

    async def __aenter__(self) -> Self:
        conn = await self._pool.acquire()
        try:
            await conn.execute("BEGIN")
        except BaseException:
            await self._pool.release(conn)
            raise
        self._conn = conn
        self._repos = self._make_repos(conn)
        self._emitted = []
        self._committed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed and self._conn is not None and self._conn.is_in_transaction():
                await _end_transaction(self._conn, commit=False)
        finally:
            conn, self._conn, self._repos = self._conn, None, None
            if conn is not None:
                await self._pool.release(conn)

    async def claim(self, event_id: str | UUID, *, consumer: str = "default") -> bool:
        return await claim_inbox(self.connection, event_id, consumer=consumer)

    async def claim_many(
        self, event_ids: Sequence[str | UUID], *, consumer: str = "default"
    ) -> list[bool]:
        return await claim_inbox_many(self.connection, event_ids, consumer=consumer)

    def emit(self, topic: str, key: str | None, event: CloudEvent[Any]) -> None:
        self._emitted.append(Emitted(topic, key, event))

    @property
    def emitted(self) -> tuple[Emitted, ...]:
        return tuple(self._emitted)

    async def commit(self) -> None:
        if self._conn is None or self._committed:
            raise UnitOfWorkError("commit() outside `async with`, or twice")
        await self._flush_outbox()
        await _end_transaction(self._conn, commit=True)
        self._committed = True

    async def _flush_outbox(self) -> None:
        """Every emitted event in one multi-row insert, in the emitted order."""
        await add_events_to_outbox(
            self.connection, [(item.topic, item.key, item.event) for item in self._emitted]
        )


async def _end_transaction(conn: DbConnection, *, commit: bool) -> None:
    """`COMMIT` or `ROLLBACK`; on a connection of `create_pool`, with the session's reset in the
    same round trip (`PooledConnection`), which spares the pool's reset on release."""
    end_and_reset = getattr(conn, "end_transaction_and_reset", None)
    if end_and_reset is not None:
        await end_and_reset(commit=commit)
    else:
        await conn.execute("COMMIT" if commit else "ROLLBACK")
