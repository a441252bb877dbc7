"""What a message says, before any template: the view of each event and of its reader.

Templates get plain values only: dates already written the Japanese way (令和), labels already
chosen. Each source event becomes one *item*; an aggregated message lists several. Nothing here
reads a file or the clock: `now` is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from mynaflow.domain.time import to_jst_date

from notifier.domain.era import japanese_date

RENEWAL_OF = {"certificate-renewal": "電子証明書", "card-renewal": "マイナンバーカード"}
SUBJECT_LABELS = {"notice": "J-LIS通知", "resident_card": "カード", "move_in": "転入"}


@dataclass(frozen=True)
class ResidentView:
    """The addressee of a letter or resident message (one resident, or a household)."""

    names: tuple[str, ...]
    address: str = ""
    postal_code: str | None = None
    name_kana: tuple[str, ...] = ()

    @property
    def greeting(self) -> str:
        return f"{'・'.join(self.names)} 様"


@dataclass(frozen=True)
class StaffView:
    name: str

    @property
    def greeting(self) -> str:
        return f"{self.name} 様" if self.name else "ご担当者 様"


@dataclass(frozen=True)
class WardInfo:
    name: str
    address: str
    section: str
    phone: str
    extra: Mapping[str, str] = field(default_factory=dict)


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _jst_text(value: Any) -> str | None:
    if isinstance(value, str) and len(value) == 10:
        return japanese_date(date.fromisoformat(value))
    instant = _instant(value)
    return japanese_date(to_jst_date(instant)) if instant and instant.tzinfo else None


def _label(data: Mapping[str, Any]) -> str:
    subject = data.get("subject")
    if isinstance(subject, Mapping):
        kind = SUBJECT_LABELS.get(str(subject.get("type")), str(subject.get("type")))
        ids = subject.get("ids") or {}
        return f"{kind} {' / '.join(str(v) for v in ids.values())}".strip()
    return str(data.get("key") or data.get("notice_id") or data.get("card_id") or "")


def _overdue_days(data: Mapping[str, Any], now: datetime) -> int | None:
    if "overdue_days" in data:
        return int(data["overdue_days"])
    due = _instant(data.get("due_at"))
    if due is None or due.tzinfo is None or due >= now:
        return None
    return (to_jst_date(now) - to_jst_date(due)).days


def item_view(data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """One source event as a template sees it: its data plus the derived texts."""
    audience = data.get("audience") if isinstance(data.get("audience"), Mapping) else {}
    key = str(data.get("key") or "")
    return {
        **data,
        "label": _label(data),
        "queue": data.get("queue") or (audience or {}).get("queue"),
        "due_date": _jst_text(data.get("due_at") or data.get("sla_due_on") or data.get("due_on")),
        "event_date": _jst_text(
            data.get("at") or data.get("surface_printed_at") or data.get("detected_at")
        ),
        "overdue_days": _overdue_days(data, now),
        "renewal_of": RENEWAL_OF.get(key.split(":", 1)[0], "マイナンバーカード"),
        "defect": (data.get("details") or {}).get("reason")
        if isinstance(data.get("details"), Mapping)
        else None,
        "target": data.get("card_id") or data.get("notice_id") or data.get("queue") or "",
    }


def message_context(
    *,
    ward: WardInfo,
    reader: ResidentView | StaffView,
    items: Sequence[Mapping[str, Any]],
    count: int,
    now: datetime,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    views = [item_view(data, now) for data in items]
    return {
        "ward": ward,
        "recipient": reader,
        "items": views,
        "item": views[0] if views else {},
        "count": count,
        "today": japanese_date(to_jst_date(now)),
        **(extra or {}),
    }
