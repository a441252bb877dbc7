"""The broker's decoder and parser: JSON and CloudEvents bodies, headers null or not UTF-8.

Both run before any middleware (`make_broker` installs them); neither ever fails a record, so a
body that does not parse reaches the handler's validation and is dead-lettered with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.message import StreamMessage

__all__ = ["decode_json_bodies", "keep_raw_bodies", "parse_tolerating_bad_headers"]


def _is_json_content_type(content_type: str | None) -> bool:
    if not content_type:
        return True  # structured-mode events may arrive without a content-type header
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _decode_body(body: bytes, content_type: str | None) -> Any:
    """JSON for JSON (and CloudEvents) content, else the bytes as they are.

    Bytes that do not parse are passed on unchanged: a handler typed with a model then fails
    validation (dead-lettered as `bad_json`), and a raw-bytes handler still gets them.
    """
    if not _is_json_content_type(content_type):
        return body
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested deeper than the stack
        return body


async def decode_json_bodies(message: StreamMessage[Any]) -> Any:
    """Broker decoder: understands `application/cloudevents+json` as well as plain JSON."""
    if isinstance(message.raw_message, tuple):
        headers = message.batch_headers or [{} for _ in message.body]
        return [
            _decode_body(body, header.get("content-type"))
            for body, header in zip(message.body, headers, strict=True)
        ]
    return _decode_body(message.body, message.content_type)


async def keep_raw_bodies(message: StreamMessage[Any]) -> Any:
    """Decoder for a subscriber that reads its records' bytes itself (notice-intake): the body
    as it came. Decoding JSON only for the handler to ignore it cost a `json.loads` per record."""
    return message.body


def _readable_header(value: bytes | None) -> bytes:
    # Kafka allows a null header value (a Java producer may send one), which aiokafka returns as
    # None; FastStream would call `None.decode()`. Header values never affect validation.
    if value is None:
        return b""
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("utf-8", errors="replace").encode("utf-8")
    return value


async def parse_tolerating_bad_headers(
    record: Any, parse: Callable[[Any], Awaitable[StreamMessage[Any]]]
) -> StreamMessage[Any]:
    """Broker parser: a header value that is null or not UTF-8 is replaced, not fatal.

    FastStream decodes every header as UTF-8 before any middleware runs; one stray byte (or a
    null) in a tracing header would otherwise make a good record unprocessable.
    """
    for raw in record if isinstance(record, tuple) else (record,):
        if raw.headers:
            raw.headers = [(name, _readable_header(value)) for name, value in raw.headers]
    return await parse(record)
