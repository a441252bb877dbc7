"""Structured JSON logs: one object per line, individual numbers redacted.

Each line has `ts` (UTC, ISO 8601), `level`, `service`, `logger`, `message`, any `extra={...}`
fields, and `exception` when there is one. Every string that leaves the process goes through
`redact_text` first (message, extra fields, traceback), so a 個人番号 that reached an error
message never reaches a log. FastStream, aiokafka, asyncpg and uvicorn log through the root
logger, so they get the same format and the same redaction.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from mynaflow.domain.personal_number import NestingTooDeepError, redact_json_value, redact_text

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName", "color_message"}
)
# Libraries whose INFO lines are routine chatter (connections, rebalances in detail).
_QUIET_LOGGERS = {"aiokafka": logging.WARNING, "asyncio": logging.WARNING}


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)[0]
    if isinstance(value, dict):
        return {str(k): _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact_text(str(value))[0]


def _redacted_entry(entry: dict[str, Any]) -> Any:
    """Each value as text first, then the entry as JSON: an `extra` integer that is a number, or
    a number split over fields, is caught too (`redact_json_value`)."""
    plain = _redact_value(entry)
    try:
        return redact_json_value(plain)[0]
    except NestingTooDeepError:
        return plain  # every string in it is redacted already


# Lines libraries print that say nothing here: topics are created explicitly at start-up.
_EXPECTED_NOISE = frozenset({"Auto create topics is disabled. Make sure the topics exist."})


class DropExpectedNoise(logging.Filter):
    """Drops library lines that are expected by design (see `_EXPECTED_NOISE`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in _EXPECTED_NOISE


class RedactingFilter(logging.Filter):
    """Replaces any individual number in the formatted message; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted, count = redact_text(message)
        if count:
            record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; all values redacted."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and name not in entry:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(_redacted_entry(entry), ensure_ascii=False, default=str)


def configure_logging(service: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every logger's records, as redacted JSON lines, to `stream` (stdout by default)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(DropExpectedNoise())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name, quiet_level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet_level)
    # Libraries that install their own handlers would print twice (and unformatted).
    for name in ("faststream", "faststream.access", "uvicorn", "uvicorn.error", "uvicorn.access"):
        library_logger = logging.getLogger(name)
        library_logger.handlers.clear()
        library_logger.propagate = True
