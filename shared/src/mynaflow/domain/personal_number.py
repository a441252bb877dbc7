"""Individual numbers (個人番号): check digit, detection and redaction.

An individual number must never reach an event, a log line or a topic. Input that carries one is
quarantined with the number redacted. This module finds them.

The number is 12 digits; the last is a check digit over P1..P11, counted from the right:
Q = n+1 for n <= 6 and n-5 for n >= 7; r = sum(Pn * Qn) mod 11; check = 0 if r <= 1 else 11 - r.

What is detected (a candidate counts only when its check digit is valid):
- 12 consecutive digits not adjacent to another digit: `123456789012` (also inside letters,
  e.g. `No.123456789012番`). A 13-digit run is not a number.
- the 4-4-4 form as printed on the card and typed into forms: groups of 4 digits separated by
  1 to 3 of: ASCII space, no-break space, ideographic space (U+3000), ASCII hyphen, the Unicode
  hyphens and dashes U+2010..U+2015, minus sign U+2212, full-width hyphen-minus (U+FF0D) and the
  katakana prolonged sound mark ー (U+30FC, often typed for a hyphen by Japanese IMEs). Separators
  may differ between the two gaps: `1234 5678-9012`, `1234 - 5678 - 9012`.
- each digit may be ASCII (0-9) or full-width (０-９), mixed freely.
- in a longer grouped run (`1234-5678-9012-3456`) every 3-group window is tried, so a valid
  number is found wherever it sits.
Not detected: kanji numerals, digits split by line breaks, tabs or other punctuation (a CSV that
puts the groups in separate columns), other Unicode digit scripts.

Bytes (`redact_bytes`) are searched in several views, so any input is safe to pass, binary
included:
- valid UTF-8 is decoded and redacted as text (marker `REDACTION_MARKER` in UTF-8);
- anything else is searched byte-exactly as UTF-8 with undecodable bytes kept as they are (ASCII
  digits and UTF-8 full-width digits), and as Shift_JIS/CP932 (full-width digits 0x82 0x4F..0x58);
  the marker there is the ASCII `BYTES_REDACTION_MARKER`, which is the same bytes in UTF-8 and
  CP932, so the file stays valid in its own encoding;
- UTF-16 (LE and BE, either alignment; what Excel writes as "Unicode text") is searched when the
  bytes hold four digit code units in a row, and the marker is written in the same UTF-16.
  ASCII-only UTF-16 at an odd offset reads the same in the other byte order, so there the marker
  may come out in the other order; the number is removed either way.
Bytes outside the redacted spans are never changed.
"""

from __future__ import annotations

import re
import sys
from array import array
from collections.abc import Callable, Iterable
from itertools import accumulate
from typing import Any, AnyStr, NamedTuple

__all__ = [
    "BYTES_REDACTION_MARKER",
    "REDACTION_MARKER",
    "PersonalNumberMatch",
    "contains_personal_number",
    "find_personal_number_matches",
    "find_personal_numbers",
    "is_valid_personal_number",
    "personal_number_check_digit",
    "redact_bytes",
    "redact_json_value",
    "redact_text",
]

REDACTION_MARKER = "[REDACTED-個人番号]"
BYTES_REDACTION_MARKER = b"[REDACTED-KOJIN-BANGO]"

_ASCII_DIGITS = "0123456789"
_FULL_WIDTH_DIGITS = "０１２３４５６７８９"
_TO_ASCII_DIGITS = str.maketrans(_FULL_WIDTH_DIGITS, _ASCII_DIGITS)
_DIGIT = "0-9\uff10-\uff19"
_SEPARATOR_CHARACTERS = " \u00a0\u3000-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d\u30fc"
_SEPARATOR = re.escape(_SEPARATOR_CHARACTERS)
_GROUP_GAP = f"[{_SEPARATOR}]{{1,3}}"
# A zero-width search that captures a candidate at every position, so overlapping windows of a
# longer grouped run are all tried (finditer alone would skip past a failed first window).
_CANDIDATE = re.compile(
    rf"(?<![{_DIGIT}])(?=("
    rf"[{_DIGIT}]{{12}}"
    rf"|[{_DIGIT}]{{4}}{_GROUP_GAP}[{_DIGIT}]{{4}}{_GROUP_GAP}[{_DIGIT}]{{4}}"
    rf")(?![{_DIGIT}]))"
)
_ANY_DIGIT = re.compile(f"[{_DIGIT}]")

