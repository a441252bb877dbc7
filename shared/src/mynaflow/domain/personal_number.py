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
- structural views of every text (see "structural views" below): escapes decoded (JSON, `repr`,
  bytes `repr`, URL, HTML), NFKC and any Unicode decimal digit, format characters dropped, base64
  runs decoded; in JSON values, a number split along its groups over consecutive string values.
Not detected: kanji numerals; digits split by line breaks, tabs or other punctuation inside one
text; a split over fields other than along the groups.

Bytes (`redact_bytes`) are searched in several views, so any input is safe to pass, binary
included:
- valid UTF-8 is decoded and redacted as text (marker `REDACTION_MARKER` in UTF-8);
- anything else is searched byte-exactly as UTF-8 with undecodable bytes kept as they are (ASCII
  digits and UTF-8 full-width digits), and as Shift_JIS/CP932 when it holds a full-width digit
  (0x82 0x4F..0x58) or a double-byte separator such as 0x81 0x40 (U+3000);
  the marker there is the ASCII `BYTES_REDACTION_MARKER`, which is the same bytes in UTF-8 and
  CP932, so the file stays valid in its own encoding;
- UTF-16 (LE and BE, either alignment; what Excel writes as "Unicode text") is searched when the
  bytes hold two digit-like code units in a row (any BMP decimal digit, or a surrogate) or
  sixteen ASCII code units, and the marker is written in the same UTF-16.
  ASCII-only UTF-16 at an odd offset reads the same in the other byte order, so there the marker
  may come out in the other order; the number is removed either way.
Bytes outside the redacted spans are never changed.
"""

from __future__ import annotations

import binascii
import json
import re
import sys
import unicodedata
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable
from itertools import accumulate
from typing import Any, AnyStr, NamedTuple

__all__ = [
    "BYTES_REDACTION_MARKER",
    "MAX_JSON_DEPTH",
    "REDACTION_MARKER",
    "NestingTooDeepError",
    "PersonalNumberMatch",
    "contains_personal_number",
    "find_personal_number_matches",
    "find_personal_numbers",
    "is_valid_personal_number",
    "json_depth_exceeds",
    "personal_number_check_digit",
    "redact_bytes",
    "redact_error_text",
    "redact_json_value",
    "redact_kafka_headers",
    "redact_kafka_key",
    "redact_payload_bytes",
    "redact_structure",
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
# What a value holding one group of a number split over several values looks like (4 or 8
# digits, separators around them: `_fragment_digits`).
_GROUP_FRAGMENT_PATTERN = rf"[{_SEPARATOR}]*(?:[{_DIGIT}]{{4}}){{1,2}}[{_SEPARATOR}]*"
# Every candidate form has four digits in a row: a cheap test before the candidate search.
_FOUR_DIGITS = re.compile(f"[{_DIGIT}]{{4}}")
# Every candidate lies inside a stretch of 12 or more digits and separators, and the characters
# around a stretch are neither, so the candidate search runs on such stretches only: its
# lookarounds, tried at every position, cost ~40 ns a character (a notice's payload has none).
_CANDIDATE_STRETCH = re.compile(f"[{_DIGIT}{_SEPARATOR}]{{12,}}")

# Q weights for P1..P11 (P1 is the rightmost of the first eleven digits).
_WEIGHTS_FROM_RIGHT = tuple(n + 1 if n <= 6 else n - 5 for n in range(1, 12))
_VALID_INT_RANGE = range(10**10, 10**12)  # 11-12 digits: a number whose leading 0 was lost


def _is_ascii_digits(text: str, length: int) -> bool:
    # isdigit() alone takes other scripts' digits (and ² ³): the ASCII test comes first.
    return len(text) == length and text.isascii() and text.isdigit()


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
    # A candidate is 12 characters at least, and has four digits in a row.
    if len(text) < 12 or not _FOUR_DIGITS.search(text):
        return []
    candidates = (
        PersonalNumberMatch(*found.span(1), _digits_of(found.group(1)))
        for stretch in _CANDIDATE_STRETCH.finditer(text)
        # Within the stretch's bounds, the lookarounds see what they see in the whole text: a
        # character next to a stretch is no digit.
        for found in _CANDIDATE.finditer(text, stretch.start(), stretch.end())
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
    grouped run are replaced by a single marker but each counts. Besides the text as it is, the
    structural views are searched (escapes decoded, NFKC, base64; see `redact_structure`).
    """
    # The newer generation's dict first, inline: most texts a service redacts were seen just
    # before, and a method call for each would cost more than the lookup.
    if text in _RECENT_CLEAN_TEXTS or _CLEAN_TEXTS.recall(text):
        return text, 0
    tag = _TAG.match(text)
    rest = text[tag.end() :] if tag is not None else None
    if rest is not None and rest in _RECENT_CLEAN_TEXTS:
        _CLEAN_TEXTS.remember(text)  # `<tag>:<rest>` is clean when `rest` is (see `_TAG`)
        return text, 0
    redacted, count = _redact_all_views(text, REDACTION_MARKER)
    if not count:
        _CLEAN_TEXTS.remember(text)
        if rest is not None:
            _CLEAN_TEXTS.remember(rest)  # and `rest` is clean when the whole is
    return redacted, count


