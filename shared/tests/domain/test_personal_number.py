"""Unit tests of the individual-number (個人番号) check digit, detector and redactors.

Valid numbers are generated here by computing the check digit; no valid number is written out.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mynaflow.domain.personal_number import (
    BYTES_REDACTION_MARKER,
    REDACTION_MARKER,
    contains_personal_number,
    find_personal_numbers,
    is_valid_personal_number,
    personal_number_check_digit,
    redact_bytes,
    redact_json_value,
    redact_text,
)

pytestmark = pytest.mark.unit

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def reference_remainder(first11: str) -> int:
    """docs/domain.md, literally: Pn is the n-th digit from the right; Qn = n+1, or n-5 if n>6."""
    total = 0
    for n in range(1, 12):
        p_n = int(first11[11 - n])
        q_n = n + 1 if n <= 6 else n - 5
        total += p_n * q_n
    return total % 11


def reference_check_digit(first11: str) -> int:
    remainder = reference_remainder(first11)
    return 0 if remainder <= 1 else 11 - remainder


def with_check_digit(first11: str) -> str:
    return first11 + str(personal_number_check_digit(first11))


first_elevens = st.text(alphabet="0123456789", min_size=11, max_size=11)
valid_numbers = first_elevens.map(with_check_digit)


def grouped(number: str, separator: str) -> str:
    return separator.join((number[:4], number[4:8], number[8:]))


# --- check digit ----------------------------------------------------------------------------


def test_check_digit_worked_example() -> None:
    # For 12345678901: P1..P11 = 1,0,9,8,7,6,5,4,3,2,1 and Q = 2,3,4,5,6,7,2,3,4,5,6:
    # 2+0+36+40+42+42+10+12+12+10+6 = 212; 212 mod 11 = 3; check = 11 - 3 = 8.
    assert personal_number_check_digit("12345678901") == 8


@given(first11=first_elevens)
def test_check_digit_matches_the_domain_formula(first11: str) -> None:
    assert personal_number_check_digit(first11) == reference_check_digit(first11)


@given(number=valid_numbers)
def test_generated_numbers_are_valid_and_other_last_digits_are_not(number: str) -> None:
    assert is_valid_personal_number(number)
    others = [number[:11] + d for d in "0123456789" if d != number[11]]
    assert not any(is_valid_personal_number(other) for other in others)


@given(number=valid_numbers, position=st.integers(0, 11), replacement=st.sampled_from("0123456789"))
def test_single_digit_corruptions_are_rejected_unless_both_remainders_give_zero(
    number: str, position: int, replacement: str
) -> None:
    # The rule maps r=0 and r=1 to the same check digit 0, so a substitution that moves r
    # between 0 and 1 cannot be detected. Every other single-digit error is rejected.
    corrupted = number[:position] + replacement + number[position + 1 :]
    if corrupted == number:
        return
    undetectable = position < 11 and {
        reference_remainder(number[:11]),
        reference_remainder(corrupted[:11]),
    } == {0, 1}
    assert is_valid_personal_number(corrupted) is undetectable


@given(
    number=valid_numbers.filter(lambda n: n[11] != "0"),
    position=st.integers(0, 11),
    shift=st.integers(1, 9),
)
def test_every_single_digit_corruption_of_a_nonzero_check_number_is_rejected(
    number: str, position: int, shift: int
) -> None:
    replacement = str((int(number[position]) + shift) % 10)
    corrupted = number[:position] + replacement + number[position + 1 :]
    assert not is_valid_personal_number(corrupted)


@pytest.mark.parametrize("text", ["", "1234567890", "1234567890123", "abcdefghijkl"])
def test_wrong_shapes_are_invalid(text: str) -> None:
    assert not is_valid_personal_number(text)


def test_full_width_digits_are_not_a_canonical_number() -> None:
    number = with_check_digit("31415926535")
    assert not is_valid_personal_number(number.translate(FULL_WIDTH))
    assert find_personal_numbers(number.translate(FULL_WIDTH)) == [number]


def test_check_digit_refuses_bad_input_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="11 ASCII digits") as error:
        personal_number_check_digit("2718281828")
    assert "2718281828" not in str(error.value)


# --- detection ------------------------------------------------------------------------------


@given(number=valid_numbers)
def test_detected_in_every_documented_form(number: str) -> None:
    forms = [
        number,
        f"個人番号：{number}。",
        f"No.{number}番",
        grouped(number, " "),
        grouped(number, "-"),
        grouped(number, "\u3000"),
        grouped(number, "－"),
        grouped(number, "ー"),
        grouped(number, " - "),
        f"{number[:4]} {number[4:8]}-{number[8:]}",
        number.translate(FULL_WIDTH),
        grouped(number.translate(FULL_WIDTH), "\u3000"),
        number[:6] + number[6:].translate(FULL_WIDTH),
        f'"{number}",山田太郎,2025-01-01',
    ]
    assert [find_personal_numbers(form) for form in forms] == [[number]] * len(forms)


@given(number=valid_numbers)
def test_not_detected_when_part_of_a_longer_digit_run(number: str) -> None:
    assert find_personal_numbers("9" + number) == []
    assert find_personal_numbers(number + "０") == []
    assert find_personal_numbers("1" + grouped(number, "-")) == []


@given(number=valid_numbers)
def test_not_detected_across_line_breaks_or_tabs(number: str) -> None:
    assert find_personal_numbers(grouped(number, "\n")) == []
    assert find_personal_numbers(grouped(number, "\t")) == []


@given(number=valid_numbers, before=st.text("0123456789", min_size=4, max_size=4))
def test_found_inside_a_longer_grouped_run(number: str, before: str) -> None:
    # A 16-digit 4-4-4-4 run: the valid window may be the second one. When the first window
    # happens to be valid too, both are removed by redaction as one span.
    text = before + "-" + grouped(number, "-")
    first_window = before + number[:8]
    both_valid = is_valid_personal_number(first_window)
    assert find_personal_numbers(text) == ([first_window] if both_valid else [number])
    redacted, count = redact_text(text)
    assert redacted == (REDACTION_MARKER if both_valid else f"{before}-{REDACTION_MARKER}")
    assert count == (2 if both_valid else 1)


@given(first11=first_elevens)
def test_invalid_check_digit_is_not_detected(first11: str) -> None:
    wrong = first11 + str((personal_number_check_digit(first11) + 1) % 10)
    assert find_personal_numbers(f"番号 {wrong} です") == []


# --- redaction of text ----------------------------------------------------------------------

filler = st.text(
    alphabet=st.sampled_from(list("0123456789０１２ -ー　abc山田番号、\n")), max_size=30
)
number_forms = st.sampled_from(
    [
        lambda n: n,
        lambda n: grouped(n, " "),
        lambda n: grouped(n, "-"),
        lambda n: n.translate(FULL_WIDTH),
        lambda n: grouped(n, "ー"),
    ]
)


@st.composite
def texts_with_numbers(draw: st.DrawFn) -> tuple[str, int]:
    embedded = draw(st.lists(st.tuples(valid_numbers, number_forms), max_size=5))
    pieces = [draw(filler)]
    for number, form in embedded:
        # 「」 keeps each embedded number off neighbouring digits, so each must be found.
        pieces.extend(["「", form(number), "」", draw(filler)])
    return "".join(pieces), len(embedded)


@given(sample=texts_with_numbers())
def test_redaction_leaves_no_valid_number(sample: tuple[str, int]) -> None:
    text, embedded = sample
    redacted, count = redact_text(text)
    assert find_personal_numbers(redacted) == []
    assert count >= embedded
    assert redacted.count(REDACTION_MARKER) == count


def test_redaction_keeps_the_rest_of_the_text() -> None:
    number = with_check_digit("16180339887")
    redacted, count = redact_text(f"氏名 山田 番号 {grouped(number, '-')} 電話 03-1234-5678")
    assert (redacted, count) == (f"氏名 山田 番号 {REDACTION_MARKER} 電話 03-1234-5678", 1)


@given(text=st.text(alphabet=st.characters(exclude_categories=["Nd"]), max_size=50))
def test_text_without_digits_is_unchanged(text: str) -> None:
    assert redact_text(text) == (text, 0)


# --- redaction of bytes ---------------------------------------------------------------------


@given(data=st.binary(max_size=300))
def test_bytes_redaction_never_raises_and_leaves_nothing(data: bytes) -> None:
    redacted, count = redact_bytes(data)
    assert isinstance(redacted, bytes)
    assert count >= 0
    assert redact_bytes(redacted) == (redacted, 0)


@given(
    before=st.binary(max_size=40),
    number=valid_numbers,
    after=st.binary(max_size=40),
)
def test_ascii_number_in_random_bytes_is_redacted(before: bytes, number: str, after: bytes) -> None:
    data = before + b"\xff|" + number.encode() + b"|\xff" + after
    redacted, count = redact_bytes(data)
    assert count >= 1
    assert number.encode() not in redacted
    assert not contains_personal_number(redacted)


@given(data=st.binary(max_size=200).filter(lambda b: not any(0x30 <= x <= 0x39 for x in b)))
def test_bytes_without_any_digit_are_unchanged(data: bytes) -> None:
    # No ASCII digit also rules out every UTF-8 / UTF-16 form; CP932 full-width digits remain
    # possible in theory, so only assert when the lenient views find nothing.
    redacted, count = redact_bytes(data)
    assert (redacted == data) is (count == 0)


def test_shift_jis_notice_with_full_width_and_ascii_numbers() -> None:
    first = with_check_digit("14142135623")
    second = with_check_digit("17320508075")
    text = (
        f"申請者 山田花子 個人番号 {first.translate(FULL_WIDTH)} 家族 {grouped(second, '-')} 以上"
    )
    data = text.encode("cp932")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # really Shift_JIS, not UTF-8 by accident
    redacted, count = redact_bytes(data)
    assert count == 2
    assert redacted.decode("cp932") == (
        "申請者 山田花子 個人番号 [REDACTED-KOJIN-BANGO] 家族 [REDACTED-KOJIN-BANGO] 以上"
    )
    assert BYTES_REDACTION_MARKER in redacted


def test_shift_jis_double_byte_alignment_is_respected() -> None:
    # 0x81 0x82 is one double-byte character; the 0x82 0x4F that follows it in a misaligned
    # reading would look like a full-width zero. A number starting there must not be "found"
    # by reading across that character.
    number = with_check_digit("22360679774")
    tail = number[1:].translate(FULL_WIDTH).encode("cp932")
    data = b"\x81\x82\x4f" + tail  # aligned: <0x8182> 'O' + 11 full-width digits
    assert redact_bytes(data) == (data, 0)


def test_utf8_json_payload_is_redacted_as_text() -> None:
    number = with_check_digit("57721566490")
    payload = json.dumps({"note": f"番号 {number}"}, ensure_ascii=False).encode()
    redacted, count = redact_bytes(payload)
    assert count == 1
    assert json.loads(redacted) == {"note": f"番号 {REDACTION_MARKER}"}


def test_invalid_utf8_keeps_every_other_byte() -> None:
    number = with_check_digit("26457513110")
    data = b"\xc3\x28 id=" + number.encode() + b" \xe2\x82 end"
    redacted, count = redact_bytes(data)
    assert (redacted, count) == (b"\xc3\x28 id=" + BYTES_REDACTION_MARKER + b" \xe2\x82 end", 1)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_csv_as_excel_writes_it(codec: str) -> None:
    number = with_check_digit("30102999566")
    data = f"氏名,個人番号\r\n山田,{number}\r\n".encode(codec)
    redacted, count = redact_bytes(data)
    assert count == 1
    decode_as = "utf-16" if codec == "utf-16" else codec
    assert redacted.decode(decode_as) == f"氏名,個人番号\r\n山田,{REDACTION_MARKER}\r\n"
    assert codecs.BOM_UTF16_LE not in redacted[2:]


# --- JSON-like values -----------------------------------------------------------------------


def test_json_value_walks_keys_values_and_numbers() -> None:
    number = with_check_digit("11235813213")
    leading_zero = with_check_digit("04669201609")
    value: dict[str, Any] = {
        "resident": {"name": "山田", "number": int(number), "memo": f"番号は{number}"},
        number: "key itself",
        "list": [grouped(number, " "), 42, True, None, 1.5, float(number)],
        "lost_zero": int(leading_zero),
        "tuple": (number,),
    }
    redacted, count = redact_json_value(value)
    assert count == 7
    assert not contains_personal_number(redacted)
    assert redacted["resident"] == {
        "name": "山田",
        "number": REDACTION_MARKER,
        "memo": f"番号は{REDACTION_MARKER}",
    }
    assert redacted[REDACTION_MARKER] == "key itself"
    assert redacted["list"] == [REDACTION_MARKER, 42, True, None, 1.5, REDACTION_MARKER]
    assert redacted["tuple"] == (REDACTION_MARKER,)
    assert value["resident"]["number"] == int(number)  # the input is not mutated


def test_two_redacted_keys_keep_both_values() -> None:
    a, b = with_check_digit("12312312312"), with_check_digit("45645645645")
    redacted, count = redact_json_value({a: 1, b: 2})
    assert count == 2
    assert sorted(redacted.values()) == [1, 2]
    assert len(redacted) == 2


@given(value=st.integers(min_value=0, max_value=10**13))
def test_integers_count_only_as_11_or_12_digit_valid_numbers(value: int) -> None:
    expected = 10**10 <= value < 10**12 and is_valid_personal_number(f"{value:012d}")
    assert contains_personal_number(value) is expected


@given(number=valid_numbers)
def test_contains_personal_number_on_every_kind_of_value(number: str) -> None:
    assert contains_personal_number(number)
    assert contains_personal_number(number.encode())
    assert contains_personal_number({"a": [{"b": number}]})
    assert not contains_personal_number({"a": [{"b": "nothing here"}], "n": 12})


def test_shift_jis_full_width_separators() -> None:
    number = with_check_digit("98765432109")
    for separator in ("－", "ー", "\u3000", "‐"):
        data = f"番号：{grouped(number.translate(FULL_WIDTH), separator)}".encode("cp932")
        assert redact_bytes(data) == ("番号：".encode("cp932") + BYTES_REDACTION_MARKER, 1)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_full_width_number_and_odd_offset(codec: str) -> None:
    number = with_check_digit("55555555555")
    text = f"番号 {number.translate(FULL_WIDTH)}"
    assert redact_bytes(text.encode(codec)) == (f"番号 {REDACTION_MARKER}".encode(codec), 1)
    # UTF-16 that starts at an odd offset inside other bytes (a binary record, say). ASCII-only
    # UTF-16 shifted by one byte reads the same in the other byte order, so which order the
    # marker is written in is not defined; the number must be gone either way.
    shifted = b"\x07" + f"id {number}".encode(codec)
    redacted, count = redact_bytes(shifted)
    assert count == 1
    assert redacted.startswith(b"\x07")
    assert not contains_personal_number(redacted)