# Q weights for P1..P11 (P1 is the rightmost of the first eleven digits).
_WEIGHTS_FROM_RIGHT = tuple(n + 1 if n <= 6 else n - 5 for n in range(1, 12))
_VALID_INT_RANGE = range(10**10, 10**12)  # 11-12 digits: a number whose leading 0 was lost


def _is_ascii_digits(text: str, length: int) -> bool:
    return len(text) == length and all(char in _ASCII_DIGITS for char in text)


def personal_number_check_digit(first11: str) -> int:
    """The check digit of an individual number, from its first 11 (ASCII) digits."""
    if not _is_ascii_digits(first11, 11):
        raise ValueError("expected 11 ASCII digits")  # the value itself is never echoed
    remainder = (
        sum(
            int(digit) * weight
            for digit, weight in zip(reversed(first11), _WEIGHTS_FROM_RIGHT, strict=True)
        )
        % 11
    )
    return 0 if remainder <= 1 else 11 - remainder


def is_valid_personal_number(s: str) -> bool:
    """True for exactly 12 ASCII digits with a valid check digit."""
    return _is_ascii_digits(s, 12) and personal_number_check_digit(s[:11]) == int(s[11])


class PersonalNumberMatch(NamedTuple):
    """Where a valid number sits in a text, and its 12 ASCII digits."""

    start: int
    end: int
    digits: str


def _digits_of(candidate: str) -> str:
    ascii_form = candidate.translate(_TO_ASCII_DIGITS)
    return "".join(char for char in ascii_form if char in _ASCII_DIGITS)


def _valid_candidates(text: str) -> list[PersonalNumberMatch]:
    """Every valid candidate, overlapping windows of a longer grouped run included."""
    if not _ANY_DIGIT.search(text):
        return []
    candidates = (
        PersonalNumberMatch(*found.span(1), _digits_of(found.group(1)))
        for found in _CANDIDATE.finditer(text)
    )
    return [candidate for candidate in candidates if is_valid_personal_number(candidate.digits)]


def find_personal_number_matches(text: str) -> list[PersonalNumberMatch]:
    """Valid individual numbers in `text`, left to right, never overlapping."""
    matches: list[PersonalNumberMatch] = []
    for candidate in _valid_candidates(text):
        if not matches or candidate.start >= matches[-1].end:
            matches.append(candidate)
    return matches


def find_personal_numbers(text: str) -> list[str]:
    """The valid individual numbers in `text`, each as 12 ASCII digits (see module docstring)."""
    return [match.digits for match in find_personal_number_matches(text)]


def redact_text(text: str) -> tuple[str, int]:
    """Replace every individual number with `REDACTION_MARKER`; return the text and the count.

    The count is the number of valid candidates removed; overlapping valid windows of one
    grouped run are replaced by a single marker but each counts.
    """
    return _redact_view(text, REDACTION_MARKER)


def _redact_view(text: str, marker: str) -> tuple[str, int]:
    total = 0
    # Repeat until clean: a replacement never adds digits, so this ends.
    while candidates := _valid_candidates(text):
        text = _replace_spans(text, _merged_spans(candidates), marker)
        total += len(candidates)
    return text, total


def _merged_spans(candidates: list[PersonalNumberMatch]) -> list[tuple[int, int]]:
    """Spans to replace: two valid windows that overlap (in `1234-5678-9012-3456`) are
    replaced as one, so no digit of either number is left behind."""
    spans: list[tuple[int, int]] = []
    for candidate in candidates:
        if spans and candidate.start < spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], candidate.end))
        else:
            spans.append((candidate.start, candidate.end))
    return spans


def _replace_spans(value: AnyStr, spans: Iterable[tuple[int, int]], marker: AnyStr) -> AnyStr:
    """`value` with each (start, end) span, in order and not overlapping, replaced by `marker`."""
    pieces: list[AnyStr] = []
    position = 0
    for start, end in spans:
        pieces.append(value[position:start])
        pieces.append(marker)
        position = end
    pieces.append(value[position:])
    return value[:0].join(pieces)