# --- memo of clean texts ---------------------------------------------------------------------
#
# One notice's ids are searched several times on their way through a service (in the payload,
# in the parsed value, in each event that names them), and every search of an id-like text
# decodes it as base64 in four alignments. A text (or a base64 run) once found clean is clean
# again, so it is remembered. Only clean texts are kept: the memo never holds a number.
_MEMO_MAX_ENTRIES = 8192
_MEMO_MAX_LENGTH = 256


class _CleanMemo:
    """Texts found clean, in two generations of up to `_MEMO_MAX_ENTRIES` each.

    When the newer generation is full its texts become the older one and the older are
    dropped, so the texts remembered last are always there. (Emptying one dict when full, as
    before, dropped a batch's ids between the parse and the events that name them:
    notice-intake parses a whole batch of up to 500 notices first.) At most twice
    `_MEMO_MAX_ENTRIES` texts, each of at most `_MEMO_MAX_LENGTH` characters; a miss only costs
    a search. `newer` stays the same dict for the memo's life, so callers may look in it first.
    """

    __slots__ = ("newer", "older")

    def __init__(self) -> None:
        self.newer: dict[str, None] = {}
        self.older: dict[str, None] = {}

    def holds(self, text: str) -> bool:
        return text in self.newer or self.recall(text)

    def recall(self, text: str) -> bool:
        """True when `text` is in the older generation; it is kept through the next turnover."""
        if text in self.older:
            self.remember(text)
            return True
        return False

    def remember(self, text: str) -> None:
        if len(text) > _MEMO_MAX_LENGTH:
            return
        if len(self.newer) >= _MEMO_MAX_ENTRIES:
            self.older = self.newer.copy()
            self.newer.clear()
        self.newer[text] = None

    def clear(self) -> None:
        self.newer.clear()
        self.older.clear()


_CLEAN_TEXTS = _CleanMemo()
_RECENT_CLEAN_TEXTS = _CLEAN_TEXTS.newer
_CLEAN_BASE64_RUNS = _CleanMemo()

# A tag of lower-case letters and a colon, as deadline keys begin (`notice:`, `receipt:`).
# `<tag>:<rest>` is clean exactly when `rest` is, so `redact_text` takes one for the other. The
# tag adds nothing any view reads: letters and a colon are no digit or separator (a candidate in
# the text is one in `rest`, with a colon before it instead of nothing); no escape or foldable
# character starts in them (the decoded view is the tag and `rest`'s own view); and the colon
# ends every base64 run, while fifteen letters are too short for one. A deadline request names
# its notice both in its key and in its subject's ids: the id is searched once, not twice.
_TAG = re.compile(r"[a-z]{1,15}:")


def redact_error_text(text: str) -> str:
    """Error or log text with every individual number redacted, escaped spellings included.

    An error message quotes bad input with `repr`, which writes U+3000 as the six characters
    `\\u3000`; those are decoded before searching (see `redact_structure`).
    """
    return _redact_all_views(text, REDACTION_MARKER)[0]


def _redact_all_views(text: str, marker: str) -> tuple[str, int]:
    # The fast path: no digit, no upper-case letter (base64 of digits always has one or a
    # digit), no escape and nothing NFKC folds into a digit: no spelling of a number can be here.
    if not _WORTH_A_LOOK.search(text):
        return text, 0
    text, total = _redact_view(text, marker)
    if _ENCODED_HINT.search(text):
        text, in_decoded = _redact_decoded_view(text, marker)
        total += in_decoded
    if _BASE64_RUN.search(text):
        text, in_base64 = _redact_base64_runs(text, marker)
        total += in_base64
    return text, total


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


# --- structural views: escapes, NFKC, base64 ------------------------------------------------
#
# A number can reach text in other spellings than the digits themselves: `repr` (in pydantic's
# error messages) writes U+3000 as the six characters `\u3000`, JSON writes a full-width digit as
# `\uff11`, a bytes repr writes UTF-8 as `\xef\xbc\x91`, a URL as `%EF%BC%91`, and Unicode has
# other digits and spaces that NFKC folds into ASCII (`①`, `𝟏`, U+2007 FIGURE SPACE). The
# decoded view undoes all of these; each of its characters remembers which characters of the
# original it came from, so the original span is what gets replaced. Base64 runs are decoded
# and searched as bytes. These views cost real work, so they run only when the text holds a
# character that can start such a spelling (`_WORTH_A_LOOK`, `_ENCODED_HINT`, `_BASE64_RUN`);
# identifiers and Japanese prose without digits or escapes never pay for them.


