"""Structural redaction: escaped, folded, encoded and split spellings of an individual number,
and every path that stores or forwards text (dead letters, error texts, logs, contracts).

Valid numbers are computed here from the check-digit rule; none is written out.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import unicodedata
from typing import Any

import pytest
from mynaflow.contracts.deadlines import ClearDeadline, DeadlineAudience, DeadlineSubject
from mynaflow.contracts.intake import NoticeAcknowledged
from mynaflow.domain import personal_number
from mynaflow.domain.personal_number import (
    MAX_JSON_DEPTH,
    REDACTION_MARKER,
    NestingTooDeepError,
    personal_number_check_digit,
    redact_error_text,
    redact_json_value,
    redact_kafka_headers,
    redact_kafka_key,
    redact_payload_bytes,
    redact_text,
)
from mynaflow.messaging import dead_letter
from mynaflow.messaging.failures import describe_error
from mynaflow.runtime.logging import JsonFormatter
from pydantic import BaseModel, ValidationError

pytestmark = pytest.mark.unit

FIRST_ELEVEN = "27182818284"
NUMBER = FIRST_ELEVEN + str(personal_number_check_digit(FIRST_ELEVEN))
GROUPS = (NUMBER[:4], NUMBER[4:8], NUMBER[8:])
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def spaced(separator: str) -> str:
    return separator.join(GROUPS)


def json_escapes(text: str) -> str:
    return "".join(f"\\u{ord(char):04x}" for char in text)


SPELLINGS = {
    "repr of U+3000 groups": repr(spaced("\u3000")),
    "repr of U+00A0 groups": repr(spaced("\xa0")),
    "JSON escapes of full-width digits": json_escapes(NUMBER.translate(FULL_WIDTH)),
    "JSON escapes twice": json_escapes(NUMBER).replace("\\", "\\\\"),
    "bytes repr of full-width UTF-8": str(NUMBER.translate(FULL_WIDTH).encode()),
    "URL escapes": "".join(f"%{byte:02X}" for byte in spaced("\u3000").encode()),
    "HTML references": "".join(f"&#{ord(char)};" for char in NUMBER),
    "base64": base64.b64encode(NUMBER.encode()).decode(),
    "base64url of full-width": base64.urlsafe_b64encode(NUMBER.translate(FULL_WIDTH).encode())
    .decode()
    .rstrip("="),
    "mathematical digits (NFKC)": "".join(chr(0x1D7CE + int(d)) for d in NUMBER),
    "figure spaces (NFKC)": spaced("\u2007"),
    "zero-width spaces between digits": "\u200b".join(NUMBER),
}


_BYTE_ESCAPE_RUN = re.compile(r"(?:\\+x[0-9a-fA-F]{2})+|(?:%[0-9a-fA-F]{2})+")
_UNICODE_ESCAPE = re.compile(r"\\+u([dD][89abAB]\w{2})\\+u([dD][c-fC-F]\w{2})|\\+u(\w{4})")
_HTML_REFERENCE = re.compile(r"&#(\d+);")


def _unicode_escape(found: re.Match[str]) -> str:
    high, low, single = found.groups()
    if single:
        return chr(int(single, 16))
    return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + int(low, 16) - 0xDC00)


def readable_digits(text: str) -> str:
    """Every digit a reader could recover from `text`, in order: escapes decoded, NFKC, any
    Unicode digit, format characters dropped. Written apart from the code under test."""
    text = _BYTE_ESCAPE_RUN.sub(
        lambda m: bytes.fromhex(re.sub(r"\\+x|%", "", m.group())).decode("utf-8", "replace"),
        text,
    )
    text = _UNICODE_ESCAPE.sub(_unicode_escape, text)
    text = _HTML_REFERENCE.sub(lambda m: chr(int(m.group(1))), text)
    folded = unicodedata.normalize("NFKC", text)
    return "".join(str(unicodedata.digit(char)) for char in folded if char.isdecimal())


@pytest.mark.parametrize("name", [name for name in SPELLINGS if "base64" not in name])
def test_the_reader_recovers_the_number_from_each_unredacted_spelling(name: str) -> None:
    # Otherwise the assertions below could not fail.
    assert NUMBER in readable_digits(SPELLINGS[name])


@pytest.mark.parametrize("spelled", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_every_spelling_is_redacted_from_text(spelled: str) -> None:
    redacted, count = redact_text(f"input_value={spelled} rest")

    assert count >= 1
    assert redacted.startswith("input_value=")
    assert NUMBER not in readable_digits(redacted)
    assert GROUPS[1] not in redacted


def test_plain_text_without_digits_or_escapes_takes_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(*_: object) -> None:
        raise AssertionError("the structural views ran")

    monkeypatch.setattr(personal_number, "_decoded_view", fail)
    monkeypatch.setattr(personal_number, "_numbers_in_base64", fail)

    assert redact_text("住所不一致のため record_update_required") == (
        "住所不一致のため record_update_required",
        0,
    )


def test_error_text_quoting_input_with_repr_is_redacted() -> None:
    class Model(BaseModel):
        count: int

    with pytest.raises(ValidationError) as caught:
        Model.model_validate({"count": spaced("\u3000")})

    assert "\\u3000" in str(caught.value)  # pydantic quotes the input with repr
    assert GROUPS[1] not in describe_error(caught.value)
    assert GROUPS[1] not in redact_error_text(str(caught.value))


# --- JSON values and payloads -----------------------------------------------------------------


def test_a_number_split_along_its_groups_over_values_is_redacted_in_each() -> None:
    value = {"form": {"g1": GROUPS[0], "g2": f" {GROUPS[1]}-", "g3": GROUPS[2]}, "n": 1}

    redacted, count = redact_json_value(value)

    assert count == 1
    assert redacted == {
        "form": {"g1": REDACTION_MARKER, "g2": REDACTION_MARKER, "g3": REDACTION_MARKER},
        "n": 1,
    }


def test_group_sized_values_that_spell_no_valid_number_are_left_alone() -> None:
    wrong_check_digit = NUMBER[:11] + str((int(NUMBER[11]) + 1) % 10)
    value = [wrong_check_digit[:4], wrong_check_digit[4:8], wrong_check_digit[8:]]

    assert redact_json_value(value) == (value, 0)


def test_json_nested_too_deeply_is_refused_not_walked() -> None:
    value: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH + 1):
        value = [value]

    with pytest.raises(NestingTooDeepError):
        redact_json_value(value)


def test_payload_bytes_with_json_escapes_of_full_width_digits_are_redacted_in_place() -> None:
    payload = ('{"memo": "' + json_escapes(NUMBER.translate(FULL_WIDTH)) + '", "x": 1}').encode()

    redacted, count = redact_payload_bytes(payload)

    assert count == 1
    assert json.loads(redacted) == {"memo": REDACTION_MARKER, "x": 1}


def test_payload_bytes_split_over_fields_are_rewritten_as_redacted_json() -> None:
    payload = json.dumps({"a": GROUPS[0], "b": GROUPS[1], "c": GROUPS[2]}).encode()

    redacted, count = redact_payload_bytes(payload)

    assert count == 1
    assert GROUPS[1].encode() not in redacted


def test_payload_bytes_nested_too_deeply_keep_the_byte_level_result() -> None:
    payload = ("[" * 200 + f'"{NUMBER}"' + "]" * 200).encode()

    redacted, count = redact_payload_bytes(payload)

    assert count == 1
    assert NUMBER.encode() not in redacted


# --- Kafka keys and headers --------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16-le", "cp932", "utf-8"])
def test_a_key_is_redacted_in_its_own_encoding_before_it_is_decoded(codec: str) -> None:
    key = f"resident:{NUMBER.translate(FULL_WIDTH)}".encode(codec)

    safe, count = redact_kafka_key(key)

    assert count == 1
    assert safe is not None
    assert NUMBER not in readable_digits(safe.replace("\x00", ""))


def test_header_names_and_values_are_redacted_and_null_values_kept() -> None:
    headers = [(f"x-{NUMBER}", spaced("\u3000").encode()), ("trace", None), ("ok", b"v")]

    safe, count = redact_kafka_headers(headers)

    assert count == 2
    assert safe == [
        (f"x-{REDACTION_MARKER}", REDACTION_MARKER.encode()),
        ("trace", None),
        ("ok", b"v"),
    ]


# --- dead letters --------------------------------------------------------------------------------


def test_a_dead_letter_row_and_event_hold_no_escaped_number() -> None:
    error = f"ValidationError: input_value={spaced(chr(0x3000))!r}"
    payload = ('{"memo": "' + json_escapes(NUMBER.translate(FULL_WIDTH)) + '"}').encode()
    key = NUMBER.encode("utf-16-le")

    redacted = dead_letter._redact(key, payload, "schema_invalid", error)
    at = dead_letter._Coordinates("t", 0, 7)
    event = dead_letter._dead_lettered_event("notice-intake", at, redacted)

    assert redacted.count == 3
    stored = [redacted.key or "", redacted.payload.decode(), redacted.reason, redacted.error]
    published = event.model_dump_json()
    original = base64.b64decode(event.data.original_base64).decode()
    for text in [*stored, published, original]:
        assert NUMBER not in readable_digits(text.replace("\x00", ""))


# --- logs -------------------------------------------------------------------------------------


def test_a_log_line_holds_no_number_as_an_integer_repr_text_or_split_fields() -> None:
    arguments = (repr(spaced("\xa0")),)
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "bad %s", arguments, None)
    record.resident = int(NUMBER)
    record.parts = list(GROUPS)

    line = JsonFormatter("notice-intake").format(record)

    assert NUMBER not in readable_digits(line)
    assert GROUPS[1] not in line
    assert json.loads(line)["level"] == "WARNING"


# --- contracts ----------------------------------------------------------------------------------


def test_a_clear_with_a_number_in_its_reason_still_validates_with_the_reason_redacted() -> None:
    clear = ClearDeadline.model_validate(
        {"key": "notice:N-1", "reason": f"resolved for {spaced(chr(0x3000))}"}
    )

    assert clear.key == "notice:N-1"
    assert clear.reason == f"resolved for {REDACTION_MARKER}"


def test_subject_and_audience_are_redacted_extra_fields_included() -> None:
    subject = DeadlineSubject.model_validate(
        {"type": "resident_card", "ids": {"resident": NUMBER}, "memo": {"n": int(NUMBER)}}
    )
    audience = DeadlineAudience.model_validate({"assignee": repr(spaced("\xa0")), "note": NUMBER})

    dumped = json.dumps([subject.model_dump(), audience.model_dump()], ensure_ascii=False)
    assert NUMBER not in readable_digits(dumped)
    assert subject.ids == {"resident": REDACTION_MARKER}


def test_a_receipt_redacts_the_free_text_it_carries() -> None:
    receipt = NoticeAcknowledged.model_validate(
        {
            "receipt_id": "00000000-0000-4000-8000-000000000001",
            "notice_id": "N-1",
            "status": "quarantined",
            "kind": f"kind {NUMBER}",
            "issued_at": None,
            "application_id": None,
            "resident_ref": spaced("-"),
            "sequence": None,
            "details": {"a": GROUPS[0], "b": GROUPS[1], "c": GROUPS[2]},
            "owner_queue": "triage",
            "received_at": "2026-12-03T00:00:00Z",
            "sla_due_on": None,
            "reasons": [{"code": "x", "message": f"saw {NUMBER}"}],
        }
    )

    assert NUMBER not in readable_digits(receipt.model_dump_json())
    assert receipt.notice_id == "N-1"


def test_a_shift_jis_form_with_ascii_digits_and_ideographic_spaces_is_redacted() -> None:
    # Found by the fuzzer: the CP932 view was read only when full-width digits were present.
    data = f"氏名,{spaced(chr(0x3000))}\r\n".encode("cp932")

    redacted, count = personal_number.redact_bytes(data)

    assert count == 1
    assert redacted == "氏名,".encode("cp932") + b"[REDACTED-KOJIN-BANGO]\r\n"


MATHEMATICAL = "".join(chr(0x1D7CE + int(d)) for d in NUMBER)


@pytest.mark.parametrize(
    "data",
    [
        base64.b64encode(MATHEMATICAL.encode()),
        MATHEMATICAL.encode("utf-16-le"),
        base64.b64encode(NUMBER.encode()).decode().encode("utf-16-le"),
    ],
    ids=["base64 of mathematical digits", "UTF-16 mathematical digits", "UTF-16 base64"],
)
def test_spellings_earlier_fuzzer_runs_found_are_redacted_from_bytes(data: bytes) -> None:
    redacted, count = personal_number.redact_bytes(data)

    assert count >= 1
    assert MATHEMATICAL.encode("utf-16-le") not in redacted
    assert redacted != data
