"""`jlis.notices.raw`: the raw J-LIS notice, and the ONE parser from raw bytes to a notice.

The raw notice is plain JSON (not CloudEvents) because it comes from outside. Its fields are
those of docs/domain.md ("J-LIS notices"):

    {"notice_id": "N-0001", "kind": "record_update_required", "municipality_code": "141046",
     "issued_at": "2025-05-01T10:00:00+09:00", "application_id": "A-1", "resident_ref": "R-1",
     "sequence": 17, "details": {"reason": "住所不一致"}}

notice-intake is the one consumer that takes raw bytes, because it must receipt even what does
not parse. It hands them to `parse_raw_notice`, which never raises: every input gives a
`ParsedNotice` with either a validated `RawNotice` or the reasons it must be quarantined, plus
whatever fields could still be read (for the receipt). Every value it returns has individual
numbers (個人番号) redacted; the original bytes never leave this function.

Unknown top-level fields are ignored (J-LIS may add some), but they are still searched for
individual numbers: "any field" means any field.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from mynaflow.contracts.redaction import RedactedText
from mynaflow.domain.municipality import is_valid_municipality_code
from mynaflow.domain.personal_number import (
    BYTES_REDACTION_MARKER,
    MAX_JSON_DEPTH,
    REDACTION_MARKER,
    NestingTooDeepError,
    redact_bytes,
    redact_json_value,
)

# --- reason codes (machine-readable; the receipt also carries a human message) ---------------
INVALID_UTF8: Final = "invalid_utf8"
INVALID_JSON: Final = "invalid_json"
NOT_AN_OBJECT: Final = "not_an_object"
MISSING_FIELD: Final = "missing_field"
PERSONAL_NUMBER_PRESENT: Final = "personal_number_present"
INVALID_CHARACTERS: Final = "invalid_characters"
TOO_DEEPLY_NESTED: Final = "too_deeply_nested"
# Per-field failures are `invalid_<field>`, e.g. `invalid_municipality_code`, `invalid_issued_at`.
INVALID_FIELD_PREFIX: Final = "invalid_"

REQUIRED_FIELDS: Final = ("notice_id", "kind", "municipality_code", "issued_at")
OPTIONAL_FIELDS: Final = ("application_id", "resident_ref", "sequence", "details")
NOTICE_FIELDS: Final = REQUIRED_FIELDS + OPTIONAL_FIELDS

TEXT_MAX_LENGTH: Final = 200
_CONTROL_OR_SURROGATE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_NUL_OR_SURROGATE = re.compile("[\x00\ud800-\udfff]")


def _reject_control_characters(text: str) -> str:
    # Ids end up in Kafka keys, URLs and logs; a control character there is never legitimate.
    if _CONTROL_OR_SURROGATE.search(text):
        raise ValueError("contains control characters or lone surrogates")
    if not text.strip():
        raise ValueError("is blank")
    return text


def _check_municipality_code(code: str) -> str:
    if not is_valid_municipality_code(code):
        raise ValueError("is not 6 ASCII digits with a valid JIS X 0401 check digit")
    return code


def _require_iso_text_or_datetime(value: object) -> object:
    # pydantic would also take a Unix timestamp number; the contract says ISO 8601 text.
    if isinstance(value, str | datetime):
        return value
    raise ValueError("must be an ISO 8601 date-time string with an offset")


Text = Annotated[
    StrictStr,
    Field(min_length=1, max_length=TEXT_MAX_LENGTH),
    AfterValidator(_reject_control_characters),
]
MunicipalityCode = Annotated[StrictStr, AfterValidator(_check_municipality_code)]
IssuedAt = Annotated[AwareDatetime, BeforeValidator(_require_iso_text_or_datetime)]
# Stored as a PostgreSQL bigint: a larger number is a schema failure, not a storage failure.
Sequence = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
Details = dict[str, Any]


class RawNotice(BaseModel):
    """One J-LIS notice as it appears on `jlis.notices.raw` (plain JSON, not CloudEvents)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    notice_id: Text
    # An open set: there is no public list of J-LIS notice kinds.
    kind: Text
    municipality_code: MunicipalityCode
    issued_at: IssuedAt
    application_id: Text | None = None
    resident_ref: Text | None = None
    sequence: Sequence | None = None
    details: Details | None = None

    def to_json_bytes(self) -> bytes:
        """The wire form, as a producer publishes it."""
        return self.model_dump_json(exclude_none=True).encode("utf-8")


_FIELD_ADAPTERS: Final[dict[str, TypeAdapter[Any]]] = {
    "notice_id": TypeAdapter(Text),
    "kind": TypeAdapter(Text),
    "municipality_code": TypeAdapter(MunicipalityCode),
    "issued_at": TypeAdapter(IssuedAt),
    "application_id": TypeAdapter(Text | None),
    "resident_ref": TypeAdapter(Text | None),
    "sequence": TypeAdapter(Sequence | None),
    "details": TypeAdapter(Details | None),
}


