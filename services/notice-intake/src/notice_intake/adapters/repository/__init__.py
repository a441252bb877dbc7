"""notice-intake's repositories: what one unit of work sees (`IntakeRepos`), built on its
connection by `make_repos`, and the reads served outside any transaction (`reports`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

from notice_intake.adapters.repository.dead_letters import DeadLetters, SqlDeadLetters
from notice_intake.adapters.repository.receipts import (
    ConsumedPartitions,
    Receipts,
    SqlConsumedPartitions,
    SqlReceipts,
)
from notice_intake.adapters.repository.sequences import Sequences, SqlSequences

if TYPE_CHECKING:
    from mynaflow.storage.pool import DbConnection


@dataclass(frozen=True)
class IntakeRepos:
    partitions: ConsumedPartitions
    receipts: Receipts
    sequences: Sequences
    dead_letters: DeadLetters


def make_repos(conn: DbConnection) -> IntakeRepos:
    return IntakeRepos(
        partitions=SqlConsumedPartitions(conn),
        receipts=SqlReceipts(conn),
        sequences=SqlSequences(conn),
        dead_letters=SqlDeadLetters(conn),
    )


# Errors meaning "this data cannot be stored" (SQLSTATE classes 22, 23, 54, and asyncpg's own
# argument encoding), as opposed to "the database is away" (retried by the middleware).
UNSTORABLE: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)
