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
    "is_poison",
    "is_transient",
]

# Failures that may pass on their own: retried in place, never skipped, never dead-lettered.
# PostgreSQL's errors are classified by SQLSTATE (`_TRANSIENT_SQLSTATE_CLASSES`), not listed here.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    TransientError,
    OSError,  # ConnectionError and TimeoutError are OSErrors
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
# SQLSTATE classes (the first two characters) that say the database is away or busy, never that
# the statement is wrong: 08 connection exception, 40 serialization failure or deadlock,
# 53 insufficient resources, 57 operator intervention (shutdown, restart, cancelled, cannot
# connect now), 58 system error (I/O). A class, not a list of asyncpg classes, so that a code
# asyncpg has no class for (a newer server's) is still retried.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_TRANSIENT_SQLSTATES = frozenset(
    {
        "25006",  # read-only transaction: a demoted primary during a failover
        "25P03",  # idle-in-transaction timeout ended the session
        "55P03",  # lock not available
    }
)
# Class 22 (data exception): the database refuses the values themselves (a NUL in text, an
# invalid byte sequence, a number out of range); the same values are refused every time.
_POISON_SQLSTATE_CLASSES = frozenset({"22"})
_MAX_ERROR_TEXT = 4000


class FailureKind(StrEnum):
    POISON = "poison"
    TRANSIENT = "transient"
    UNHANDLED = "unhandled"


def _sqlstate(error: BaseException) -> str | None:
    if not isinstance(error, asyncpg.PostgresError):
        return None
    sqlstate = getattr(error, "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else None


def is_transient(error: BaseException) -> bool:
    if isinstance(error, asyncpg.InterfaceError):
        # Only the base class means a closed or busy connection; its subclasses are mistakes in
        # the call (argument types, configuration) that no retry fixes.
        return type(error) is asyncpg.InterfaceError
    sqlstate = _sqlstate(error)
    if sqlstate is not None:
        return sqlstate in _TRANSIENT_SQLSTATES or sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return isinstance(error, TRANSIENT_ERRORS)


def is_poison(error: BaseException) -> bool:
    sqlstate = _sqlstate(error)
    if sqlstate is not None:
        return sqlstate[:2] in _POISON_SQLSTATE_CLASSES
    return isinstance(error, POISON_ERRORS)


def classify_failure(error: BaseException) -> FailureKind:
    if is_poison(error):
        return FailureKind.POISON
    if is_transient(error):
        return FailureKind.TRANSIENT
    return FailureKind.UNHANDLED


def describe_error(error: BaseException) -> str:
    """The error as text for a dead letter or a log: individual numbers redacted, capped."""
    return redact_text(f"{type(error).__name__}: {error}")[0][:_MAX_ERROR_TEXT]