class QuarantineReason(BaseModel):
    """Why a notice was quarantined (or flagged): a stable code plus a message for people."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str
    # Built by the parser from pydantic's messages, which never quote the input; redacted all
    # the same, since receipts carry it to every consumer.
    message: RedactedText
    field: str | None = None


class NoticeFields(BaseModel):
    """The fields that could be read and validated, each independently; redacted throughout."""

    model_config = ConfigDict(frozen=True)

    notice_id: str | None = None
    kind: str | None = None
    municipality_code: str | None = None
    issued_at: datetime | None = None
    application_id: str | None = None
    resident_ref: str | None = None
    sequence: int | None = None
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class ParsedNotice:
    """What the single parser made of one raw message.

    - `notice`: the validated notice, only when there is no reason to quarantine it;
    - `fields`: every field that validated on its own (for receipts of quarantined input);
    - `reasons`: empty exactly when `notice` is set;
    - `unreadable_json`: the bytes are not JSON at all (they also go to dead-letter);
    - `redacted_payload`: the original bytes with individual numbers redacted;
    - `content_hash`: a digest of the redacted JSON value in canonical form (duplicates with
      different content are told apart by it), None when the bytes are not JSON. It is taken
      after redaction on purpose: a hash over 12 digits could be reversed by brute force;
    - `personal_numbers_found`: how many individual numbers were redacted.

    `redacted_by_parser` is true only on what `parse_raw_notice` itself returned: a contract
    may then take `fields` as already redacted instead of redacting them a second time. A copy
    made with `dataclasses.replace`, or one built by hand, is not sealed, so its fields go
    through the contract's redaction like any other value.
    """

    notice: RawNotice | None
    fields: NoticeFields
    reasons: tuple[QuarantineReason, ...]
    unreadable_json: bool
    redacted_payload: bytes
    content_hash: str | None
    personal_numbers_found: int
    # Not an init field: `replace()` and the constructor always give an unsealed copy.
    _sealed_by: object = field(default=None, init=False, repr=False, compare=False)

    @property
    def accepted(self) -> bool:
        return self.notice is not None

    @property
    def notice_id(self) -> str | None:
        return self.fields.notice_id

    @property
    def redacted_by_parser(self) -> bool:
        return self._sealed_by is _PARSER_SEAL


# Only this module holds it: a ParsedNotice carrying it came out of `parse_raw_notice`.
_PARSER_SEAL: Final = object()


def _sealed(parsed: ParsedNotice) -> ParsedNotice:
    object.__setattr__(parsed, "_sealed_by", _PARSER_SEAL)
    return parsed


def parse_raw_notice(payload: bytes) -> ParsedNotice:
    """Parse raw bytes from `jlis.notices.raw`. Never raises; never returns an unredacted value."""
    return _sealed(_parse(payload))


def _parse(payload: bytes) -> ParsedNotice:
    redacted_payload, found_in_bytes = redact_bytes(payload)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        reason = _reason(INVALID_UTF8, f"not valid UTF-8 (byte {error.start})")
        return _unreadable(redacted_payload, found_in_bytes, reason)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        reason = _reason(INVALID_JSON, f"not JSON: {error.msg} at character {error.pos}")
        return _unreadable(redacted_payload, found_in_bytes, reason)
    except RecursionError:
        return _too_deeply_nested(redacted_payload, found_in_bytes)
    # Bytes that are valid UTF-8 were searched as this very text by `redact_bytes`: when it
    # found nothing, the walk need not search the strings parsed from it again.
    clean_source = None if found_in_bytes else text
    try:
        redacted_value, found_in_value = redact_json_value(value, clean_source=clean_source)
    except NestingTooDeepError:
        return _too_deeply_nested(redacted_payload, found_in_bytes)
    found = max(found_in_bytes, found_in_value, _upstream_redactions(text))
    canonical = _canonical_json(redacted_value)
    if found_in_value:
        # The value walk also finds numbers the byte scan cannot see (JSON escapes, an 11-digit
        # integer that lost its leading zero), so keep only its redacted form.
        redacted_payload = canonical.encode("utf-8", "surrogatepass")
    content_hash = _sha256_hex(canonical)
    if not isinstance(redacted_value, dict):
        reason = _reason(NOT_AN_OBJECT, f"a JSON {_json_type_name(value)}, not an object")
        reasons = (*_personal_number_reasons(found, ()), reason)
        return ParsedNotice(
            None, NoticeFields(), reasons, False, redacted_payload, content_hash, found
        )
    unstorable = _may_hold_unstorable(canonical) and has_unstorable_characters(redacted_value)
    return _parse_object(
        value, redacted_value, redacted_payload, content_hash, found, unstorable=unstorable
    )


def _parse_object(
    original: dict[str, Any],
    redacted: dict[str, Any],
    redacted_payload: bytes,
    content_hash: str,
    found: int,
    *,
    unstorable: bool,
) -> ParsedNotice:
    # Name only contract fields: an unknown key may itself be the number.
    fields_with_numbers: tuple[str, ...] = tuple(
        name for name in NOTICE_FIELDS if name in original and original[name] != redacted[name]
    )
    if found and not fields_with_numbers:
        fields_with_numbers = ("(other fields)",)
    values, reasons = _validate_fields(redacted)
    if "notice_id" in fields_with_numbers or _carries_redaction_marker(values.get("notice_id")):
        # A redacted id is no id: it would merge unrelated notices under one mask.
        values.pop("notice_id", None)
    reasons = [*_personal_number_reasons(found, fields_with_numbers), *reasons]
    if unstorable:
        # Neither PostgreSQL nor a JSON encoder takes these; the quarantine keeps the bytes.
        values.pop("details", None)
        message = "contains U+0000 or a lone surrogate, which cannot be stored as text"
        reasons.append(_reason(INVALID_CHARACTERS, message))
    fields = NoticeFields(**values)
    # Every value was validated by its field's own adapter (the very types of the model), and
    # without a reason every required field is there: validating them again would only repeat
    # that work for each notice. (NoticeFields' plain types validate faster than constructing.)
    notice = None if reasons else RawNotice.model_construct(**values)
    return ParsedNotice(
        notice, fields, tuple(reasons), False, redacted_payload, content_hash, found
    )


def _validate_fields(value: dict[str, Any]) -> tuple[dict[str, Any], list[QuarantineReason]]:
    """Validate each known field on its own, so one bad field leaves the others readable."""
    values: dict[str, Any] = {}
    reasons: list[QuarantineReason] = []
    for name in REQUIRED_FIELDS:
        if value.get(name) is None:
            reasons.append(_reason(MISSING_FIELD, f"required field {name!r} is missing", name))
    for name, adapter in _FIELD_ADAPTERS.items():
        if value.get(name) is None:
            continue
        try:
            values[name] = adapter.validate_python(value[name])
        except ValidationError as error:
            reasons.append(_field_reason(name, error))
    return values, reasons


def _field_reason(name: str, error: ValidationError) -> QuarantineReason:
    # pydantic's message never includes the input value, so nothing personal leaks into it.
    first = error.errors(include_input=False, include_url=False)[0]
    message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    return _reason(f"{INVALID_FIELD_PREFIX}{name}", f"field {name!r}: {message}", name)


def _personal_number_reasons(found: int, fields: tuple[str, ...]) -> list[QuarantineReason]:
    if not found:
        return []
    where = f" in field(s) {', '.join(map(str, fields))}" if fields else ""
    message = f"{found} individual number(s) (個人番号) found{where}; redacted"
    return [_reason(PERSONAL_NUMBER_PRESENT, message)]


def _carries_redaction_marker(value: object) -> bool:
    return isinstance(value, str) and _upstream_redactions(value) > 0


def _upstream_redactions(text: str) -> int:
    # The importer redacts before it publishes; its mask still means "this input carried one".
    return text.count(REDACTION_MARKER) + text.count(BYTES_REDACTION_MARKER.decode("ascii"))


def _unreadable(payload: bytes, found: int, reason: QuarantineReason) -> ParsedNotice:
    reasons = (*_personal_number_reasons(found, ()), reason)
    return ParsedNotice(None, NoticeFields(), reasons, True, payload, None, found)


def _too_deeply_nested(payload: bytes, found: int) -> ParsedNotice:
    """JSON nested beyond `MAX_JSON_DEPTH`: quarantined and receipted like any bad input.

    It is JSON, so it is not dead-lettered as unreadable; its fields are not read at all, since
    every walk over it (redaction, validation, storage as jsonb) would recurse that deep.
    """
    message = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    reasons = (*_personal_number_reasons(found, ()), _reason(TOO_DEEPLY_NESTED, message))
    return ParsedNotice(None, NoticeFields(), reasons, False, payload, None, found)


def _reason(code: str, message: str, field: str | None = None) -> QuarantineReason:
    return QuarantineReason(code=code, message=message, field=field)


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _sha256_hex(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


# In JSON as `_canonical_json` writes it, U+0000 is always the escape `\u0000` and a lone
# surrogate is written as it is; without either, no string or key of the value holds one.
_NUL_ESCAPE_OR_SURROGATE = re.compile(r"\\u0000|[\ud800-\udfff]")


def _may_hold_unstorable(canonical: str) -> bool:
    """A cheap test on the canonical JSON before walking the value."""
    return _NUL_ESCAPE_OR_SURROGATE.search(canonical) is not None


def _json_type_name(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def has_unstorable_characters(value: Any) -> bool:
    """True when a string (or key) in a JSON value holds U+0000 or a lone surrogate.

    PostgreSQL text and jsonb cannot hold either; such input is kept only as bytes.
    """
    if isinstance(value, str):
        return _NUL_OR_SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(
            has_unstorable_characters(k) or has_unstorable_characters(v) for k, v in value.items()
        )
    if isinstance(value, list):
        return any(has_unstorable_characters(item) for item in value)
    return False
