"""mynaflow's random ids never read as an individual number, so redaction never changes them."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import RFC_4122, UUID

import pytest
from mynaflow.domain import ids
from mynaflow.domain.personal_number import redact_bytes, redact_json_value, redact_text

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
