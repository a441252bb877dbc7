"""Which failures may pass and which never will: the one classification every retry follows.

The consumer middleware (`mynaflow.messaging.reliable_consume`) and every background loop
(`mynaflow.runtime.loops.resilient_loop`) ask `classify_failure` and act on its answer:
- poison: the message can never succeed (bad JSON, a schema failure, a rule violation);
- transient: it may pass on its own (the database or the broker is away): retry with backoff;
- unhandled: anything else, a programming error; it may be a race or a deploy-time bug, so it is
  retried, but a consumer gives up on it after a few attempts
  (`mynaflow.messaging.reliable_consume.RetryPolicy`).
"""

from __future__ import annotations

import json
from enum import StrEnum

import asyncpg
import fast_depends
import pydantic
from aiokafka.errors import KafkaError

from mynaflow.domain.personal_number import redact_text
from mynaflow.messaging.errors import PoisonMessage, TransientError

__all__ = [
    "POISON_ERRORS",
    "TRANSIENT_ERRORS",
    "FailureKind",
    "classify_failure",
    "describe_error",
    "is_transient",
]

# Failures that may pass on their own: retried in place, never skipped, never dead-lettered.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    TransientError,
    OSError,  # ConnectionError and TimeoutError are OSErrors
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # shutdown, restart, cannot connect now, query cancelled
    asyncpg.InsufficientResourcesError,  # too many connections, disk full, out of memory
    asyncpg.TransactionRollbackError,  # serialization failure, deadlock
    asyncpg.LockNotAvailableError,
    KafkaError,
)
# Failures that can never succeed: the bytes do not parse or do not fit the contract.
POISON_ERRORS: tuple[type[Exception], ...] = (
    PoisonMessage,
    fast_depends.ValidationError,
    pydantic.ValidationError,
    json.JSONDecodeError,
    UnicodeDecodeError,
)
_MAX_ERROR_TEXT = 4000


class FailureKind(StrEnum):
    POISON = "poison"
    TRANSIENT = "transient"
    UNHANDLED = "unhandled"


def is_transient(error: BaseException) -> bool:
    if isinstance(error, asyncpg.InterfaceError):
        # Only the base class means a closed or busy connection; its subclasses are mistakes in
        # the call (argument types, configuration) that no retry fixes.
        return type(error) is asyncpg.InterfaceError
    return isinstance(error, TRANSIENT_ERRORS)


def classify_failure(error: BaseException) -> FailureKind:
    if isinstance(error, POISON_ERRORS):
        return FailureKind.POISON
    if is_transient(error):
        return FailureKind.TRANSIENT
    return FailureKind.UNHANDLED


def describe_error(error: BaseException) -> str:
    """The error as text for a dead letter or a log: individual numbers redacted, capped."""
    return redact_text(f"{type(error).__name__}: {error}")[0][:_MAX_ERROR_TEXT]
