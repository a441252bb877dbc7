"""A unit of work on in-memory repositories, for handler unit tests with no server.

It keeps the real unit's invariants, so a handler that passes here behaves the same on
PostgreSQL: nothing is kept without `commit()`, an inbox id is claimed once, and emitted events
are published (to `self.published`) only on commit, in emission order.

Repositories are plain objects the test builds. By default a rollback cannot undo what a fake
repository already changed, so tests of rollback assert on `published` and `committed`. With
`rollback_repos=True` the unit deep-copies the state (attributes) of each repository on entry
and puts it back on rollback, as the database would.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Generic, Self, TypeVar
from uuid import UUID

from mynaflow.contracts.envelope import CloudEvent
from mynaflow.storage.unit_of_work import Emitted, UnitOfWorkError

ReposT = TypeVar("ReposT")


class FakeUnitOfWork(Generic[ReposT]):
    """`UnitOfWork[ReposT]` over `repos`; reuse one instance for a whole test (like a factory)."""

    def __init__(self, repos: ReposT, *, rollback_repos: bool = False) -> None:
        self._repos = repos
        self._rollback_repos = rollback_repos
        self._saved: list[tuple[object, dict[str, Any]]] = []
        self.inbox: set[tuple[str, str]] = set()
        self.published: list[Emitted] = []
        self.commits = 0
        self.rollbacks = 0
        self._pending: list[Emitted] = []
        self._claimed: set[tuple[str, str]] = set()
        self._open = False
        self._committed = False

    def __call__(self) -> FakeUnitOfWork[ReposT]:
        """So the fake itself serves as the handler's unit-of-work factory."""
        return self

    @property
    def repos(self) -> ReposT:
        return self._repos

    @property
    def committed(self) -> bool:
        return self.commits > 0

    async def __aenter__(self) -> Self:
        self._open, self._committed = True, False
        self._pending, self._claimed = [], set()
        if self._rollback_repos:
            self._saved = [(repo, copy.deepcopy(vars(repo))) for repo in self._repositories()]
        return self

    def _repositories(self) -> list[object]:
        """The repositories: the attributes of a repos object (a dataclass), or itself."""
        parts = vars(self._repos).values() if hasattr(self._repos, "__dict__") else []
        return list(parts) or [self._repos]

    async def __aexit__(self, *_exc_info: object) -> None:
        if not self._committed:
            self.rollbacks += 1
            for repo, state in self._saved:
                vars(repo).clear()
                vars(repo).update(state)
        self._open, self._saved = False, []

    async def claim(self, event_id: str | UUID, *, consumer: str = "default") -> bool:
        key = (consumer, str(event_id))
        if key in self.inbox or key in self._claimed:
            return False
        self._claimed.add(key)
        return True

    async def claim_many(
        self, event_ids: Sequence[str | UUID], *, consumer: str = "default"
    ) -> list[bool]:
        # `claim` refuses an id claimed before, in this unit too: only a first copy is True.
        return [await self.claim(event_id, consumer=consumer) for event_id in event_ids]

    def emit(self, topic: str, key: str | None, event: CloudEvent[Any]) -> None:
        self._pending.append(Emitted(topic, key, event))

    async def commit(self) -> None:
        if not self._open or self._committed:
            raise UnitOfWorkError("commit() outside `async with`, or twice")
        self.inbox |= self._claimed
        self.published.extend(self._pending)
        self._committed = True
        self.commits += 1

    def events_of_type(self, event_type: str) -> list[CloudEvent[Any]]:
        """The published events of one CloudEvents type, in publish order."""
        return [e.event for e in self.published if e.event.type == event_type]
