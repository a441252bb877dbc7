"""The single raw-notice parser: every input gives a result, and nothing personal gets out."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mynaflow.contracts.jlis import (
    INVALID_CHARACTERS,
    INVALID_JSON,
    INVALID_UTF8,
    MISSING_FIELD,
    NOT_AN_OBJECT,
    PERSONAL_NUMBER_PRESENT,
    TOO_DEEPLY_NESTED,
    RawNotice,
    parse_raw_notice,
)
from mynaflow.domain.personal_number import (
    BYTES_REDACTION_MARKER,
    REDACTION_MARKER,
    personal_number_check_digit,
)

pytestmark = pytest.mark.unit

REDACTION_MARKERS = (REDACTION_MARKER, BYTES_REDACTION_MARKER.decode("ascii"))


def individual_number(first11: str) -> str:
    """A valid 個人番号 built here from docs/domain.md's formula (never a real person's)."""
    return first11 + str(personal_number_check_digit(first11))


NUMBER = individual_number("31415926535")


def notice(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "notice_id": "N-0001",
        "kind": "record_update_required",
        "municipality_code": "141046",
        "issued_at": "2025-05-01T10:00:00+09:00",
        "application_id": "A-1",
        "resident_ref": "R-1",
        "sequence": 7,
        "details": {"reason": "住所不一致"},
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not ...}


def raw(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def codes(payload: bytes) -> list[str]:
    return [reason.code for reason in parse_raw_notice(payload).reasons]


def test_a_valid_notice_is_accepted_with_every_field() -> None:
    parsed = parse_raw_notice(raw(notice()))
    assert parsed.accepted
    assert parsed.reasons == ()
    assert parsed.notice == RawNotice(
        notice_id="N-0001",
        kind="record_update_required",
        municipality_code="141046",
        issued_at=datetime(2025, 5, 1, 1, 0, tzinfo=UTC),
        application_id="A-1",
        resident_ref="R-1",
        sequence=7,
        details={"reason": "住所不一致"},
    )
    assert not parsed.unreadable_json


def test_unknown_fields_are_ignored_and_optional_ones_may_be_absent() -> None:
    value = notice(application_id=..., resident_ref=..., sequence=..., details=..., extra="x")
    parsed = parse_raw_notice(raw(value))
    assert parsed.accepted
    assert parsed.notice is not None
    assert parsed.notice.sequence is None


@pytest.mark.parametrize("field", ["notice_id", "kind", "municipality_code", "issued_at"])
def test_a_missing_required_field_is_named(field: str) -> None:
    parsed = parse_raw_notice(raw(notice(**{field: ...})))
    assert not parsed.accepted
    assert [(r.code, r.field) for r in parsed.reasons] == [(MISSING_FIELD, field)]


def test_a_bad_check_digit_keeps_the_other_fields_readable() -> None:
    parsed = parse_raw_notice(raw(notice(municipality_code="141045")))
    assert codes(raw(notice(municipality_code="141045"))) == ["invalid_municipality_code"]
    assert parsed.fields.notice_id == "N-0001"
    assert parsed.fields.municipality_code is None
    assert parsed.fields.issued_at is not None


@pytest.mark.parametrize("code", ["14104", "1410460", "１４１０４６", 141046, "14104a"], ids=repr)
def test_municipality_codes_are_six_ascii_digits(code: object) -> None:
    assert codes(raw(notice(municipality_code=code))) == ["invalid_municipality_code"]


@pytest.mark.parametrize(
    "issued_at",
    ["2025-13-01T10:00:00+09:00", "2025-05-01T10:00:00", "yesterday", 1746061200, "2025-05-01"],
    ids=repr,
)
def test_issued_at_needs_an_iso_instant_with_an_offset(issued_at: object) -> None:
    assert codes(raw(notice(issued_at=issued_at))) == ["invalid_issued_at"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("sequence", "7"), ("sequence", -1), ("sequence", True), ("details", [1]), ("kind", "")],
)
def test_optional_and_open_fields_are_still_typed(field: str, value: object) -> None:
    assert codes(raw(notice(**{field: value}))) == [f"invalid_{field}"]


def test_not_json_and_not_utf8_are_unreadable() -> None:
    not_json = parse_raw_notice(b"<notice id=1>")
    not_utf8 = parse_raw_notice(b'{"notice_id": "\xff\xfe"}')
    assert [r.code for r in not_json.reasons] == [INVALID_JSON]
    assert not_json.unreadable_json
    assert [r.code for r in not_utf8.reasons] == [INVALID_UTF8]
    assert not_utf8.unreadable_json
    assert not_json.content_hash is None
    assert not_json.notice_id is None


def test_json_that_is_not_an_object_is_quarantined_but_not_unreadable() -> None:
    parsed = parse_raw_notice(b"[1, 2, 3]")
    assert [r.code for r in parsed.reasons] == [NOT_AN_OBJECT]
    assert not parsed.unreadable_json


def test_an_individual_number_in_details_is_redacted_and_quarantined() -> None:
    payload = raw(notice(details={"memo": f"本人の番号 {NUMBER[:4]}-{NUMBER[4:8]}-{NUMBER[8:]}"}))
    parsed = parse_raw_notice(payload)
    assert [r.code for r in parsed.reasons] == [PERSONAL_NUMBER_PRESENT]
    assert parsed.fields.notice_id == "N-0001"  # still receipted under its id
    assert NUMBER[:4] not in json.dumps(parsed.fields.details)
    assert NUMBER[:4].encode() not in parsed.redacted_payload


@pytest.mark.parametrize(
    "where",
    ["resident_ref", "application_id", "unknown_field", "key", "integer", "notice_id"],
)
def test_an_individual_number_anywhere_is_found(where: str) -> None:
    value = notice()
    if where == "key":
        value["details"] = {NUMBER: "x"}
    elif where == "integer":
        value["details"] = {"n": int(NUMBER)}
    else:
        value[where] = NUMBER
    parsed = parse_raw_notice(raw(value))
    assert PERSONAL_NUMBER_PRESENT in [r.code for r in parsed.reasons]
    assert NUMBER not in repr(parsed)
    assert NUMBER.encode() not in parsed.redacted_payload
    if where == "notice_id":
        assert parsed.notice_id is None  # a masked id would merge unrelated notices


def test_the_importers_redaction_mask_still_means_quarantine() -> None:
    value = notice(details={"memo": "番号 [REDACTED-個人番号]"})
    assert codes(raw(value)) == [PERSONAL_NUMBER_PRESENT]


def test_nul_characters_are_quarantined_and_details_dropped() -> None:
    parsed = parse_raw_notice(raw(notice(details={"a": "x\u0000y"})))
    assert [r.code for r in parsed.reasons] == [INVALID_CHARACTERS]
    assert parsed.fields.details is None


@pytest.mark.parametrize(
    "details",
    [
        {"a\u0000b": "key"},
        {"list": ["ok", ["x\u0000"]]},
        {"a": "\ud800"},
        {"deep": {"b": {"\udfff": 1}}},
    ],
)
def test_nul_or_lone_surrogates_anywhere_are_quarantined(details: dict[str, Any]) -> None:
    payload = json.dumps(notice(details=details)).encode("utf-8")
    parsed = parse_raw_notice(payload)
    assert [r.code for r in parsed.reasons] == [INVALID_CHARACTERS]
    assert parsed.fields.details is None


def test_the_text_of_a_nul_escape_is_only_text() -> None:
    parsed = parse_raw_notice(raw(notice(details={"a": "\\u0000 as six characters"})))
    assert parsed.accepted
    assert parsed.fields.details == {"a": "\\u0000 as six characters"}


def test_the_content_hash_ignores_formatting_but_not_content() -> None:
    compact = parse_raw_notice(json.dumps(notice(), separators=(",", ":")).encode())
    spaced = parse_raw_notice(json.dumps(notice(), indent=4).encode())
    changed = parse_raw_notice(raw(notice(kind="card_delivered")))
    assert compact.content_hash == spaced.content_hash != changed.content_hash


def test_round_trip_through_the_wire_form() -> None:
    model = RawNotice.model_validate(notice())
    assert parse_raw_notice(model.to_json_bytes()).notice == model


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_result_and_never_raise(payload: bytes) -> None:
    parsed = parse_raw_notice(payload)
    assert parsed.accepted == (parsed.reasons == ())


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    ),
    st.integers(min_value=0, max_value=10),
    st.sampled_from(["", " ", "-", "　"]),
)
def test_an_embedded_number_never_survives(noise: Any, seed: int, separator: str) -> None:
    rng = random.Random(seed)
    number = individual_number("".join(rng.choice("0123456789") for _ in range(11)))
    shown = separator.join([number[:4], number[4:8], number[8:]])
    value = notice(details={"noise": noise, "memo": f"番号:{shown}"})
    parsed = parse_raw_notice(raw(value))
    assert not parsed.accepted
    assert PERSONAL_NUMBER_PRESENT in [r.code for r in parsed.reasons]
    everything = repr(parsed) + parsed.redacted_payload.decode("utf-8", "replace")
    assert number not in everything
    assert shown not in everything


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Nd")),
        min_size=1,
        max_size=40,
    )
    # A redaction marker is what an upstream redaction left where a 個人番号 stood, so intake
    # quarantines it on purpose: such text is not "well formed". (Hypothesis harvests string
    # constants from the code under test, so it does generate the markers.)
    .filter(lambda text: not any(marker in text for marker in REDACTION_MARKERS)),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)),
    st.integers(min_value=-12, max_value=14),
    # An 11- or 12-digit integer may be a 個人番号 that lost its leading zero: not "well formed".
    st.integers(min_value=0, max_value=10**10 - 1) | st.none(),
)
def test_every_well_formed_notice_is_accepted(
    text: str, issued: datetime, offset_h: int, sequence: int | None
) -> None:
    issued_at = issued.replace(tzinfo=timezone(timedelta(hours=offset_h))).isoformat()
    value = notice(notice_id=text, kind=text, issued_at=issued_at, sequence=sequence)
    parsed = parse_raw_notice(raw(value))
    assert parsed.accepted, parsed.reasons


# --- deep nesting -------------------------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "payload",
    [
        # json.loads manages this depth; every walk after it (redaction, jsonb) would recurse.
        b'{"notice_id": "N-1", "details": {"a": ' + nested(900).encode() + b"}}",
        # This one is past json.loads's own recursion limit.
        nested(100_000).encode(),
    ],
    ids=["walkable-by-json-only", "beyond-json-loads"],
)
def test_deeply_nested_json_is_quarantined_not_raised(payload: bytes) -> None:
    parsed = parse_raw_notice(payload)

    assert [reason.code for reason in parsed.reasons] == [TOO_DEEPLY_NESTED]
    assert not parsed.accepted
    assert not parsed.unreadable_json  # JSON all the same: receipted, not dead-lettered
    assert parsed.redacted_payload == payload


def test_a_number_inside_deeply_nested_json_is_still_redacted() -> None:
    payload = f'{{"details": {nested(80)[:80]}"{NUMBER}"{nested(80)[80:]}}}'.encode()

    parsed = parse_raw_notice(payload)

    assert TOO_DEEPLY_NESTED in [reason.code for reason in parsed.reasons]
    assert PERSONAL_NUMBER_PRESENT in [reason.code for reason in parsed.reasons]
    assert NUMBER.encode() not in parsed.redacted_payload


# --- escaped spellings ---------------------------------------------------------------------------

FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def json_escaped(text: str) -> str:
    return "".join(f"\\u{ord(char):04x}" for char in text)


@pytest.mark.parametrize(
    "spelled",
    [
        pytest.param(json_escaped(NUMBER.translate(FULL_WIDTH_DIGITS)), id="json-escaped-fw"),
        pytest.param(repr(f"{NUMBER[:4]}\u3000{NUMBER[4:8]}\u3000{NUMBER[8:]}"), id="repr-u3000"),
        pytest.param(repr(f"{NUMBER[:4]}\xa0{NUMBER[4:8]}\xa0{NUMBER[8:]}"), id="repr-xa0"),
    ],
)
def test_numbers_spelled_with_escapes_are_redacted_in_every_output(spelled: str) -> None:
    # The value holds the escape as text (a note pasted from an error message or a JSON dump),
    # so json.loads leaves it as it is and only the structural search can read it.
    payload = raw(notice(details={"note": f"see {spelled} here"}))

    parsed = parse_raw_notice(payload)

    assert PERSONAL_NUMBER_PRESENT in [reason.code for reason in parsed.reasons]
    assert parsed.fields.details is None or spelled not in json.dumps(parsed.fields.details)
    note = json.loads(parsed.redacted_payload)["details"]["note"]
    assert note.startswith("see ")
    assert note.endswith(" here")
    assert REDACTION_MARKER in note
    assert NUMBER[4:8] not in note


def test_a_number_split_along_its_groups_over_fields_is_quarantined() -> None:
    value = notice(details={"part1": NUMBER[:4], "part2": NUMBER[4:8], "part3": NUMBER[8:]})

    parsed = parse_raw_notice(raw(value))

    assert PERSONAL_NUMBER_PRESENT in [reason.code for reason in parsed.reasons]
    stored = parsed.redacted_payload.decode()
    assert NUMBER[4:8] not in stored
    assert parsed.fields.notice_id == "N-0001"
