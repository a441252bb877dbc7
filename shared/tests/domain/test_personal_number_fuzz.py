"""The personal-number fuzzer: no spelling of an individual number survives any path that stores,
publishes or logs text.

Each generated input is a valid number (computed from the check-digit rule, never written out)
in some spelling: ASCII, full-width or other Unicode digits, 4-4-4 groups with spaces, U+3000,
U+00A0, hyphens or dashes, zero-width characters between digits, then perhaps encoded: JSON
`\\uXXXX`, `repr`, bytes `repr`, URL or HTML escapes, escaped twice, base64 or base64url (of
UTF-8, of UTF-16, or base64 twice). It is
put somewhere: a field of a J-LIS notice, a JSON key, an unknown field, an integer, split along
its groups over consecutive fields, a non-JSON payload (UTF-8, UTF-16, CP932), a Kafka key, a
header name or value. Then it goes through every path:

- the parser (`parse_raw_notice`): the stored payload, the fields, the reasons;
- dead letters (`dead_letter._redact` and `_dead_lettered_event`): the stored row and the event;
- error descriptions (`describe_error` of a pydantic `ValidationError` quoting it);
- log records (`JsonFormatter`): message, extra fields, an exception's traceback;
- Kafka headers (`redact_kafka_headers`).

What comes out is read back the way a person or a script could (`readable`): every byte view
(UTF-8, UTF-16 in both orders and alignments, CP932), escapes decoded (twice), NFKC, any
Unicode digit, separators and zero-width characters removed, base64 runs decoded, and JSON
documents' string values concatenated. The number must not be there.

`MYNAFLOW_FUZZ_EXAMPLES` sets the number of examples (default 3,000, the normal suite). The
long run (docs/domain.md) uses 100,000.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import re
import sys
import unicodedata
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mynaflow.contracts.jlis import parse_raw_notice
from mynaflow.domain.personal_number import personal_number_check_digit, redact_kafka_headers
from mynaflow.messaging import dead_letter
from mynaflow.messaging.failures import describe_error
from mynaflow.runtime.logging import JsonFormatter
from pydantic import BaseModel, StrictInt, ValidationError

FUZZ_EXAMPLES = int(os.environ.get("MYNAFLOW_FUZZ_EXAMPLES", "3000"))

# Pure, but a property run of tens of seconds (minutes for the long one): `slow`, not `unit`.
# The short run is still part of the normal suite (`make test` selects every marker).
pytestmark = pytest.mark.slow

# --- spellings --------------------------------------------------------------------------------

DIGIT_SCRIPTS = {
    "ascii": 0x30,
    "full-width": 0xFF10,
    "mathematical bold": 0x1D7CE,
    "mathematical double-struck": 0x1D7D8,
    "arabic-indic": 0x0660,
    "devanagari": 0x0966,
}
SEPARATORS = [
    " ", "\u3000", "\xa0", "-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015",
    "\u2212", "\uff0d", "\u30fc", "\u2007", "\u2009", "\u202f",
]  # fmt: skip
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
# Surroundings never hold digits: a digit next to the number makes a 13-digit run, which is not
# an individual number by definition (docs/domain.md).
SURROUNDING = st.text(
    alphabet=st.sampled_from("abcXYZ_:/ 住所番号。、「」#=\"'\n\t{}[]"), max_size=12
)


def _first_eleven() -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=11, max_size=11)


numbers = _first_eleven().map(lambda first: first + str(personal_number_check_digit(first)))


@st.composite
def spelled_digits(draw: st.DrawFn, number: str) -> str:
    """The number in one digit script (or a mix), grouped 4-4-4 or not, perhaps with
    zero-width characters between digits. Few draws: the long run makes 100,000 of these."""
    scripts = list(DIGIT_SCRIPTS.values())
    choice = draw(st.integers(0, 2**48 - 1))  # one draw, read as many small choices
    mixed, choice = choice % 2, choice // 2
    digits = []
    for digit in number:
        script = scripts[choice % len(scripts)]
        digits.append(chr(script + int(digit)))
        choice = choice // len(scripts) if mixed else choice
    if draw(st.booleans()):
        zero_width = draw(st.sampled_from(ZERO_WIDTH))
        digits = [d + zero_width if i % 3 == 1 else d for i, d in enumerate(digits)]
    if not draw(st.booleans()):
        return "".join(digits)
    gap = st.text(st.sampled_from(SEPARATORS), min_size=1, max_size=3)
    first_gap, second_gap = draw(gap), draw(gap)
    return "".join(digits[:4]) + first_gap + "".join(digits[4:8]) + second_gap + "".join(digits[8:])


def _json_escape_all(text: str) -> str:
    units = text.encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


ENCODINGS: dict[str, Callable[[str], str]] = {
    "none": lambda s: s,
    "json ensure_ascii": lambda s: json.dumps(s)[1:-1],
    "json every character": _json_escape_all,
    "json escaped twice": lambda s: _json_escape_all(s).replace("\\", "\\\\"),
    "repr": lambda s: repr(s)[1:-1],
    "bytes repr": lambda s: repr(s.encode("utf-8"))[2:-1],
    "url quote": urllib.parse.quote,
    "url every byte": lambda s: "".join(f"%{b:02X}" for b in s.encode("utf-8")),
    "html decimal": lambda s: "".join(f"&#{ord(c)};" for c in s),
    "html hex": lambda s: "".join(f"&#x{ord(c):x};" for c in s),
    "base64": lambda s: base64.b64encode(s.encode("utf-8")).decode(),
    "base64url": lambda s: base64.urlsafe_b64encode(s.encode("utf-8")).decode().rstrip("="),
    "base64 of utf-16": lambda s: base64.b64encode(s.encode("utf-16-le")).decode(),
    "base64 twice": lambda s: base64.b64encode(base64.b64encode(s.encode("utf-8"))).decode(),
}


@st.composite
def spellings(draw: st.DrawFn, number: str) -> str:
    encode = draw(st.sampled_from(list(ENCODINGS.values())))
    return str(encode(draw(spelled_digits(number))))


# --- carriers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One generated input: the number and everything that carries it into the paths."""

    number: str
    payload: bytes
    key: bytes | None
    headers: list[tuple[str, bytes | None]]
    text: str  # for error descriptions and log records
    log_extra: dict[str, Any]


