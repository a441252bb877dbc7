"""Unit tests of the JSON log format and its redaction of individual numbers (no servers)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from mynaflow.domain.personal_number import personal_number_check_digit
from mynaflow.runtime.logging import configure_logging

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
