"""What the load test reads back from the flow's topics, per notice (pure).

`--flow intake`: a notice is done when its receipt is on `intake.receipts`.
`--flow full`: also when the watcher's `deadline.scheduled` (if the receipt has an SLA) and
card-registry's `work-item-opened` (if the receipt opens work: accepted or quarantined) are on
`deadlines.events` and `registry.events`. Which parts to wait for is read from the receipt
itself, so a notice intake gives no SLA is not waited on for a deadline that never comes.

Counted on the way, by CloudEvent id:
- a duplicate event: the same event id seen twice on a topic (a relay republishing after a
  crash; at-least-once allows it);
- a duplicated effect: two distinct events for one effect of one notice (stored twice as
  accepted/quarantined, two deadlines scheduled, two work items opened), which must never
  happen, however often a notice is sent.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mynaflow.contracts.deadlines import DEADLINE_SCHEDULED_V1
from mynaflow.contracts.intake import NOTICE_ACKNOWLEDGED_V1
from mynaflow.contracts.registry import WORK_ITEM_OPENED_V1

from mynaflow_tools.loadtest.notices import NOTICE_NUMBER_DIGITS, run_id_prefix

FLOWS = ("intake", "full")
RECEIPT, DEADLINE, WORK_ITEM = "receipt", "deadline", "work_item"
_PART_OF_TYPE = {
    NOTICE_ACKNOWLEDGED_V1: RECEIPT,
    DEADLINE_SCHEDULED_V1: DEADLINE,
    WORK_ITEM_OPENED_V1: WORK_ITEM,
}
# Receipt statuses that store the notice (a `duplicate` receipt stores nothing new).
_STORING = frozenset({"accepted", "quarantined"})


@dataclass
class FlowLedger:
    """Every event of this run read back, by notice; `read` is the driver's RecordReader."""

    run_id: str
    full: bool = False
    duplicate_events: int = 0
    _prefix: str = field(init=False)
    _event_ids: set[str] = field(default_factory=set)
    _effects: Counter[tuple[str, str]] = field(default_factory=Counter)
    _seen: dict[str, set[str]] = field(default_factory=dict)
    _expected: dict[str, frozenset[str]] = field(default_factory=dict)
    _status: dict[str, str] = field(default_factory=dict)
    _done: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._prefix = run_id_prefix(self.run_id)

    @property
    def duplicated_effects(self) -> int:
        """Effects of one notice carried by more than one distinct event (must be 0)."""
        return sum(1 for count in self._effects.values() if count > 1)

    def read(self, record: Any) -> tuple[str, str] | None:
        """(notice id, receipt status) when a notice is done, and for each later receipt of a
        done notice (counted as a repeat); None for everything else."""
        found = self._notice_event(record)
        if found is None:
            return None
        notice_id, part, event = found
        if not self._first_sighting(event):
            return None
        self._record(notice_id, part, event.get("data") or {})
        if notice_id in self._done:
            return (notice_id, str(event["data"].get("status"))) if part == RECEIPT else None
        if self._is_done(notice_id):
            self._done.add(notice_id)
            return notice_id, self._status[notice_id]
        return None

    def _notice_event(self, record: Any) -> tuple[str, str, dict[str, Any]] | None:
        # The key names the notice (notice id, `notice:<id>`): other runs' are skipped unparsed.
        key = record.key.decode("utf-8", "replace") if record.key else ""
        at = key.find(self._prefix)
        if at < 0 or not record.value:
            return None
        notice_id = key[at : at + len(self._prefix) + NOTICE_NUMBER_DIGITS]
        try:
            event = json.loads(record.value)
        except ValueError:
            return None
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            return None
        part = _PART_OF_TYPE.get(str(event.get("type")))
        if part is None or (part != RECEIPT and not self.full):
            return None
        return notice_id, part, event

    def _first_sighting(self, event: dict[str, Any]) -> bool:
        event_id = str(event.get("id"))
        if event_id in self._event_ids:
            self.duplicate_events += 1
            return False
        self._event_ids.add(event_id)
        return True

    def _record(self, notice_id: str, part: str, data: dict[str, Any]) -> None:
        self._seen.setdefault(notice_id, set()).add(part)
        if part != RECEIPT:
            self._effects[(notice_id, part)] += 1
            return
        status = str(data.get("status"))
        if status in _STORING:
            self._effects[(notice_id, "stored")] += 1
        if notice_id not in self._expected:
            self._status[notice_id] = status
            self._expected[notice_id] = self._parts_expected(status, data)

    def _parts_expected(self, status: str, receipt: dict[str, Any]) -> frozenset[str]:
        if not self.full or status not in _STORING:
            return frozenset({RECEIPT})
        parts = {RECEIPT, WORK_ITEM}
        if receipt.get("sla_due_on") is not None:
            parts.add(DEADLINE)
        return frozenset(parts)

    def _is_done(self, notice_id: str) -> bool:
        expected = self._expected.get(notice_id)
        return expected is not None and expected <= self._seen[notice_id]
