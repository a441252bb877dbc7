"""Parse notice files row by row into the bytes to publish on `jlis.notices.raw`.

Formats:
- CSV with a header row naming the notice fields (`notice_id,kind,municipality_code,issued_at,
  application_id,resident_ref,sequence,details`); `details` is a JSON object in one cell; an
  empty cell means the field is absent. Columns not in the contract are passed on as text.
- JSON Lines: one JSON object per line.

Encodings: UTF-8 (with or without BOM) or Shift_JIS. Shift_JIS is always decoded as CP932, the
Windows superset that J-LIS exports and Excel actually write: plain `shift_jis` turns 髙 and 﨑
(NEC/IBM extensions) into errors. Detection: a file that is valid UTF-8 is UTF-8, anything else
is read as CP932.

Individual numbers (個人番号) are redacted from every row before it is published: the importer
writes a project topic, and no project topic ever holds one. The redaction mask is what
notice-intake recognises as `personal_number_present`, so such a notice is still quarantined.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from mynaflow.contracts.jlis import NOTICE_FIELDS, REQUIRED_FIELDS
from mynaflow.domain.personal_number import (
    NestingTooDeepError,
    redact_json_value,
    redact_text,
)

Encoding = Literal["utf-8", "shift_jis"]
# Python codec used for each encoding the operator can name.
_CODECS: dict[str, str] = {"utf-8": "utf-8", "shift_jis": "cp932"}
_UTF8_BOM = b"\xef\xbb\xbf"
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_JSON_LINES_SUFFIXES = {".jsonl", ".ndjson", ".json"}


class FileFormat(StrEnum):
    CSV = "csv"
    JSON_LINES = "jsonl"


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (for example, a CSV header without the fields)."""


@dataclass(frozen=True)
class ImportRow:
    """One row, ready to publish.

    `line` is the 1-based physical line where the row starts. `error` is None for a row that
    parsed; otherwise `payload` is the raw line (redacted) and `error` says why it did not parse.
    """

    line: int
    payload: bytes
    key: str | None
    error: str | None = None
    redactions: int = 0

    @property
    def parsed(self) -> bool:
        return self.error is None


@dataclass
class NoticeFile:
    """A decoded notice file; `rows()` yields its rows in order."""

    format: FileFormat
    encoding: Encoding
    text: str
    _codec: str = field(repr=False, default="utf-8")

    def line_count(self) -> int:
        """Physical lines: an upper bound on rows, good enough for a progress bar's total."""
        return self.text.count("\n") + (0 if self.text.endswith("\n") or not self.text else 1)

    def rows(self) -> Iterator[ImportRow]:
        if self.format is FileFormat.JSON_LINES:
            return _json_lines_rows(self.text, self._codec)
        return _csv_rows(self.text, self._codec)


def read_notice_file(path: Path, *, encoding: Encoding | None = None) -> NoticeFile:
    """Read and decode `path`; the format comes from the suffix, else from the first byte."""
    data = path.read_bytes()
    file_format = _format_from_suffix(path.suffix.lower()) or _sniff_format(data)
    return read_notice_bytes(data, file_format=file_format, encoding=encoding)


def read_notice_bytes(
    data: bytes, *, file_format: FileFormat | None = None, encoding: Encoding | None = None
) -> NoticeFile:
    chosen: Encoding = encoding or _detect_encoding(data)
    codec = _CODECS[chosen]
    if codec == "utf-8" and data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    # surrogateescape keeps undecodable bytes, so such a row can be published exactly as it was.
    text = data.decode(codec, errors="surrogateescape")
    return NoticeFile(file_format or _sniff_format(data), chosen, text, codec)


def _detect_encoding(data: bytes) -> Encoding:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "shift_jis"
    return "utf-8"


def _format_from_suffix(suffix: str) -> FileFormat | None:
    if suffix == ".csv":
        return FileFormat.CSV
    if suffix in _JSON_LINES_SUFFIXES:
        return FileFormat.JSON_LINES
    return None


def _sniff_format(data: bytes) -> FileFormat:
    start = data.removeprefix(_UTF8_BOM).lstrip()[:1]
    return FileFormat.JSON_LINES if start == b"{" else FileFormat.CSV


# --- JSON Lines ----------------------------------------------------------------------------------
def _json_lines_rows(text: str, codec: str) -> Iterator[ImportRow]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield _json_line_row(number, line, codec)


