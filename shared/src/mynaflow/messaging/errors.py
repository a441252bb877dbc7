"""The two failures a message handler may signal on purpose.

A handler raises `PoisonMessage` when the message can never succeed, however often it is retried
(bad JSON, a schema failure, a rule violation): the message is dead-lettered and the partition
moves on. It raises `TransientError` when the failure may pass (a dependency is briefly down):
the message is retried in place with backoff and is never skipped or dead-lettered.
"""

from __future__ import annotations


class PoisonMessage(Exception):
    """The message can never succeed; dead-letter it with `reason` and move on."""

    def __init__(self, reason: str, detail: object = None) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(reason if detail is None else f"{reason}: {detail}")


class TransientError(Exception):
    """A failure that may pass: retry the same message in place, never skip it."""
