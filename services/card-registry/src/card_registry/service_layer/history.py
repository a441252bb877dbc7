"""The audit history: every command outcome and event, filed under each entity it touched.

An event is filed under its subject (`card:<id>` → card, `queue:<name>` → queue, a work item key
→ notice) and, when its data names one, under the resident too. Command outcomes carry who
(`staff_id`), what (the command type), when (performed and recorded) and the outcome
(`accepted`, or `rejected:<reason>`). History holds ids, dates and codes, never a name or an
address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mynaflow.contracts import registry as contract
from mynaflow.contracts.envelope import CloudEvent

from card_registry.service_layer.ports import HistoryEntry

_STAFF_FIELDS = ("staff_id", "by", "assigned_by", "resolved_by", "verified_by")
_WHEN_FIELDS = ("performed_at", "at", "assigned_at", "resolved_at", "verified_at")


def entity_of_subject(subject: str) -> tuple[str, str]:
    """(`card`, id), (`queue`, name), else (`notice`, the work item key)."""
    kind, _, ident = subject.partition(":")
    if kind in ("card", "queue", "resident"):
        return kind, ident
    return "notice", subject


def action_name(event_type: str) -> str:
    """`jp.mynaflow.registry.card-expired.v1` → `card-expired`."""
    return contract.action_of(event_type)


def _outcome(event_type: str, data: dict[str, Any]) -> str:
    if event_type == contract.COMMAND_ACCEPTED_V1:
        return "accepted"
    if event_type == contract.COMMAND_REJECTED_V1:
        return f"rejected:{data.get('reason')}"
    return "emitted"


def _first(data: dict[str, Any], names: tuple[str, ...]) -> Any:
    return next((data[name] for name in names if data.get(name) is not None), None)


def history_of_event(event: CloudEvent[Any], now: datetime) -> list[HistoryEntry]:
    data = event.data.model_dump(mode="json")
    is_outcome = event.type in (contract.COMMAND_ACCEPTED_V1, contract.COMMAND_REJECTED_V1)
    action = action_name(data["command_type"]) if is_outcome else action_name(event.type)
    performed = _first(data, _WHEN_FIELDS)
    entities = [entity_of_subject(event.subject or event.id)]
    if data.get("resident_id"):
        entities.append(("resident", str(data["resident_id"])))
    return [
        HistoryEntry(
            entity_type=kind,
            entity_id=ident,
            action=action,
            outcome=_outcome(event.type, data),
            event_id=event.id,
            recorded_at=now,
            staff_id=_first(data, _STAFF_FIELDS),
            performed_at=datetime.fromisoformat(performed) if performed else None,
            detail=data,
        )
        for kind, ident in entities
    ]


def received(
    entity_type: str,
    entity_id: str,
    action: str,
    event_id: str,
    now: datetime,
    *,
    performed_at: datetime | None = None,
    detail: dict[str, Any] | None = None,
) -> HistoryEntry:
    """A line for an input the registry applied (a move, a receipt, a deadline breach)."""
    return HistoryEntry(
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        outcome="received",
        event_id=event_id,
        recorded_at=now,
        performed_at=performed_at,
        detail=detail or {},
    )