def _json_line_row(number: int, line: str, codec: str) -> ImportRow:
    if _has_undecodable_bytes(line):
        return _unparseable(number, line, codec, "bytes that are not valid in the file's encoding")
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        return _unparseable(number, line, codec, f"not JSON: {error.msg} (column {error.colno})")
    if not isinstance(value, dict):
        return _unparseable(number, line, codec, "not a JSON object")
    return _parsed_row(number, value, line, codec)


# --- CSV -----------------------------------------------------------------------------------------
class _LineRecorder:
    """Feeds lines to csv.reader while keeping the raw text of the record being read."""

    def __init__(self, text: str) -> None:
        self._lines = iter(text.splitlines(keepends=True))
        self.current: list[str] = []

    def __iter__(self) -> _LineRecorder:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.current.append(line)
        return line

    def take(self) -> str:
        raw, self.current = "".join(self.current), []
        return raw.rstrip("\r\n")


def _csv_rows(text: str, codec: str) -> Iterator[ImportRow]:
    recorder = _LineRecorder(text)
    reader = csv.reader(recorder, strict=True)
    header = _read_header(reader, recorder)
    next_line = reader.line_num + 1
    while True:
        start = next_line
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            next_line = reader.line_num + 1
            yield _unparseable(start, recorder.take(), codec, f"malformed CSV: {error}")
            continue
        next_line = reader.line_num + 1
        raw = recorder.take()
        if cells:
            yield _csv_row(start, header, cells, raw, codec)


def _read_header(reader: Any, recorder: _LineRecorder) -> list[str]:
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return []
    except csv.Error as error:
        raise ImportFileError(f"the CSV header row is malformed: {error}") from error
    recorder.take()
    missing = [name for name in REQUIRED_FIELDS if name not in header]
    if missing:
        expected = ",".join(NOTICE_FIELDS)
        raise ImportFileError(
            f"the CSV header lacks {', '.join(missing)}; expected a header like: {expected}"
        )
    return header


def _csv_row(number: int, header: list[str], cells: list[str], raw: str, codec: str) -> ImportRow:
    if len(cells) != len(header):
        message = f"expected {len(header)} columns, found {len(cells)}"
        return _unparseable(number, raw, codec, message)
    if _has_undecodable_bytes(raw):
        return _unparseable(number, raw, codec, "bytes that are not valid in the file's encoding")
    notice: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        if cell.strip() == "":
            continue
        try:
            notice[name] = _csv_value(name, cell)
        except ValueError as error:
            return _unparseable(number, raw, codec, str(error))
    return _parsed_row(number, notice, raw, codec)


def _csv_value(name: str, cell: str) -> Any:
    if name == "sequence" and _INTEGER.match(cell.strip()):
        return int(cell.strip())
    if name == "details":
        try:
            return json.loads(cell)
        except json.JSONDecodeError as error:
            raise ValueError(f"column 'details' is not JSON: {error.msg}") from error
    # Other cells are text as written; intake validates them (and quarantines what is wrong).
    return cell.strip() if name in NOTICE_FIELDS else cell


# --- shared --------------------------------------------------------------------------------------
def _parsed_row(number: int, notice: dict[str, Any], raw: str, codec: str) -> ImportRow:
    try:
        redacted, redactions = redact_json_value(notice)
    except NestingTooDeepError:
        # Published as the raw line (redacted as text): intake quarantines it as too deep.
        return _unparseable(number, raw, codec, "JSON nested too deeply")
    payload = json.dumps(redacted, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    notice_id = redacted.get("notice_id")
    key = notice_id if isinstance(notice_id, str) and notice_id.strip() else None
    return ImportRow(number, payload, key, None, redactions)


def _unparseable(number: int, raw: str, codec: str, error: str) -> ImportRow:
    payload, redactions = _raw_line_bytes(raw, codec)
    return ImportRow(number, payload, None, error, redactions)


def _raw_line_bytes(raw: str, codec: str) -> tuple[bytes, int]:
    redacted, redactions = redact_text(raw)
    if _has_undecodable_bytes(redacted):
        # Publish the original bytes: intake quarantines them as not UTF-8, which is the truth.
        return redacted.encode(codec, errors="surrogateescape"), redactions
    return redacted.encode("utf-8"), redactions


def _has_undecodable_bytes(text: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in text)