def redact_structure(text: str) -> tuple[str, int]:
    """Only the structural views of `redact_text`: what the plain search cannot see."""
    text, in_decoded = _redact_decoded_view(text, REDACTION_MARKER)
    text, in_base64 = _redact_base64_runs(text, REDACTION_MARKER)
    return text, in_decoded + in_base64


def _fold_character(char: str) -> str:
    """NFKC, then any Unicode decimal digit as ASCII; format characters (ZWSP, ...) vanish."""
    if unicodedata.category(char) == "Cf":
        return ""
    folded = unicodedata.normalize("NFKC", char)
    return "".join(str(unicodedata.digit(c)) if c.isdecimal() else c for c in folded)


def _foldable_bmp_characters() -> str:
    """Non-ASCII BMP characters that fold into something the plain search would read (a digit,
    a separator, or nothing), beyond the full-width digits and separators it reads already."""
    plain = set(_FULL_WIDTH_DIGITS) | set(_SEPARATOR_CHARACTERS)
    significant = set(_ASCII_DIGITS) | set(_SEPARATOR_CHARACTERS)
    found = []
    for code in range(0x80, 0x10000):
        char = chr(code)
        if char in plain or 0xD800 <= code <= 0xDFFF:
            continue
        folded = _fold_character(char)
        if folded != char and (not folded or significant & set(folded)):
            found.append(char)
    return "".join(found)


_FOLDABLE = _foldable_bmp_characters()
_FOLDABLE_CLASS = f"[{re.escape(_FOLDABLE)}\U00010000-\U0010ffff]"
# What starts an encoded spelling: a backslash escape (any number of backslashes, for text that
# was escaped twice), a URL escape, an HTML character reference, a foldable character.
_FOLDABLE_OR_ESCAPE_START = f"[\\\\%&\ud800-\udbff{re.escape(_FOLDABLE)}\U00010000-\U0010ffff]"
# The lookahead first: one character-class test per position, so the alternatives are tried only
# where an escape or a foldable character starts (7 times faster on text that has neither).
_ENCODED = re.compile(
    rf"(?={_FOLDABLE_OR_ESCAPE_START})"
    r"(?:(?P<pair>[\ud800-\udbff][\udc00-\udfff])"
    r"|\\+u(?P<high>[dD][89abAB][0-9a-fA-F]{2})\\+u(?P<low>[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|\\+u(?P<u4>[0-9a-fA-F]{4})|\\+U(?P<u8>[0-9a-fA-F]{8})|\\+u\{(?P<ub>[0-9a-fA-F]{1,6})\}"
    r"|\\+N\{(?P<name>[A-Za-z0-9 -]{1,80})\}"
    r"|(?P<xrun>(?:\\+x[0-9a-fA-F]{2})+)|(?P<pct>(?:%[0-9a-fA-F]{2})+)"
    r"|&#(?:(?P<dec>[0-9]{1,7})|[xX](?P<hex>[0-9a-fA-F]{1,6}));"
    rf"|(?P<fold>{_FOLDABLE_CLASS}))"
)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_ENCODED_HINT = re.compile(rf"[\\%&\ud800-\udbff]|{_FOLDABLE_CLASS}")
_WORTH_A_LOOK = re.compile(rf"[{_DIGIT}A-Z\\%&\ud800-\udbff]|{_FOLDABLE_CLASS}")
_UPPER_OR_DIGIT = re.compile(r"[A-Z0-9]")
_HEX_PAIR = re.compile(r"[0-9a-fA-F]{2}")


def _decode_encoded(found: re.Match[str]) -> str:
    """The characters an escape (or a foldable character) stands for, folded."""
    groups = found.groupdict()
    if groups["pair"]:  # UTF-16 read one code unit at a time
        return _fold_text(groups["pair"].encode("utf-16-le", "surrogatepass").decode("utf-16-le"))
    if groups["fold"]:
        return _fold_character(groups["fold"])
    if groups["xrun"] or groups["pct"]:
        raw = bytes.fromhex("".join(_HEX_PAIR.findall(groups["xrun"] or groups["pct"])))
        return _fold_text(raw.decode("utf-8") if _is_utf8(raw) else raw.decode("latin-1"))
    if groups["high"]:
        high, low = int(groups["high"], 16) - 0xD800, int(groups["low"], 16) - 0xDC00
        return _fold_text(chr(0x10000 + (high << 10) + low))
    if groups["name"]:
        return _fold_text(_character_named(groups["name"]))
    number = next(groups[name] for name in ("u4", "u8", "ub", "dec", "hex") if groups[name])
    code = int(number, 10 if groups["dec"] else 16)
    return _fold_text(chr(code)) if code < 0x110000 else ""


