"""Free text in contracts is redacted at the contract boundary.

Any field a service stores or emits whose value a person or another system wrote (a reason, a
note, an id that came from input, an error text) is typed `RedactedText`, and any open JSON
object `RedactedJsonObject`: validating the model replaces each individual number (個人番号) with
`REDACTION_MARKER`, in every spelling `mynaflow.domain.personal_number` knows. Validation does
not fail, so the message is still applied (a clear still clears), just without the number.
This holds both where a producer builds the model and where a consumer parses it.

    class ClearDeadline(EventData):
        reason: RedactedText = Field(min_length=1)
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

from mynaflow.domain.personal_number import redact_json_value, redact_text

__all__ = ["RedactedJsonObject", "RedactedJsonValue", "RedactedText"]


def _redacted_text(text: str) -> str:
    return redact_text(text)[0]


def _redacted_json(value: Any) -> Any:
    # Nesting beyond MAX_JSON_DEPTH raises NestingTooDeepError, a ValueError: pydantic reports
    # it as a validation error of the field, so such a message is a schema failure.
    return redact_json_value(value)[0]


RedactedText = Annotated[str, AfterValidator(_redacted_text)]
RedactedJsonValue = Annotated[Any, AfterValidator(_redacted_json)]
RedactedJsonObject = Annotated[dict[str, Any], AfterValidator(_redacted_json)]