def _base_notice() -> dict[str, Any]:
    return {
        "notice_id": "N-fuzz",
        "kind": "record_update_required",
        "municipality_code": "141046",
        "issued_at": "2025-05-01T10:00:00+09:00",
        "details": {"reason": "住所不一致"},
    }


@st.composite
def json_payloads(draw: st.DrawFn, number: str, spelled: str) -> bytes:
    notice = _base_notice()
    where = draw(
        st.sampled_from(
            [
                *("notice_id", "kind", "application_id", "resident_ref", "detail", "key"),
                *("unknown", "integer", "split", "split list"),
            ]
        )
    )
    if where in ("notice_id", "kind", "application_id", "resident_ref"):
        notice[where] = spelled
    elif where == "detail":
        notice["details"]["memo"] = spelled
    elif where == "key":
        notice["details"][spelled] = "x"
    elif where == "unknown":
        notice["extra_field"] = {"deep": [spelled]}
    elif where == "integer" and int(number) >= 10**10:
        notice["details"]["n"] = int(number)  # a JSON number loses at most one leading zero
    elif where == "integer":
        notice["details"]["n"] = spelled
    else:
        groups = [_digits_only_spelling(g, draw) for g in (number[:4], number[4:8], number[8:])]
        notice["details"]["parts" if where == "split list" else "p1"] = (
            groups if where == "split list" else groups[0]
        )
        if where == "split":
            notice["details"].update({"p2": groups[1], "p3": groups[2]})
    ensure_ascii = draw(st.booleans())
    return json.dumps(notice, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


def _digits_only_spelling(group: str, draw: st.DrawFn) -> str:
    # A split is looked for along the groups, value by value: each value is only its group.
    script = draw(st.sampled_from(list(DIGIT_SCRIPTS.values())))
    return "".join(chr(script + int(d)) for d in group)


@st.composite
def raw_payloads(draw: st.DrawFn, spelled: str) -> bytes:
    text = draw(SURROUNDING) + spelled + draw(SURROUNDING)
    codec = draw(st.sampled_from(["utf-8", "utf-16-le", "utf-16-be", "utf-16", "cp932"]))
    try:
        return text.encode(codec)
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


@st.composite
def cases(draw: st.DrawFn) -> Case:
    number = draw(numbers)
    spelled = draw(spellings(number))
    if draw(st.booleans()):
        payload = draw(json_payloads(number, spelled))
    else:
        payload = draw(raw_payloads(spelled))
    key_text = draw(st.sampled_from(["", "resident:"])) + draw(spellings(number))
    key_codec = draw(st.sampled_from(["utf-8", "utf-16-le", "cp932"]))
    try:
        key: bytes | None = key_text.encode(key_codec)
    except UnicodeEncodeError:
        key = key_text.encode("utf-8", "surrogatepass")
    headers = [
        (f"x-{draw(spellings(number))}", draw(spellings(number)).encode("utf-8", "surrogatepass")),
        ("trace", None),
    ]
    text = draw(SURROUNDING) + draw(spellings(number)) + draw(SURROUNDING)
    groups = [number[:4], number[4:8], number[8:]]
    log_extra = {"resident": int(number), "parts": groups, "note": draw(spellings(number))}
    return Case(number, payload, key, headers, text, log_extra)


# --- reading back ------------------------------------------------------------------------------

_BYTE_ESCAPE_RUN = re.compile(r"(?:\\+x[0-9a-fA-F]{2})+|(?:%[0-9a-fA-F]{2})+")
_UNICODE_ESCAPE = re.compile(
    r"\\+u([dD][89abAB][0-9a-fA-F]{2})\\+u([dD][c-fC-F][0-9a-fA-F]{2})"
    r"|\\+u([0-9a-fA-F]{4})|\\+U([0-9a-fA-F]{8})"
)
_HTML_REFERENCE = re.compile(r"&#(?:([0-9]{1,7})|[xX]([0-9a-fA-F]{1,6}));")
_CONTROL_BYTE = re.compile(rb"[\x00-\x1f]")
_BASE64_LIKE = re.compile(r"[A-Za-z0-9+/_-]{16,}")


def _unicode_escape(found: re.Match[str]) -> str:
    high, low, four, eight = found.groups()
    if high:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + int(low, 16) - 0xDC00)
    code = int(four or eight, 16)
    return chr(code) if code < 0x110000 else ""


