"""Structured JSON logs: one object per line, individual numbers redacted.

Each line has `ts` (UTC, ISO 8601), `level`, `service`, `logger`, `message`, any `extra={...}`
fields, and `exception` when there is one. Every string that leaves the process goes through
`redact_text` first (message, extra fields, traceback), so a 個人番号 that reached an error
message never reaches a log. FastStream, aiokafka, asyncpg and uvicorn log through the root
logger, so they get the same format and the same redaction. A library line repeated while a
server is away (aiokafka retrying a stopped broker) is written once per `REPEAT_INTERVAL_S`, with
the count held back (`ThrottleRepeatedLibraryLines`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
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


# Libraries that repeat one line many times a second while a server is away: aiokafka logs every
# reconnect attempt, metadata refresh and failed fetch (about 80 lines a second in the broker
# restart fault test), which would bury the service's own lines and fill a ward's log store.
_THROTTLED_LOGGERS = ("aiokafka",)
REPEAT_INTERVAL_S = 30.0
_MAX_TRACKED_LINES = 1024


class ThrottleRepeatedLibraryLines(logging.Filter):
    """Writes a repeated library line at most once per `interval_s`, then says how many it held.

    A line is the same when its logger, level and message template (`record.msg`, before its
    arguments) are: "Unable connect to node with id %s: %s" is one line however often it fails.
    The first occurrence always passes, so an outage is logged at once; the next one written
    after the interval carries `repeats_suppressed`, the count held back since. Only the loggers
    in `_THROTTLED_LOGGERS` are throttled: mynaflow's own lines are never held back.
    """

    def __init__(
        self,
        interval_s: float = REPEAT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.clock = clock
        # (logger, level, template) -> [time last written, held back since]
        self._lines: dict[tuple[str, int, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not _is_throttled(record.name):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        line = self._lines.get(key)
        if line is not None and now - line[0] < self.interval_s:
            line[1] += 1
            return False
        if line is not None and line[1]:
            record.repeats_suppressed = int(line[1])
        if len(self._lines) >= _MAX_TRACKED_LINES:
            self._lines.clear()  # bounded; a forgotten line is only written once more
        self._lines[key] = [now, 0]
        return True


def _is_throttled(logger_name: str) -> bool:
    return any(
        logger_name == name or logger_name.startswith(f"{name}.") for name in _THROTTLED_LOGGERS
    )


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
    handler.addFilter(ThrottleRepeatedLibraryLines())
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
