"""The pre-check before decoded base64 is searched (`_may_hold_a_number`): it may only turn away
bytes in which the full search (`redact_bytes`) would find nothing.

Valid numbers are computed here from the check-digit rule; none is written out.
"""

from __future__ import annotations

import base64
import re
import sys
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from mynaflow.domain import personal_number
from mynaflow.domain.personal_number import (
    REDACTION_MARKER,
    personal_number_check_digit,
    redact_bytes,
    redact_text,
)

pytestmark = pytest.mark.unit

FIRST_ELEVEN = "31415926535"
NUMBER = FIRST_ELEVEN + str(personal_number_check_digit(FIRST_ELEVEN))
ARABIC_INDIC = "".join(chr(0x0660 + int(digit)) for digit in NUMBER)
DEVANAGARI = "".join(chr(0x0966 + int(digit)) for digit in NUMBER)


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


# Found while profiling the base64 path: the old pre-check counted ASCII and full-width digits
# and escape characters in the UTF-8 reading only, so these were never searched although the
# same bytes without base64 are redacted.
MISSED_BEFORE = {
    "base64 of UTF-16LE Arabic-Indic digits": b64(ARABIC_INDIC.encode("utf-16-le")),
    "base64 of UTF-16BE Devanagari digits": b64(DEVANAGARI.encode("utf-16-be")),
    "base64 of base64": b64(b64(NUMBER.encode())),
    "base64 three times": b64(b64(b64(NUMBER.encode()))),
    "base64 of base64 after other text": b64(b"x" * 10 + b64(NUMBER.encode()) + b"yyy"),
}


@pytest.mark.parametrize("encoded", MISSED_BEFORE.values(), ids=MISSED_BEFORE.keys())
def test_base64_of_any_view_is_searched_like_the_bytes_themselves(encoded: bytes) -> None:
    redacted, count = redact_text(f"attachment={encoded.decode()};")

    assert count == 1
    assert redacted == f"attachment={REDACTION_MARKER};"


def test_no_character_folds_into_more_than_two_digits_in_a_row() -> None:
    # `_MAY_SPELL_DIGITS` relies on it: four digits in a row need two characters.
    longest = 0
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        folded = personal_number._fold_character(chr(code))
        runs = re.findall("[0-9]+", folded)
        longest = max([longest, *map(len, runs)])

    assert longest == 2  # ⑩ folds into "10"


DIGIT_SCRIPTS = [0x30, 0xFF10, 0x0660, 0x0966, 0x1D7CE, 0x2460 - 1]  # the last: circled ①..⑨
ZERO_WIDTH = ["", "\u200b", "\u00ad", "\ufeff"]
CODECS = ["utf-8", "utf-16-le", "utf-16-be", "cp932"]


def escapes_of(char: str) -> list[str]:
    """The character itself and escapes of it that the decoded view reads."""
    escapes = [char, f"\\u{ord(char):04x}", f"&#{ord(char)};", f"&#x{ord(char):x};"]
    if ord(char) < 0x80:
        escapes.append(f"%{ord(char):02X}")
    if unicodedata.name(char, ""):
        escapes.append(f"\\N{{{unicodedata.name(char)}}}")
    return escapes


@st.composite
def spelled_in_bytes(draw: st.DrawFn) -> bytes:
    """A valid number in some script, grouped or not, perhaps escaped, in some encoding, inside
    random bytes: what a base64 run might decode to."""
    first = draw(st.text(alphabet="0123456789", min_size=11, max_size=11))
    number = first + str(personal_number_check_digit(first))
    script = draw(st.sampled_from(DIGIT_SCRIPTS))
    between = draw(st.sampled_from(ZERO_WIDTH))
    # Circled digits have no zero; a circled-zero would be ⓪ (U+24EA).
    digits = [
        chr(0x24EA) if script == 0x2460 - 1 and d == "0" else chr(script + int(d)) for d in number
    ]
    text = between.join(digits)
    if draw(st.booleans()):
        text = "".join(draw(st.sampled_from(escapes_of(char))) for char in text)
    codec = draw(st.sampled_from(CODECS))
    encoded = text.encode(codec, "surrogatepass" if codec != "cp932" else "ignore")
    if draw(st.booleans()):
        encoded = b64(encoded)
    return draw(st.binary(max_size=8)) + encoded + draw(st.binary(max_size=8))


@settings(max_examples=400, deadline=None)
@given(st.one_of(spelled_in_bytes(), st.binary(max_size=48)))
@example(ARABIC_INDIC.encode("utf-16-le"))
@example(b64(NUMBER.encode()))
@example("".join(f"\\N{{{unicodedata.name(digit)}}}" for digit in NUMBER).encode())
def test_the_precheck_never_turns_away_bytes_the_full_search_redacts(data: bytes) -> None:
    found = redact_bytes(data)[1]

    assert personal_number._may_hold_a_number(data) or not found


@pytest.mark.parametrize("encoded", MISSED_BEFORE.values(), ids=MISSED_BEFORE.keys())
def test_the_precheck_lets_through_what_was_missed_before(encoded: bytes) -> None:
    assert personal_number._may_hold_a_number(base64.b64decode(encoded))