def _escaped_bytes(found: re.Match[str]) -> str:
    # A bytes repr or a URL escapes UTF-8 bytes; a str repr escapes code points U+0080..U+00FF.
    data = bytes.fromhex(re.sub(r"\\+x|%", "", found.group()))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decode_escapes(text: str) -> str:
    text = _BYTE_ESCAPE_RUN.sub(_escaped_bytes, text)
    text = _UNICODE_ESCAPE.sub(_unicode_escape, text)
    return _HTML_REFERENCE.sub(
        lambda m: chr(int(m.group(1))) if m.group(1) else chr(int(m.group(2), 16)), text
    )


# Separators and invisible characters vanish; every Unicode decimal digit becomes ASCII.
_TO_DIGIT_STRING = {ord(char): None for char in SEPARATORS + ZERO_WIDTH} | {
    code: str(unicodedata.digit(chr(code)))
    for code in range(0x80, sys.maxunicode + 1)
    if chr(code).isdecimal()
}


def _digit_string(text: str) -> str:
    """NFKC, any Unicode digit as ASCII, separators and invisible characters dropped."""
    if text.isascii():  # NFKC leaves ASCII as it is
        return text.translate(_TO_DIGIT_STRING)
    return unicodedata.normalize("NFKC", text.translate(_TO_DIGIT_STRING)).translate(
        _TO_DIGIT_STRING
    )