def _character_named(name: str) -> str:
    try:
        return unicodedata.lookup(name)
    except KeyError:
        return ""


def _fold_text(text: str) -> str:
    return "".join(_fold_character(char) if ord(char) > 0x7F else char for char in text)


class _ViewMap(NamedTuple):
    """Where each stretch of a decoded view came from: `view_starts[i]` is where segment i
    begins in the view; `segments[i]` is its (start, end) in the original and whether it is
    plain text (one character for one) or one decoded escape."""

    view_starts: list[int]
    segments: list[tuple[int, int, bool]]

    def start_of(self, view_index: int) -> int:
        i = bisect_right(self.view_starts, view_index) - 1
        start, _, plain = self.segments[i]
        return start + (view_index - self.view_starts[i]) if plain else start

    def end_of(self, view_index: int) -> int:
        """The end in the original of the view character at `view_index`."""
        i = bisect_right(self.view_starts, view_index) - 1
        start, end, plain = self.segments[i]
        return start + (view_index - self.view_starts[i]) + 1 if plain else end


def _decoded_view(text: str) -> tuple[str, _ViewMap]:
    """The text with escapes decoded and characters folded, and where each part came from."""
    pieces: list[str] = []
    mapping = _ViewMap([], [])
    position = length = 0

    def add(piece: str, start: int, end: int, plain: bool) -> None:
        nonlocal length
        if piece:
            pieces.append(piece)
            mapping.view_starts.append(length)
            mapping.segments.append((start, end, plain))
            length += len(piece)

    for found in _ENCODED.finditer(text):
        start, end = found.span()
        add(text[position:start], position, start, True)
        add(_decode_encoded(found), start, end, False)
        position = end
    add(text[position:], position, len(text), True)
    return "".join(pieces), mapping


def _redact_decoded_view(text: str, marker: str) -> tuple[str, int]:
    total = 0
    # Repeat until clean: each replacement removes at least one digit of the view.
    while True:
        spans, count = _decoded_view_spans(text)
        if not count:
            return text, total
        text = _replace_spans(text, spans, marker)
        total += count


def _decoded_view_spans(text: str) -> tuple[list[tuple[int, int]], int]:
    """Spans of the original text whose decoded view holds a number, and how many numbers."""
    view, mapping = _decoded_view(text)
    candidates = _valid_candidates(view)
    spans = [
        PersonalNumberMatch(mapping.start_of(c.start), mapping.end_of(c.end - 1), c.digits)
        for c in candidates
    ]
    return _merged_spans(spans), len(candidates)


def _every_view_spans(chars: str) -> tuple[list[tuple[int, int]], int]:
    """All spans to replace in `chars` (as read from bytes in some encoding): the plain search,
    and, where worth a look, the decoded view and base64 runs, merged."""
    candidates = _valid_candidates(chars)
    spans = [(c.start, c.end) for c in candidates]
    count = len(candidates)
    if _WORTH_A_LOOK.search(chars):
        if _ENCODED_HINT.search(chars):
            # The decoded view sees what the plain search sees, and more: count once.
            decoded, in_decoded = _decoded_view_spans(chars)
            spans += decoded
            count = max(count, in_decoded)
        base64_spans, in_base64 = _base64_spans(chars)
        spans += base64_spans
        count += in_base64
    return _merged_spans([PersonalNumberMatch(a, b, "") for a, b in sorted(spans)]), count


def _redact_base64_runs(text: str, marker: str) -> tuple[str, int]:
    """Replace each base64 (or base64url) run whose decoded bytes hold a number."""
    spans, total = _base64_spans(text)
    return (_replace_spans(text, spans, marker), total) if spans else (text, 0)


def _base64_spans(text: str) -> tuple[list[tuple[int, int]], int]:
    spans: list[tuple[int, int]] = []
    total = 0
    for found in _BASE64_RUN.finditer(text):
        # The base64 of digits (ASCII or full-width, in any alignment) always has an upper-case
        # letter or a digit; identifiers such as `record_update_required` are not decoded.
        run = found.group()
        if _CLEAN_BASE64_RUNS.holds(run) or not _UPPER_OR_DIGIT.search(run):
            continue
        count = _numbers_in_base64(run)
        if count:
            spans.append(found.span())
            total += count
        elif not _valid_candidates(run):
            # A run is ASCII without escapes: clean in plain and as base64, it is clean in
            # every view, so remembering it keeps no number.
            _CLEAN_BASE64_RUNS.remember(run)
    return spans, total