# --- bytes ---------------------------------------------------------------------------------

_BytesPass = Callable[[bytes], tuple[bytes, int]]

_CP932_FULL_WIDTH_DIGIT = re.compile(rb"\x82[\x4f-\x58]")
# Four digit code units in a row (every number form has a group of four), ASCII or full-width,
# little- or big-endian: only then is it worth reading the bytes as UTF-16.
_UTF16_DIGIT_GROUP = re.compile(
    rb"(?:[0-9]\x00|[\x10-\x19]\xff){4}|(?:\x00[0-9]|\xff[\x10-\x19]){4}"
)


def redact_bytes(data: bytes) -> tuple[bytes, int]:
    """Redact individual numbers in arbitrary bytes; never raises on binary input.

    See the module docstring for the encodings searched and the markers used.
    """
    data = bytes(data)
    total = 0
    while True:
        found_this_round = 0
        for redact_pass in _bytes_passes(data):
            data, count = redact_pass(data)
            found_this_round += count
        if found_this_round == 0:
            return data, total
        total += found_this_round


def _bytes_passes(data: bytes) -> list[_BytesPass]:
    passes: list[_BytesPass] = []
    if _is_utf8(data):
        passes.append(_redact_utf8_text)
    else:
        passes.append(_redact_utf8_lenient)
        if _CP932_FULL_WIDTH_DIGIT.search(data):
            passes.append(_redact_cp932)
    if _UTF16_DIGIT_GROUP.search(data):
        passes.extend(_utf16_passes())
    return passes


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _redact_utf8_text(data: bytes) -> tuple[bytes, int]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # an earlier pass left it otherwise; stay byte-exact
        return _redact_utf8_lenient(data)
    redacted, count = redact_text(text)
    return (redacted.encode("utf-8"), count) if count else (data, 0)


def _redact_utf8_lenient(data: bytes) -> tuple[bytes, int]:
    # surrogateescape keeps every undecodable byte as a lone surrogate, so encoding the text back
    # gives exactly the original bytes outside the redacted spans.
    text = data.decode("utf-8", "surrogateescape")
    redacted, count = _redact_view(text, BYTES_REDACTION_MARKER.decode("ascii"))
    return (redacted.encode("utf-8", "surrogateescape"), count) if count else (data, 0)


def _redact_cp932(data: bytes) -> tuple[bytes, int]:
    chars, offsets = _cp932_characters(data)
    candidates = _valid_candidates(chars)
    if not candidates:
        return data, 0
    byte_spans = [(offsets[start], offsets[end]) for start, end in _merged_spans(candidates)]
    return _replace_spans(data, byte_spans, BYTES_REDACTION_MARKER), len(candidates)


def _cp932_characters(data: bytes) -> tuple[str, list[int]]:
    """Read CP932 one character at a time, keeping each character's byte offset.

    Tokenising by lead/trail byte keeps the alignment of double-byte characters exact. Only
    digits and separators matter to the search, so every other character becomes U+FFFD.
    `offsets` has one extra entry (the length) so that a span end maps too.
    """
    tokens = _CP932_CHARACTER.findall(data)
    chars = "".join(
        [
            _CP932_SINGLE[token[0]] if len(token) == 1 else _CP932_DOUBLE.get(token, "\ufffd")
            for token in tokens
        ]
    )
    return chars, list(accumulate(map(len, tokens), initial=0))


def _cp932_significant_double_bytes() -> dict[bytes, str]:
    """The double-byte CP932 codes of full-width digits and separators, as the codec reads them."""
    significant = set(_FULL_WIDTH_DIGITS) | set(_SEPARATOR_CHARACTERS)
    table: dict[bytes, str] = {}
    for lead in range(0x81, 0x83):  # the digit and punctuation rows
        for trail in range(0x40, 0xFD):
            code = bytes((lead, trail))
            char = code.decode("cp932", "replace")
            if char in significant:
                table[code] = char
    return table


