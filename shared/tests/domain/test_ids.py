"""mynaflow's random ids never read as an individual number, so redaction never changes them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from uuid import RFC_4122, UUID

import pytest
from mynaflow.domain import ids
from mynaflow.domain.personal_number import (
    find_personal_number_matches,
    redact_bytes,
    redact_json_value,
    redact_text,
)

pytestmark = pytest.mark.unit

# A real uuid4 text: `1767-4507-9980` is a valid number in the 4-4-4 form.
UNLUCKY = "599d2eef-1767-4507-9980-66096e6ef256"
# About one random UUID text in 870 is like it: 20,000 draws of plain uuid4 text would hold
# some 23 of them, so the test below fails for an id that is not drawn again.
DRAWS = 20_000


def test_a_random_uuid_can_read_as_an_individual_number() -> None:
    assert redact_text(UNLUCKY)[1] == 1


def test_no_id_is_changed_by_any_redaction() -> None:
    for _ in range(DRAWS):
        text = ids.new_id_text()
        assert redact_text(text) == (text, 0)
        assert redact_bytes(text.encode()) == (text.encode(), 0)
        assert redact_json_value({"receipt_id": text}) == ({"receipt_id": text}, 0)


def test_an_unlucky_draw_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    draws: Iterator[str] = iter([UNLUCKY, UNLUCKY, "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"])
    monkeypatch.setattr(ids, "_random_uuid_text", lambda: next(draws))
    assert ids.new_id_text() == "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"


def test_an_id_is_a_canonical_version_4_uuid() -> None:
    for _ in range(1000):
        made = ids.new_id()
        assert made.version == 4
        assert made.variant == RFC_4122
        text = ids.new_id_text()
        assert str(UUID(text)) == text


def _digit_heavy_uuid_texts(count: int, seed: int) -> Iterator[str]:
    """Canonical UUID layouts whose characters are mostly decimal digits: candidates galore."""
    chooser = random.Random(seed)
    for _ in range(count):
        chars = [
            chooser.choice("0123456789") if chooser.random() < 0.9 else chooser.choice("abcdef")
            for _ in range(32)
        ]
        hexed = "".join(chars)
        yield f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def test_the_pre_check_never_clears_a_text_the_search_would_flag() -> None:
    flagged = 0
    for text in _digit_heavy_uuid_texts(60_000, seed=20261204):
        if find_personal_number_matches(text):
            flagged += 1
            assert ids._may_read_as_a_number(text), text
    assert flagged > 1_000  # the digit-heavy draws do hold numbers: the check above is exercised


def test_the_pre_check_clears_most_random_ids_and_flags_the_unlucky_one() -> None:
    assert ids._may_read_as_a_number(UNLUCKY)
    cleared = sum(not ids._may_read_as_a_number(ids._random_uuid_text()) for _ in range(2_000))
    assert cleared > 1_800
