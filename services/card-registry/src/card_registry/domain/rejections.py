"""Why a command is refused: raised by the rules, answered with `command-rejected`.

A rule raises `Rejected` before anything is written, so a rejected command changes nothing.
"""

from __future__ import annotations

from mynaflow.contracts.registry import RejectionReason


class Rejected(Exception):
    """The command breaks a rule; `reason` is machine-readable, `message` is for people."""

    def __init__(self, reason: RejectionReason, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message