def _numbers_in_base64(run: str) -> int:
    """Numbers in the bytes a base64 run decodes to, trying each alignment: the run may have
    picked up letters before the real start of the encoding."""
    standard = run.rstrip("=").translate(_BASE64URL_TO_STANDARD)
    for skip in range(4):
        body = standard[skip:]
        body = body[: len(body) - len(body) % 4 if len(body) % 4 == 1 else len(body)]
        if len(body) < 16:
            return 0
        try:
            # What `base64.b64decode` does for an ASCII str, without its wrapper's cost.
            decoded = binascii.a2b_base64(body + "=" * (-len(body) % 4))
        except binascii.Error:
            continue
        if not _may_hold_a_number(decoded):
            continue
        count = redact_bytes(decoded)[1]
        if count:
            return count
    return 0


_BASE64URL_TO_STANDARD = str.maketrans("-_", "+/")
# A full-width digit in CP932, the one digit the UTF-8 text of the bytes does not show.
_CP932_FULL_WIDTH_DIGIT = re.compile(rb"\x82[\x4f-\x58]")


def _may_hold_a_number(data: bytes) -> bool:
    """False only when no view that `redact_bytes` reads can hold a number: a cheap test that
    spares most decoded base64 (random-looking bytes) the full search.

    The UTF-8 view is the text `_MAY_SPELL_DIGITS` reads here. The CP932 view holds nothing
    that text does not, but its full-width digits: its ASCII characters are single bytes, the
    same characters in the UTF-8 text, and in the same order. The UTF-16 views are read by
    `redact_bytes` only when `_may_be_utf16`, and here too.
    """
    if _CP932_FULL_WIDTH_DIGIT.search(data):
        return True
    # surrogateescape: the very text the UTF-8 view searches, undecodable bytes in place.
    if _MAY_SPELL_DIGITS.search(data.decode("utf-8", "surrogateescape")):
        return True
    return _may_be_utf16(data) and any(map(_MAY_SPELL_DIGITS.search, _utf16_texts(data)))


