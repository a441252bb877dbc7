"""Unit tests of the JSON log format and its redaction of individual numbers (no servers)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from mynaflow.domain.personal_number import personal_number_check_digit
from mynaflow.runtime.logging import ThrottleRepeatedLibraryLines, configure_logging

pytestmark = pytest.mark.unit

ELEVEN_DIGITS = "12345678901"
INDIVIDUAL_NUMBER = ELEVEN_DIGITS + str(personal_number_check_digit(ELEVEN_DIGITS))


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("card-registry", "DEBUG", stream=stream)
    yield stream
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def entries(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_the_standard_fields(log_stream: io.StringIO) -> None:
    logging.getLogger("mynaflow.test").info("applied %d commands", 3, extra={"topic": "t.x"})

    (entry,) = entries(log_stream)
    assert entry["level"] == "INFO"
    assert entry["service"] == "card-registry"
    assert entry["logger"] == "mynaflow.test"
    assert entry["message"] == "applied 3 commands"
    assert entry["topic"] == "t.x"
    assert str(entry["ts"]).endswith("+00:00")


def test_an_individual_number_never_reaches_the_log(log_stream: io.StringIO) -> None:
    logger = logging.getLogger("mynaflow.test")
    logger.warning("number %s in args", INDIVIDUAL_NUMBER)
    logger.warning(f"number {INDIVIDUAL_NUMBER} in the message")
    logger.warning("in extra", extra={"payload": {"number": INDIVIDUAL_NUMBER}})
    try:
        raise ValueError(f"bad notice {INDIVIDUAL_NUMBER}")
    except ValueError:
        logger.exception("in a traceback")

    text = log_stream.getvalue()
    assert INDIVIDUAL_NUMBER not in text
    assert text.count("[REDACTED-個人番号]") == 4
    assert len(entries(log_stream)) == 4
    assert "ValueError" in str(entries(log_stream)[-1]["exception"])


def test_library_loggers_use_the_same_format(log_stream: io.StringIO) -> None:
    logging.getLogger("aiokafka.consumer").warning("rebalance")
    logging.getLogger("uvicorn.error").info("started")

    assert [e["logger"] for e in entries(log_stream)] == ["aiokafka.consumer", "uvicorn.error"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def library_record(
    template: str, *args: object, name: str = "aiokafka", level: int = logging.ERROR
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, template, args, None)


def test_a_library_line_repeated_in_an_outage_is_written_once_per_interval() -> None:
    clock = FakeClock()
    throttle = ThrottleRepeatedLibraryLines(interval_s=30.0, clock=clock)
    template = "Unable connect to node with id %s: %s"

    assert throttle.filter(library_record(template, 1, "refused"))  # the outage shows at once
    held = [throttle.filter(library_record(template, 1, f"refused {n}")) for n in range(79)]
    assert held == [False] * 79
    clock.now += 29.9
    assert not throttle.filter(library_record(template, 1, "refused"))
    clock.now += 0.1
    written = library_record(template, 1, "refused")
    assert throttle.filter(written)
    assert written.repeats_suppressed == 80  # type: ignore[attr-defined]
    clock.now += 30.0
    after_quiet = library_record(template, 1, "refused")
    assert throttle.filter(after_quiet)
    assert not hasattr(after_quiet, "repeats_suppressed")  # nothing was held back since


def test_other_lines_levels_and_mynaflow_s_own_lines_are_not_held_back() -> None:
    throttle = ThrottleRepeatedLibraryLines(interval_s=30.0, clock=FakeClock())
    assert throttle.filter(library_record("Unable to update metadata from %s", [1]))
    assert throttle.filter(library_record("Failed fetch messages from %s", 1))
    name = "aiokafka.consumer.fetcher"
    assert throttle.filter(library_record("Failed fetch messages from %s", 1, name=name))
    warning = library_record("Unable to update metadata from %s", [1], level=logging.WARNING)
    assert throttle.filter(warning)
    for _ in range(3):
        assert throttle.filter(library_record("offset commit failed", name="mynaflow.messaging"))
        assert throttle.filter(library_record("lookalike", name="aiokafkaesque"))


def test_configured_logging_throttles_aiokafka_repeats(log_stream: io.StringIO) -> None:
    kafka = logging.getLogger("aiokafka")
    for attempt in range(50):
        kafka.error("Unable connect to node with id %s: %s", 1, f"attempt {attempt}")
    logging.getLogger("mynaflow.test").warning("broker away")

    assert [(e["logger"], e["message"]) for e in entries(log_stream)] == [
        ("aiokafka", "Unable connect to node with id 1: attempt 0"),
        ("mynaflow.test", "broker away"),
    ]
