"""Where the redaction skips a search because a proof says it would find nothing, the full search
agrees: strings of a JSON text found clean, texts made of a tag and a text found clean, and the
memo of clean texts.

Valid numbers are computed here from the check-digit rule; none is written out.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from mynaflow.contracts.jlis import PERSONAL_NUMBER_PRESENT, parse_raw_notice
from mynaflow.domain import personal_number
from mynaflow.domain.personal_number import (
    REDACTION_MARKER,
    personal_number_check_digit,
    redact_json_value,
    redact_text,
)

pytestmark = pytest.mark.unit

FIRST_ELEVEN = "27182818284"
NUMBER = FIRST_ELEVEN + str(personal_number_check_digit(FIRST_ELEVEN))
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.fixture(autouse=True)
def empty_memos() -> Iterator[None]:
    """Every test starts and ends with nothing remembered (the memos are process-wide)."""
    personal_number._CLEAN_TEXTS.clear()
    personal_number._CLEAN_BASE64_RUNS.clear()
    yield
    personal_number._CLEAN_TEXTS.clear()
    personal_number._CLEAN_BASE64_RUNS.clear()


# --- what the generated texts are made of ---------------------------------------------------


@st.composite
def a_number(draw: st.DrawFn) -> str:
    first = draw(st.text(alphabet="0123456789", min_size=11, max_size=11))
    return first + str(personal_number_check_digit(first))


def spellings(number: str) -> list[str]:
    """Ways a number reaches text, each one a view of the redaction reads."""
    grouped = f"{number[:4]} {number[4:8]}-{number[8:]}"
    return [
        number,
        grouped.translate(FULL_WIDTH),
        "".join(chr(0x0660 + int(digit)) for digit in number),  # Arabic-Indic
        "".join(f"%{ord(digit):02X}" for digit in number),  # URL escapes
        "".join(f"&#{ord(digit)};" for digit in number),  # HTML references
        base64.b64encode(number.encode()).decode(),
        base64.b64encode(number.encode("utf-16-le")).decode(),
        base64.urlsafe_b64encode(("番号" + number).encode()).decode(),
    ]


@st.composite
def a_piece(draw: st.DrawFn) -> str:
    """Something close to a number, a number in some spelling, or plain text."""
    kind = draw(st.sampled_from(["digits", "spelled", "fragment", "text", "base64"]))
    if kind == "digits":  # digit runs of every length, numbers or not
        return draw(st.text(alphabet="0123456789０１２３", min_size=1, max_size=14))
    if kind == "spelled":
        spelled = draw(st.sampled_from(spellings(draw(a_number()))))
        cut = draw(st.integers(min_value=0, max_value=len(spelled)))
        return draw(st.sampled_from([spelled, spelled[:cut], spelled[cut:]]))
    if kind == "fragment":  # one group of the 4-4-4 form, separators around it
        return draw(st.from_regex(r"[ \u3000-]{0,2}[0-9]{4}[ \u3000-]{0,2}", fullmatch=True))
    if kind == "base64":
        return base64.b64encode(draw(st.binary(min_size=10, max_size=30))).decode()
    return draw(st.text(alphabet="abcXYZ_:/+=%&#; 住所番号①\u2007\u200b", max_size=8))


def a_text() -> st.SearchStrategy[str]:
    return st.lists(a_piece(), max_size=4).map("".join)


JSON_VALUES = st.recursive(
    a_text() | st.integers(min_value=0, max_value=10**13),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(a_text(), inner, max_size=4),
    max_leaves=12,
)


def full_walk(value: Any) -> tuple[Any, int]:
    """The walk that searches every string, with nothing remembered before or after."""
    personal_number._CLEAN_TEXTS.clear()
    try:
        return redact_json_value(value)
    finally:
        personal_number._CLEAN_TEXTS.clear()


# --- strings of a clean JSON text --------------------------------------------------------------


@settings(max_examples=600, deadline=None)
@given(JSON_VALUES)
@example({"a": NUMBER[:6], "b": NUMBER[6:]})
@example({"id": NUMBER[:4], "x": NUMBER[4:]})
@example({"a": NUMBER[:4], "b": [f" {NUMBER[4:8]}", NUMBER[8:]]})
@example({NUMBER[:8]: NUMBER[8:]})
@example({"n": int(NUMBER[1:]) if NUMBER[0] == "0" else int(NUMBER)})
@example([[[[{"deep": NUMBER[:4]}]]]])
def test_the_strings_of_a_clean_json_text_are_redacted_as_if_searched(value: Any) -> None:
    source = json.dumps(value, ensure_ascii=False)
    if "\\" in source or redact_text(source)[1]:
        return  # the shortcut is not taken: nothing to compare
    personal_number._CLEAN_TEXTS.clear()

    assert redact_json_value(value, clean_source=source) == full_walk(value)


def url_escaped(digits: str) -> str:
    return "".join(f"%{ord(digit):02X}" for digit in digits)


LEADING_ZERO_NUMBER = (
    "0" + FIRST_ELEVEN[1:] + str(personal_number_check_digit("0" + FIRST_ELEVEN[1:]))
)


@pytest.mark.parametrize(
    "value",
    [
        {"a": url_escaped(NUMBER[:4]), "b": url_escaped(NUMBER[4:8]), "c": url_escaped(NUMBER[8:])},
        {"resident": {"number": int(LEADING_ZERO_NUMBER)}},
        [{"part": NUMBER[:8]}, NUMBER[8:]],
    ],
    ids=["split, URL-escaped", "an integer that lost its leading zero", "split over a list"],
)
def test_what_a_clean_json_text_cannot_show_is_still_found(value: Any) -> None:
    source = json.dumps(value)
    assert redact_text(source)[1] == 0

    assert redact_json_value(value, clean_source=source) == full_walk(value)
    assert full_walk(value)[1] == 1


def test_a_string_the_source_does_not_show_between_quotes_is_searched() -> None:
    redacted, count = redact_json_value({"a": NUMBER, "b": "x"}, clean_source='{"a": "x"}')

    assert (redacted, count) == ({"a": REDACTION_MARKER, "b": "x"}, 1)
    assert not personal_number._CLEAN_TEXTS.holds(NUMBER)


def test_a_value_json_cannot_hold_is_walked_whatever_the_source_says() -> None:
    value = {"a": (NUMBER,), "b": NUMBER.encode()}

    redacted, count = redact_json_value(value, clean_source='{"a": "x"}')

    assert count == 2
    assert redacted == {"a": (REDACTION_MARKER,), "b": REDACTION_MARKER.encode()}


def test_a_clean_json_text_still_has_its_split_numbers_found() -> None:
    value = {"a": NUMBER[:4], "b": NUMBER[4:8], "c": NUMBER[8:]}
    source = json.dumps(value)
    assert redact_text(source)[1] == 0  # the quotes and commas hide it from the text search

    redacted, count = redact_json_value(value, clean_source=source)

    assert count == 1
    assert redacted == {"a": REDACTION_MARKER, "b": REDACTION_MARKER, "c": REDACTION_MARKER}


def base64_broken_by_escaped_slashes() -> tuple[str, dict[str, str]]:
    """A number that only its parsed string shows: base64 with `\\/` for every `/`, which JSON
    reads as `/`, so the text has only short runs between backslashes."""
    encoded = base64.b64encode(NUMBER.translate(FULL_WIDTH).encode("utf-16-be")).decode()
    assert encoded.count("/") >= 3
    return '{"memo": "' + encoded.replace("/", "\\/") + '"}', {"memo": encoded}


def test_with_a_backslash_in_the_text_every_string_is_searched() -> None:
    source, value = base64_broken_by_escaped_slashes()
    assert json.loads(source) == value
    assert redact_text(source)[1] == 0  # the runs between the backslashes decode to nothing

    redacted, count = redact_json_value(value, clean_source=source)

    assert count == 1
    assert redacted == {"memo": REDACTION_MARKER}


def test_the_parser_quarantines_a_number_only_its_parsed_strings_show() -> None:
    source, _ = base64_broken_by_escaped_slashes()
    payload = json.loads(source) | {"notice_id": "N-1", "kind": "card_delivered"}
    text = json.dumps(payload).replace("/", "\\/")

    parsed = parse_raw_notice(text.encode())

    assert PERSONAL_NUMBER_PRESENT in {reason.code for reason in parsed.reasons}
    assert parsed.personal_numbers_found == 1


# --- a tag and a text found clean ---------------------------------------------------------------


TAGS = st.from_regex(r"[a-z]{1,15}", fullmatch=True)


@settings(max_examples=600, deadline=None)
@given(TAGS, a_text())
@example("notice", "lt-abcdefgh-0000001")
@example("x", NUMBER[1:])
def test_a_tag_before_a_clean_text_adds_nothing_any_view_reads(tag: str, rest: str) -> None:
    if redact_text(rest)[1]:
        return  # not remembered: the shortcut is not taken
    tagged = f"{tag}:{rest}"
    assert personal_number._TAG.match(tagged).end() == len(tag) + 1  # type: ignore[union-attr]

    assert personal_number._redact_all_views(tagged, REDACTION_MARKER) == (tagged, 0)


@settings(max_examples=600, deadline=None)
@given(TAGS, a_text())
@example("notice", "lt-abcdefgh-0000001")
@example("x", NUMBER[1:])
def test_a_clean_tagged_text_has_a_clean_rest(tag: str, rest: str) -> None:
    if redact_text(f"{tag}:{rest}")[1]:
        return  # not clean: nothing is remembered
    assert personal_number._CLEAN_TEXTS.holds(rest)

    assert personal_number._redact_all_views(rest, REDACTION_MARKER) == (rest, 0)


class SearchCalled(AssertionError):
    pass


def no_search(text: str, _marker: str) -> tuple[str, int]:
    raise SearchCalled(text)


def test_a_tagged_text_whose_rest_was_found_clean_is_not_searched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert redact_text("lt-abcdefgh-0000001")[1] == 0
    monkeypatch.setattr(personal_number, "_redact_all_views", no_search)

    assert redact_text("notice:lt-abcdefgh-0000001") == ("notice:lt-abcdefgh-0000001", 0)


def test_a_tagged_text_is_searched_unless_its_rest_was_found_clean(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert redact_text(f"notice:{NUMBER}") == (f"notice:{REDACTION_MARKER}", 1)
    assert redact_text("a-clean-id")[1] == 0
    monkeypatch.setattr(personal_number, "_redact_all_views", no_search)

    with pytest.raises(SearchCalled):  # sixteen letters would be a base64 run: not a tag
        redact_text("abcdefghijklmnop:a-clean-id")
    with pytest.raises(SearchCalled):
        redact_text("notice:another-id")


# --- the memo ----------------------------------------------------------------------------------


def test_the_memo_keeps_the_latest_texts_and_stays_bounded() -> None:
    memo = personal_number._CleanMemo()
    limit = personal_number._MEMO_MAX_ENTRIES
    texts = [f"text-{n}" for n in range(3 * limit + 5)]

    for text in texts:
        memo.remember(text)

    assert all(memo.holds(text) for text in texts[-limit:])
    assert not memo.holds(texts[0])
    assert len(memo.newer) + len(memo.older) <= 2 * limit


def test_a_text_found_again_survives_the_next_turnover() -> None:
    memo = personal_number._CleanMemo()
    limit = personal_number._MEMO_MAX_ENTRIES
    memo.remember("kept")
    for n in range(limit):
        memo.remember(f"filler-{n}")
    assert memo.holds("kept")  # found in the older generation: brought back into the newer

    for n in range(limit - 1):
        memo.remember(f"more-{n}")

    assert memo.holds("kept")
    assert not memo.holds("filler-0")


def test_long_texts_are_never_remembered() -> None:
    memo = personal_number._CleanMemo()
    long_text = "x" * (personal_number._MEMO_MAX_LENGTH + 1)

    memo.remember(long_text)

    assert not memo.holds(long_text)


# --- the candidate search on stretches of digits and separators ------------------------------


def candidates_in_the_whole_text(text: str) -> list[personal_number.PersonalNumberMatch]:
    """The search as it was, over every position of the text (the reference)."""
    found = (
        personal_number.PersonalNumberMatch(*m.span(1), personal_number._digits_of(m.group(1)))
        for m in personal_number._CANDIDATE.finditer(text)
    )
    return [c for c in found if personal_number.is_valid_personal_number(c.digits)]


SOUP = "0123456789０１２３ -\u3000\u2010ー\u00a0x:番"


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=SOUP, max_size=48) | a_text())
@example(f"No.{NUMBER}番")
@example(f"{NUMBER[:4]} - {NUMBER[4:8]}ー{NUMBER[8:]}-{NUMBER[:4]}")
@example(f"1{NUMBER}")
def test_searching_stretches_finds_what_searching_every_position_finds(text: str) -> None:
    assert personal_number._valid_candidates(text) == candidates_in_the_whole_text(text)