def _utf16_texts(data: bytes) -> list[str]:
    """The four UTF-16 readings of `data`; a surrogate pair is one character here (not two
    code units as in `_utf16_code_units`), which `_MAY_SPELL_DIGITS` counts as a digit."""
    texts = []
    for alignment in (0, 1):
        body = data[alignment : alignment + (len(data) - alignment) // 2 * 2]
        texts += [body.decode(codec, "surrogatepass") for codec in ("utf-16-le", "utf-16-be")]
    return texts


def _digit_spelling_pattern() -> re.Pattern[str]:
    """Where a text may spell four digits in a row in one of its views, or holds nothing of it.

    Every number form has four digits in a row in the view that finds it: the plain text (ASCII
    and full-width digits) or the decoded view, made of plain characters and of the pieces
    `_ENCODED` decodes. A piece is an escape (it starts with `\\u`, `\\U`, `\\x`, `\\N`, `%` and
    two hex digits, or `&#`), a
    foldable character, or a surrogate pair. No single character folds into more than two
    digits in a row (a unit test checks every code point), so four digits in a row need two
    characters that each give a digit, with at most vanishing characters (format characters,
    which fold into nothing) between them. A base64 run may encode anything.
    """
    folds = {char: _fold_character(char) for char in _FOLDABLE}
    gives_a_digit = "".join(char for char, fold in folds.items() if set(fold) & set(_ASCII_DIGITS))
    vanishes = "".join(char for char, fold in folds.items() if not fold)
    digit = f"[{_DIGIT}{re.escape(gives_a_digit)}\U00010000-\U0010ffff]"
    # How every escape `_ENCODED` decodes begins.
    escape = r"\\+[uUxN]|%[0-9a-fA-F]{2}|&#"
    # The lookahead first: one character-class test per position, as in `_ENCODED`.
    starts = f"[\\\\%&{_DIGIT}{re.escape(gives_a_digit)}\U00010000-\U0010ffffA-Za-z+/_-]"
    return re.compile(
        rf"(?={starts})(?:{escape}|{digit}[{re.escape(vanishes)}]*{digit}|{_BASE64_RUN.pattern})"
    )


_MAY_SPELL_DIGITS = _digit_spelling_pattern()


# --- bytes ---------------------------------------------------------------------------------

_BytesPass = Callable[[bytes], tuple[bytes, int]]


def _utf16_digit_pair_patterns() -> list[re.Pattern[bytes]]:
    """Two digit-like code units in a row, little- or big-endian: only then is it worth reading
    the bytes as UTF-16. Every number form has two digits side by side (zero-width characters go
    at most between every pair). Digit-like: the low byte and the high byte each fit some
    Unicode decimal digit of the BMP (ASCII, full-width, Arabic-Indic, ...), or a surrogate pair
    (the mathematical digits are astral). Character classes only, one search each: an
    alternation would be tried at every byte and cost 0.5 s per MB."""
    decimals = [code for code in range(0x10000) if chr(code).isdecimal()]
    highs = _byte_class(sorted({code >> 8 for code in decimals}))
    lows = _byte_class(sorted({code & 0xFF for code in decimals}))
    return [
        re.compile(lows + highs + lows + highs),
        re.compile(highs + lows + highs + lows),
        re.compile(rb"[\xd8-\xdf][\x00-\xff][\xd8-\xdf]"),
    ]


def _byte_class(values: list[int]) -> bytes:
    return b"[" + b"".join(re.escape(bytes([value])) for value in values) + b"]"


_UTF16_DIGIT_PAIRS = _utf16_digit_pair_patterns()
# Sixteen ASCII code units in a row: UTF-16 text that may hold base64 or escapes.
_UTF16_ASCII_TEXT = re.compile(rb"(?:[\x20-\x7e]\x00){16}|(?:\x00[\x20-\x7e]){16}")


def _may_be_utf16(data: bytes) -> bool:
    if b"\x00" in data and _UTF16_ASCII_TEXT.search(data):
        return True
    little_endian, big_endian, surrogates = _UTF16_DIGIT_PAIRS
    return bool(little_endian.search(data) or big_endian.search(data) or surrogates.search(data))


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
        if _CP932_SIGNIFICANT.search(data):
            passes.append(_redact_cp932)
    if _may_be_utf16(data):
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
    redacted, count = _redact_all_views(text, BYTES_REDACTION_MARKER.decode("ascii"))
    return (redacted.encode("utf-8", "surrogateescape"), count) if count else (data, 0)


def _redact_cp932(data: bytes) -> tuple[bytes, int]:
    chars, offsets = _cp932_characters(data)
    spans, count = _every_view_spans(chars)
    if not count:
        return data, 0
    byte_spans = [(offsets[start], offsets[end]) for start, end in spans]
    return _replace_spans(data, byte_spans, BYTES_REDACTION_MARKER), count


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
# Worth reading as CP932: a full-width digit or a double-byte separator (`1234　5678　9012` with
# ASCII digits, as a Shift_JIS form writes it).
_CP932_SIGNIFICANT = re.compile(b"|".join(re.escape(code) for code in sorted(_CP932_DOUBLE)))


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
        unit_spans, count = _every_view_spans(chars)
        if not count:
            return data, 0
        spans = [(alignment + 2 * start, alignment + 2 * end) for start, end in unit_spans]
        return _replace_spans(data, spans, marker), count

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

# Deeper than this, a value is refused rather than walked: a J-LIS notice or an event is a few
# levels deep, and a walk (like `json.dumps` or pydantic) recurses once per level.
MAX_JSON_DEPTH = 64


class NestingTooDeepError(ValueError):
    """A JSON-like value nests deeper than `MAX_JSON_DEPTH`; it was not searched."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than {MAX_JSON_DEPTH} levels")


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when dicts/lists/tuples nest more than `limit` levels (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list | tuple):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in children)
    return False


def redact_json_value(value: Any, *, clean_source: str | None = None) -> tuple[Any, int]:
    """Redact every individual number in a JSON-like value; return a new value and the count.

    Walks dicts (keys and values), lists and tuples. Strings go through `redact_text`, bytes
    through `redact_bytes`. An int (or integral float) of 11 or 12 digits that is a valid number
    once zero-padded to 12 digits becomes `REDACTION_MARKER` (a JSON number loses the leading
    zero). Booleans and other objects are returned unchanged. A number split along its 4-4-4
    groups over consecutive string values (`{"a": "1234", "b": "5678", "c": "9012"}`) is found
    too, and each of those values becomes the marker (see `_redact_split_numbers`). Raises
    `NestingTooDeepError` beyond `MAX_JSON_DEPTH` levels.

    `clean_source` is for a caller that has just parsed `value` from that JSON text and found
    the text clean with `redact_text`: when it holds no backslash, a string of `value` that the
    text shows between quotes is not searched again but remembered as clean
    (`_strings_of_clean_json_are_clean` says why that is sound). Integers and numbers split
    over several values are still looked for. When nothing is found, `value` itself is
    returned (not a copy).
    """
    source = None
    if clean_source is not None and _strings_of_clean_json_are_clean(clean_source):
        if _clean_document_is_unchanged(value, clean_source):
            return value, 0
        source = clean_source
    walk = _JsonWalk(clean_source=source)
    redacted, count = walk.redact(value, 1)
    if walk.fragments < 2:  # a split number needs two values at least
        return redacted, count
    joined, split_count = _redact_split_numbers(redacted)
    return joined, count + split_count


def _strings_of_clean_json_are_clean(source: str) -> bool:
    """True when every string parsed from the JSON text `source`, which `redact_text` found
    clean, is clean too, so that searching each again would find nothing.

    Without a backslash, JSON has no escapes: every string (key or value) is a stretch of
    `source` between two quotes, character for character. Each view of `redact_text` sees in a
    string what it sees in that stretch of `source`, because a quote is neither a digit nor a
    separator, starts or continues no escape and no foldable character, and is not in the base64
    alphabet:
    - plain: a candidate in the string is one in `source` (a quote on each side is no digit);
    - decoded: no match of `_ENCODED` spans a quote, so the string's decoded view is a stretch
      of the decoded view of `source`, between quotes;
    - base64: the string's base64 runs are runs of `source`, and decoded alike.
    So a number in any view of a string is one in `source`, which had none. The argument holds
    for any stretch of `source` with a quote on each side, so each string is still looked up in
    `source` between quotes (`_is_quoted_in`) before it is taken as clean: a value that was not
    parsed from `source` only costs searches. A test checks all this against the full search
    on generated documents (test_personal_number_shortcuts.py).
    """
    return "\\" not in source


def _is_quoted_in(source: str, text: str) -> bool:
    return f'"{text}"' in source


# A string token of JSON text that is only a group fragment (`_fragment_digits`), quotes
# included. In JSON without backslashes every quote opens or closes a string, and two string
# tokens always have a colon, a comma or a bracket between them, so each match is one token.
_QUOTED_FRAGMENT = re.compile(rf'"({_GROUP_FRAGMENT_PATTERN})"')


def _clean_document_is_unchanged(value: Any, source: str) -> bool:
    """True when the walk of a value parsed from the clean, backslash-free JSON text `source`
    would change nothing; its strings are remembered as clean on the way.

    The walk of such a value changes only what its strings cannot show alone: an integer that
    is a number, or a number split over two or more group fragments. Fragments are counted in
    `source` (`_QUOTED_FRAGMENT`), which shows every string as it is; one spelled with escapes
    needs `_ENCODED_HINT`, so a text with one is walked. Too deep a value is walked, to raise,
    and so is one with a string `source` does not show between quotes.
    """
    if _ENCODED_HINT.search(source):
        return False
    fragments = (m for m in _QUOTED_FRAGMENT.finditer(source) if len(m.group(1)) <= 40)
    if next(fragments, None) is not None and next(fragments, None) is not None:
        return False
    newer = _CLEAN_TEXTS.newer
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if item not in newer:
                if not _is_quoted_in(source, item):
                    return False
                _CLEAN_TEXTS.remember(item)
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                return False
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, tuple | bytes | bytearray | memoryview):
            return False  # not from JSON text: the walk handles it
        elif _is_number_like_personal_number(item):
            return False
    return True


class _JsonWalk:
    """One walk over a value: redacts, refuses excessive depth, counts group fragments."""

    def __init__(self, *, clean_source: str | None = None) -> None:
        self.fragments = 0
        # A clean JSON text the value was parsed from: its quoted stretches are clean too.
        self.clean_source = clean_source

    def redact(self, value: Any, depth: int) -> tuple[Any, int]:
        if isinstance(value, str):
            if _fragment_digits(value) is not None:
                self.fragments += 1
            if self.clean_source is not None and _is_quoted_in(self.clean_source, value):
                _CLEAN_TEXTS.remember(value)
                return value, 0
            return redact_text(value)
        if isinstance(value, bytes | bytearray | memoryview):
            return redact_bytes(bytes(value))
        if isinstance(value, dict | list | tuple) and depth > MAX_JSON_DEPTH:
            raise NestingTooDeepError
        if isinstance(value, dict):
            return self._redact_mapping(value, depth)
        if isinstance(value, list | tuple):
            return self._redact_sequence(value, depth)
        if _is_number_like_personal_number(value):
            return REDACTION_MARKER, 1
        return value, 0

    def _redact_mapping(self, mapping: dict[Any, Any], depth: int) -> tuple[dict[Any, Any], int]:
        redacted: dict[Any, Any] = {}
        total = 0
        for key, item in mapping.items():
            new_key, key_count = self.redact(key, depth + 1)
            new_item, item_count = self.redact(item, depth + 1)
            redacted[_unused_key(new_key, redacted)] = new_item
            total += key_count + item_count
        return redacted, total

    def _redact_sequence(
        self, items: list[Any] | tuple[Any, ...], depth: int
    ) -> tuple[list[Any] | tuple[Any, ...], int]:
        results = [self.redact(item, depth + 1) for item in items]
        redacted = [item for item, _ in results]
        total = sum(count for _, count in results)
        return (tuple(redacted) if isinstance(items, tuple) else redacted), total


def _unused_key(key: Any, taken: dict[Any, Any]) -> Any:
    # Two keys redacted to the same marker must not overwrite each other's values.
    if key not in taken:
        return key
    suffix = 2
    while f"{key}#{suffix}" in taken:
        suffix += 1
    return f"{key}#{suffix}"


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


# --- numbers split over several values --------------------------------------------------------
#
# A form or a CSV may put the card's three groups in three fields. Only splits along the groups
# are looked for, over consecutive string values (keys are skipped; any other value ends the
# run): every value of the run must be nothing but 4 or 8 digits (separators around them
# allowed). An arbitrary split (5 + 7 digits) is not detected: two unrelated 6-digit codes
# side by side would too often pass the check digit by chance (1 in 10).
_GROUP_FRAGMENT = re.compile(_GROUP_FRAGMENT_PATTERN)


def _fragment_digits(value: Any) -> str | None:
    """The 4 or 8 digits of a value that is only a group fragment, else None."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    if _GROUP_FRAGMENT.fullmatch(value):
        return _digits_of(value)
    if not _ENCODED_HINT.search(value):
        return None
    view = _decoded_view(value)[0]
    return _digits_of(view) if _GROUP_FRAGMENT.fullmatch(view) else None


def _string_leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterable[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every leaf value in document order. Keys are names, not content: they
    do not interrupt a run of values (`{"part1": "1234", "part2": ...}`)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _string_leaves(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _string_leaves(item, (*path, index))
    else:
        yield path, value


def _split_number_paths(value: Any) -> tuple[set[tuple[Any, ...]], int]:
    """Paths of the leaves that together spell a number, and how many numbers."""
    flagged: set[tuple[Any, ...]] = set()
    count = 0
    run: list[tuple[tuple[Any, ...], str]] = []
    for path, leaf in [*_string_leaves(value), ((), None)]:
        digits = _fragment_digits(leaf)
        if digits is not None:
            run.append((path, digits))
            continue
        found, paths = _numbers_in_fragment_run(run)
        flagged |= paths
        count += found
        run = []
    return flagged, count


def _numbers_in_fragment_run(run: list[tuple[tuple[Any, ...], str]]) -> tuple[int, set[Any]]:
    """Windows of consecutive fragments holding exactly 12 digits that form a valid number."""
    found = 0
    paths: set[Any] = set()
    for first in range(len(run)):
        digits = ""
        for last in range(first, len(run)):
            digits += run[last][1]
            if len(digits) >= 12:
                if len(digits) == 12 and is_valid_personal_number(digits):
                    found += 1
                    paths.update(path for path, _ in run[first : last + 1])
                break
    return found, paths


def _redact_split_numbers(value: Any) -> tuple[Any, int]:
    if not isinstance(value, dict | list | tuple):
        return value, 0
    paths, count = _split_number_paths(value)
    if not count:
        return value, 0
    return _replace_leaves(value, paths, ()), count


def _replace_leaves(value: Any, paths: set[tuple[Any, ...]], path: tuple[Any, ...]) -> Any:
    if isinstance(value, dict):
        return {key: _replace_leaves(item, paths, (*path, key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [_replace_leaves(item, paths, (*path, i)) for i, item in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    return REDACTION_MARKER if path in paths else value


def contains_personal_number(value: Any) -> bool:
    """True when `value` (text, bytes, a number or a JSON-like structure) holds a valid number."""
    return redact_json_value(value)[1] > 0


# --- payloads, Kafka keys and headers --------------------------------------------------------


def redact_payload_bytes(data: bytes) -> tuple[bytes, int]:
    """A message's bytes with every number redacted, structurally when they are JSON.

    First `redact_bytes` (in place, every encoding). When the bytes are then a JSON document,
    its values are walked as well (`redact_json_value`); only if that walk finds more (a number
    split over fields, an integer that lost its leading zero) is the document re-serialised,
    compactly. Never raises: JSON nested too deeply keeps the byte-level result.
    """
    redacted, count = redact_bytes(data)
    value = _json_document(redacted)
    if value is _NOT_JSON:
        return redacted, count
    try:
        walked, more = redact_json_value(value)
    except NestingTooDeepError:
        return redacted, count
    if not more:
        return redacted, count
    text = json.dumps(walked, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass"), count + more


_NOT_JSON = object()


def _json_document(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _NOT_JSON


def redact_kafka_key(key: bytes | str | None) -> tuple[str | None, int]:
    """A Kafka key as storable text: redacted in every encoding first, then decoded.

    Decoding first would turn a UTF-16 or Shift_JIS key into text in which the digits no longer
    sit next to each other.
    """
    if key is None:
        return None, 0
    if isinstance(key, str):
        return redact_text(key)
    redacted, count = redact_payload_bytes(bytes(key))
    return redacted.decode("utf-8", errors="replace"), count


def redact_kafka_headers(
    headers: Iterable[tuple[str, bytes | None]],
) -> tuple[list[tuple[str, bytes | None]], int]:
    """Kafka headers with numbers redacted from names and values (a null value stays null)."""
    redacted: list[tuple[str, bytes | None]] = []
    total = 0
    for name, value in headers:
        safe_name, in_name = redact_text(name)
        safe_value, in_value = (None, 0) if value is None else redact_payload_bytes(value)
        redacted.append((safe_name, safe_value))
        total += in_name + in_value
    return redacted, total