def _text_views(data: bytes) -> list[str]:
    """Every way to read the bytes as text. Printable ASCII reads the same in CP932, and as
    UTF-16 its code units are U+2020..U+7E7E, where no decimal digit lies (every digit block of
    the BMP below U+2000 has a control byte in it): one view is enough then."""
    views = [data.decode("utf-8", "replace")]
    if data.isascii() and not _CONTROL_BYTE.search(data):
        return views
    views.append(data.decode("cp932", "replace"))
    for alignment in (0, 1):
        body = data[alignment:]
        body = body[: len(body) // 2 * 2]
        views += [body.decode("utf-16-le", "replace"), body.decode("utf-16-be", "replace")]
    return views


def _base64_decodings(text: str) -> list[bytes]:
    decoded = []
    for run in _BASE64_LIKE.findall(text):
        standard = run.translate(str.maketrans("-_", "+/"))
        for skip in range(4):
            body = standard[skip:]
            body = body[: len(body) // 4 * 4] if len(body) % 4 == 1 else body
            try:
                decoded.append(base64.b64decode(body + "=" * (-len(body) % 4)))
            except ValueError:
                continue
    return decoded


def _json_string_values(text: str) -> str:
    """A JSON document's string values, concatenated in order (a split number joins up)."""
    if not text.lstrip().startswith(("{", "[", '"')):
        return ""
    try:
        value = json.loads(text)
    except ValueError:
        return ""
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            for child in item.values():
                walk(child)
        elif isinstance(item, list):
            for child in item:
                walk(child)
        elif isinstance(item, str):
            found.append(item)

    walk(value)
    return "".join(found)


@functools.lru_cache(maxsize=8192)
def readable(number: str, output: str | bytes, depth: int = 0) -> bool:
    """True when `number` can be read back from `output` (see the module docstring)."""
    wanted = {number, str(int(number))} if int(number) >= 10**10 else {number}
    texts = _text_views(output) if isinstance(output, bytes) else [output]
    for text in texts:
        decoded = _decode_escapes(_decode_escapes(text))
        joined = _json_string_values(text)
        # Digits outside escapes stay digits when decoded, so `decoded` covers `text`.
        candidates = {decoded, _decode_escapes(joined)} if joined else {decoded}
        if any(form in _digit_string(candidate) for candidate in candidates for form in wanted):
            return True
        if depth < 2 and any(
            readable(number, data, depth + 1) for data in _base64_decodings(decoded)
        ):
            return True
    return False


# --- the paths ----------------------------------------------------------------------------------


def parser_outputs(case: Case) -> list[str | bytes]:
    parsed = parse_raw_notice(case.payload)
    outputs: list[str | bytes] = [
        parsed.redacted_payload,
        parsed.fields.model_dump_json(),
        json.dumps([reason.model_dump() for reason in parsed.reasons], ensure_ascii=False),
    ]
    if parsed.notice is not None:
        outputs.append(parsed.notice.to_json_bytes())
    return outputs


class _Quoting(BaseModel):
    # Strict: no text is ever an integer, so the error always quotes the text (with repr).
    count: StrictInt


def error_text(case: Case) -> str:
    try:
        _Quoting.model_validate({"count": case.text})
    except ValidationError as error:
        return describe_error(error)
    raise AssertionError("the text validated as an integer")


def dead_letter_outputs(case: Case) -> list[str | bytes]:
    redacted = dead_letter._redact(case.key, case.payload, "schema_invalid", error_text(case))
    at = dead_letter._Coordinates("jlis.notices.raw", 0, 1)
    event = dead_letter._dead_lettered_event("notice-intake", at, redacted)
    return [
        redacted.key or "",
        redacted.payload,
        redacted.reason,
        redacted.error,
        # The original is checked decoded, on its own (reading it inside the event again would
        # only double the work).
        event.model_dump_json(exclude={"data": {"original_base64"}}),
        base64.b64decode(event.data.original_base64),
    ]


def log_line(case: Case) -> str:
    try:
        raise ValueError(case.text)
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "mynaflow.fuzz", logging.WARNING, __file__, 1, "rejected %s", (case.text,), exc_info
    )
    for name, value in case.log_extra.items():
        setattr(record, name, value)
    return JsonFormatter("notice-intake").format(record)


def header_outputs(case: Case) -> list[str | bytes]:
    redacted, _ = redact_kafka_headers(case.headers)
    return [part for name, value in redacted for part in (name, value or b"")]


def leaks(case: Case) -> dict[str, list[str]]:
    """Per path, the outputs the number can be read back from (shortened, for the report)."""
    seen: dict[str | bytes, bool] = {}

    def leaked(output: str | bytes) -> bool:
        if output not in seen:  # the same text often reaches several outputs
            seen[output] = readable(case.number, output)
        return seen[output]

    return {
        path: [repr(output)[:300] for output in outputs if leaked(output)]
        for path, outputs in every_output(case).items()
    }


def every_output(case: Case) -> dict[str, list[str | bytes]]:
    return {
        "parser": parser_outputs(case),
        "dead letter": dead_letter_outputs(case),
        "error description": [error_text(case)],
        "log line": [log_line(case)],
        "headers": header_outputs(case),
    }


# --- the test ---------------------------------------------------------------------------------


def test_the_reader_reads_every_spelling_before_redaction() -> None:
    # Otherwise the fuzzer below could not fail: each input, unredacted, is readable.
    @given(case=cases())
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def check(case: Case) -> None:
        assert readable(case.number, case.payload)
        assert readable(case.number, case.text)
        assert case.key is not None
        assert readable(case.number, case.key)

    check()


# The suite's 300 s limit per test would cut the long run short: allow about 20 ms an example.
@pytest.mark.timeout(max(300, FUZZ_EXAMPLES // 50))
@given(case=cases())
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_no_spelling_of_a_number_survives_any_path(case: Case) -> None:
    found = leaks(case)
    assert not any(found.values()), found
