"""Random ids mynaflow makes: version 4 UUIDs whose text never reads as an individual number.

A random UUID's text holds a valid-looking individual number about once in 870 draws: four
decimal digits at the end of its first group and two all-digit groups after it
(`599d2eef-1767-4507-9980-…` holds `1767-4507-9980` in the 4-4-4 form, and its check digit
happens to be right), or an all-digit last group. Ids travel in fields that are redacted at the
contract boundary (a deadline's `subject.ids`), so such an id would reach the watcher and the
operator as `[REDACTED-個人番号]`, no longer pointing at its receipt. So the id is drawn again.

Only the plain spelling needs checking: the text is lowercase hex and hyphens, so it has no
escapes, no full-width or other Unicode digits, and no base64 run that decodes to three ASCII
digits in a row (each decoded digit's first sextet is 12-14, `M`-`O`, never a hex character).
The tests check the ids against the full redaction.
"""

from __future__ import annotations

import os
from uuid import UUID

from mynaflow.domain.personal_number import find_personal_number_matches

__all__ = ["new_id", "new_id_text"]


def _random_uuid_text() -> str:
    """A random (version 4) UUID in its canonical text form, as `str(uuid.uuid4())` gives.

    Written out directly from 16 random bytes: building a `UUID` object only to format it was a
    visible share of intake's CPU (three events per notice).
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    hexed = raw.hex()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def new_id_text() -> str:
    """A random version 4 UUID's canonical text that carries no valid individual number."""
    while True:
        text = _random_uuid_text()
        if not find_personal_number_matches(text):
            return text


def new_id() -> UUID:
    """`new_id_text()` as a `UUID`."""
    return UUID(new_id_text())