# One CP932 character: a lead byte with a valid trail byte, or any single byte.
_CP932_CHARACTER = re.compile(rb"[\x81-\x9f\xe0-\xfc][\x40-\x7e\x80-\xfc]|.", re.DOTALL)
# Bytes 0x80-0xFF on their own (half-width katakana, stray lead bytes) are neither digit nor
# separator; 0xA0 in particular must not read as a no-break space.
_CP932_SINGLE = [chr(byte) if byte < 0x80 else "\ufffd" for byte in range(256)]
_CP932_DOUBLE = _cp932_significant_double_bytes()


def _utf16_passes() -> list[_BytesPass]:
    # Aligned views first: big-endian text read little-endian at offset 1 shows the same ASCII
    # digits, and writing a little-endian marker there would garble the text. Once the aligned
    # views have redacted a number, the offset views no longer see it; they only catch UTF-16
    # that starts at an odd offset inside other bytes.
    return [
        _utf16_pass(big_endian, alignment) for alignment in (0, 1) for big_endian in (False, True)
    ]


def _utf16_pass(big_endian: bool, alignment: int) -> _BytesPass:
    marker = REDACTION_MARKER.encode("utf-16-be" if big_endian else "utf-16-le")

    def redact(data: bytes) -> tuple[bytes, int]:
        chars = _utf16_code_units(data, big_endian, alignment)
        candidates = _valid_candidates(chars)
        if not candidates:
            return data, 0
        spans = [
            (alignment + 2 * start, alignment + 2 * end) for start, end in _merged_spans(candidates)
        ]
        return _replace_spans(data, spans, marker), len(candidates)

    return redact


def _utf16_code_units(data: bytes, big_endian: bool, alignment: int) -> str:
    """One character per 2-byte code unit (lone surrogates included), so index i is bytes
    alignment+2i .. alignment+2i+2."""
    usable = (len(data) - alignment) // 2 * 2
    units = array("H")
    units.frombytes(data[alignment : alignment + usable])
    if big_endian != (sys.byteorder == "big"):
        units.byteswap()
    return "".join(map(chr, units))


# --- JSON-like values ----------------------------------------------------------------------


def redact_json_value(value: Any) -> tuple[Any, int]:
    """Redact every individual number in a JSON-like value; return a new value and the count.

    Walks dicts (keys and values), lists and tuples. Strings go through `redact_text`, bytes
    through `redact_bytes`. An int (or integral float) of 11 or 12 digits that is a valid number
    once zero-padded to 12 digits becomes `REDACTION_MARKER` (a JSON number loses the leading
    zero). Booleans and other objects are returned unchanged.
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return redact_bytes(bytes(value))
    if isinstance(value, dict):
        return _redact_mapping(value)
    if isinstance(value, list | tuple):
        return _redact_sequence(value)
    if _is_number_like_personal_number(value):
        return REDACTION_MARKER, 1
    return value, 0


def _redact_mapping(mapping: dict[Any, Any]) -> tuple[dict[Any, Any], int]:
    redacted: dict[Any, Any] = {}
    total = 0
    for key, item in mapping.items():
        new_key, key_count = redact_json_value(key)
        new_item, item_count = redact_json_value(item)
        redacted[_unused_key(new_key, redacted)] = new_item
        total += key_count + item_count
    return redacted, total


def _unused_key(key: Any, taken: dict[Any, Any]) -> Any:
    # Two keys redacted to the same marker must not overwrite each other's values.
    if key not in taken:
        return key
    suffix = 2
    while f"{key}#{suffix}" in taken:
        suffix += 1
    return f"{key}#{suffix}"


def _redact_sequence(items: list[Any] | tuple[Any, ...]) -> tuple[Any, int]:
    results = [redact_json_value(item) for item in items]
    redacted = [item for item, _ in results]
    total = sum(count for _, count in results)
    return (tuple(redacted) if isinstance(items, tuple) else redacted), total


def _is_number_like_personal_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return (
        isinstance(value, int)
        and value in _VALID_INT_RANGE
        and is_valid_personal_number(f"{value:012d}")
    )


def contains_personal_number(value: Any) -> bool:
    """True when `value` (text, bytes, a number or a JSON-like structure) holds a valid number."""
    return redact_json_value(value)[1] > 0
