"""Synthetic J-LIS notices for the load test (pure).

Every notice is valid by the contract (notice-intake accepts it), unique to its run
(`lt-<run id>-<n>`), and never carries an individual number (個人番号): ids, references and
details hold no run of 12 digits, and each payload is checked before it is handed out, so a
load test can never be the thing that puts one on a topic.

The kinds follow docs/domain.md: the four known kinds, weighted roughly as a ward sees them, plus a
small share of a kind intake does not know (routed to triage), so every routing path is loaded.
No `sequence` is sent: sequence numbers are per municipality, and synthetic ones would open
sequence gaps against a deployment's real numbering.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from mynaflow.domain.municipality import municipality_check_digit
from mynaflow.domain.personal_number import find_personal_numbers
from mynaflow.domain.time import now_jst, require_aware

NOTICE_ID_PREFIX = "lt"
# Seven digits keep every digit run far from the 12 of an individual number.
MAX_NOTICES = 1_000_000
NOTICE_NUMBER_DIGITS = 7
RUN_ID_LENGTH = 8
# Letters only: a run id adds no digits next to the notice number.
_RUN_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz"

UNKNOWN_KIND = "loadtest_unlisted_notice"
# kind → how many of every 20 notices (docs/domain.md's table, plus one unknown kind for triage).
KIND_MIX: tuple[tuple[str, int], ...] = (
    ("record_update_required", 8),
    ("card_delivered", 5),
    ("application_defect", 4),
    ("expiry_notice_sent", 2),
    (UNKNOWN_KIND, 1),
)
_KIND_CYCLE: tuple[str, ...] = tuple(kind for kind, weight in KIND_MIX for _ in range(weight))

_MEMO_BY_KIND = {
    "record_update_required": "住所不一致",
    "card_delivered": "交付前設定待ち",
    "application_defect": "写真不備",
    "expiry_notice_sent": "有効期限通知書送付済",
    UNKNOWN_KIND: "種別不明",
}

# Yokohama's wards: Tsurumi, Kanagawa, Nishi, Naka (141046), Minami. The check digit is
# computed, not typed, so every code is valid by JIS X 0401.
_WARD_PREFIXES = ("14101", "14102", "14103", "14104", "14105")
MUNICIPALITY_CODES: tuple[str, ...] = tuple(
    prefix + str(municipality_check_digit(prefix)) for prefix in _WARD_PREFIXES
)


class IndividualNumberInNotice(ValueError):
    """A generated notice would carry an individual number: a bug, never sent."""


@dataclass(frozen=True)
class SyntheticNotice:
    notice_id: str
    kind: str
    payload: bytes
    # Fails the contract on purpose (intake quarantines and receipts it); the id stays readable.
    malformed: bool = False

    @property
    def key(self) -> bytes:
        """The Kafka key: the notice id, which keeps one notice's messages in order."""
        return self.notice_id.encode("utf-8")


def new_run_id() -> str:
    """Eight random lowercase letters (26^8 runs): unique per run, no digits."""
    return "".join(secrets.choice(_RUN_ID_ALPHABET) for _ in range(RUN_ID_LENGTH))


def run_id_prefix(run_id: str) -> str:
    """What every notice id of the run starts with (for filtering receipts)."""
    return f"{NOTICE_ID_PREFIX}-{run_id}-"


def notice_id(run_id: str, n: int) -> str:
    return f"{run_id_prefix(run_id)}{n:0{NOTICE_NUMBER_DIGITS}d}"


def kind_for(n: int) -> str:
    return _KIND_CYCLE[n % len(_KIND_CYCLE)]


def municipality_for(n: int) -> str:
    return MUNICIPALITY_CODES[n % len(MUNICIPALITY_CODES)]


def notice_value(run_id: str, n: int, issued_at: datetime) -> dict[str, object]:
    """The JSON object of notice `n` of a run (docs/domain.md's fields, no sequence)."""
    kind = kind_for(n)
    return {
        "notice_id": notice_id(run_id, n),
        "kind": kind,
        "municipality_code": municipality_for(n),
        "issued_at": issued_at.isoformat(),
        "application_id": f"LT-AP-{n:07d}",
        "resident_ref": f"LT-R-{n:07d}",
        "details": {"loadtest_run": run_id, "memo": _MEMO_BY_KIND[kind]},
    }


def encode_notice(value: dict[str, object]) -> bytes:
    """The wire form; refuses to produce a payload holding an individual number."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if find_personal_numbers(text):
        raise IndividualNumberInNotice(f"notice {value.get('notice_id')} would carry one")
    return text.encode("utf-8")


def malformed_value(value: dict[str, object]) -> dict[str, object]:
    """`value` failing the contract (no kind, an issue time that is no time), id kept."""
    broken = {k: v for k, v in value.items() if k != "kind"}
    return broken | {"issued_at": "not-a-timestamp"}


def every_nth(fraction: float) -> int | None:
    """One in how many, for a share in [0, 1]; None for none at all."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"a share must be between 0 and 1, got {fraction}")
    return max(1, round(1 / fraction)) if fraction > 0 else None


def _chosen(n: int, step: int | None) -> bool:
    return step is not None and n % step == step - 1


def generate_notices(
    run_id: str, count: int, *, issued_at: datetime | None = None, malformed: float = 0.0
) -> Iterator[SyntheticNotice]:
    """`count` notices of run `run_id`, ids `lt-<run id>-0000000` upwards; a `malformed` share
    of them (one in round(1/share), spread evenly) fails the contract."""
    if not 0 <= count <= MAX_NOTICES:
        raise ValueError(f"count must be between 0 and {MAX_NOTICES}, got {count}")
    step = every_nth(malformed)
    # One issue time for the run, to the second: SLAs count from it (a live ward's "today").
    issued = require_aware(issued_at or now_jst()).replace(microsecond=0)
    for n in range(count):
        value = notice_value(run_id, n, issued)
        if _chosen(n, step):
            payload = encode_notice(malformed_value(value))
            yield SyntheticNotice(str(value["notice_id"]), kind_for(n), payload, malformed=True)
        else:
            yield SyntheticNotice(str(value["notice_id"]), kind_for(n), encode_notice(value))


def with_duplicates(notices: Sequence[SyntheticNotice], share: float) -> list[SyntheticNotice]:
    """The send order: every notice once, and a `share` of them (evenly spread) sent again,
    byte for byte, right after the next notice, as a retransmitting J-LIS would."""
    step = every_nth(share)
    order: list[SyntheticNotice] = []
    again: SyntheticNotice | None = None
    for n, notice in enumerate(notices):
        order.append(notice)
        if again is not None:
            order.append(again)
        again = notice if _chosen(n, step) else None
    if again is not None:
        order.append(again)
    return order
