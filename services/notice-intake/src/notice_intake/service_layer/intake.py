"""Acknowledge a batch of raw J-LIS notices: one transaction, every message receipted.

`acknowledge_batch(messages, deps)` is the handler the subscriber calls. For each message not
applied before (above its partition's mark, or behind it but never receipted: see
domain/progress.py) it:
1. parses the bytes with the single parser in `shared/` (never raises; everything redacted);
2. stores a first receipt (accepted, or quarantined), or, for a notice id already stored,
   counts a duplicate on the original and, when the content differs, opens a triage item;
3. records its sequence number (gaps are reported later by the gap watcher, after grace);
4. emits the receipt event and the `notice_sla` deadline request and, for bytes that are not
   JSON at all, records the dead letter, all in the unit of work's one transaction (outbox).
Offsets are committed by the subscriber only after this returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from mynaflow.contracts.intake import NoticeAcknowledged
from mynaflow.contracts.jlis import (
    INVALID_JSON,
    INVALID_UTF8,
    NoticeFields,
    ParsedNotice,
    QuarantineReason,
    parse_raw_notice,
)
from mynaflow.domain.ids import new_id
from mynaflow.messaging.errors import PoisonMessage
from mynaflow.storage.unit_of_work import UnitOfWork

from notice_intake.adapters import metrics
from notice_intake.adapters.repository import UNSTORABLE, IntakeRepos
from notice_intake.adapters.repository.receipts import DuplicateCount, ReceiptRow, TriageItemRow
from notice_intake.domain.events import deadline_request_event, gap_closed_event, receipt_event
from notice_intake.domain.messages import RawNoticeMessage
from notice_intake.domain.progress import (
    ReceiptedBefore,
    Rewind,
    coordinates_of,
    highest_offsets,
    is_behind_mark,
    rewinds,
)
from notice_intake.domain.receipts import (
    OriginalReceipt,
    deadline_request,
    duplicate_receipt,
    first_receipt,
    is_content_conflict,
    route_for,
)
from notice_intake.domain.routing import BatchRoutes
from notice_intake.domain.sequence_gaps import Gap, record_number
from notice_intake.service_layer.deps import IntakeDeps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Parsed:
    message: RawNoticeMessage
    parsed: ParsedNotice


@dataclass
class BatchOutcome:
    """What one batch did, for logs, metrics and tests (counts only: no personal data)."""

    receipts: list[NoticeAcknowledged] = field(default_factory=list)
    redeliveries: int = 0
    gaps_opened: int = 0
    gaps_closed: int = 0
    rewinds: list[Rewind] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.receipts if r.status.value == status)


async def acknowledge_batch(messages: Sequence[RawNoticeMessage], deps: IntakeDeps) -> BatchOutcome:
    """Receipt every message of the batch in one transaction (see the module docstring).

    If PostgreSQL refuses the data of one message (something the parser let through that the
    database cannot hold), the whole transaction rolls back and `PoisonMessage` tells the
    subscriber's middleware to replay the batch one message at a time; alone, the offending
    message is quarantined with only its redacted bytes, so even it gets a receipt.
    """
    try:
        return await _acknowledge(messages, deps)
    except UNSTORABLE as error:
        if len(messages) > 1:
            raise PoisonMessage(STORAGE_REJECTED, type(error).__name__) from error
        log.warning("notice refused by the database", extra={"error": type(error).__name__})
        return await _acknowledge(messages, deps, parse=_unstorable_parse)


async def _acknowledge(
    messages: Sequence[RawNoticeMessage],
    deps: IntakeDeps,
    parse: Callable[[bytes], ParsedNotice] | None = None,
) -> BatchOutcome:
    received_at = deps.clock.now()
    parse = parse or parse_raw_notice
    parsed = [_Parsed(m, parse(m.value)) for m in messages]
    async with deps.uow() as uow:
        fresh, rewound = await _claim_fresh(uow, parsed)
        outcome = BatchOutcome(redeliveries=len(messages) - len(fresh), rewinds=rewound)
        outcome.receipts = await _store_receipts(uow, fresh, received_at, deps)
        closed = await _record_sequences(uow, fresh, received_at, outcome)
        await _queue_events(uow, fresh, outcome.receipts, closed, deps)
        await uow.commit()
    if outcome.gaps_opened:
        deps.gaps_changed.set()
    _log_outcome(outcome)
    _report_rewinds(outcome.rewinds)
    return outcome


STORAGE_REJECTED = "storage_rejected"


# --- progress ----------------------------------------------------------------------------------
async def _claim_fresh(
    uow: UnitOfWork[IntakeRepos], parsed: list[_Parsed]
) -> tuple[list[_Parsed], list[Rewind]]:
    """The messages to apply, in order, under the partitions' row locks (domain/progress.py):
    those above their partition's mark, and those behind it that were never receipted.

    Each mark is raised to the batch's highest offset in the same statement that locks it:
    that is the highest offset of the messages applied whenever it is above the mark (a message
    above the mark is always applied), and leaves the mark as it is otherwise (a mark never
    moves down). So it is the same as raising it to the highest applied offset afterwards,
    without the round trip; the transaction holds both, or neither.
    """
    marks = await uow.repos.partitions.lock_and_advance(highest_offsets(p.message for p in parsed))
    behind = [p for p in parsed if is_behind_mark(p.message, marks)]
    receipted = await _receipted_before(uow, behind)
    new_behind = {
        id(p)
        for p in behind
        if not receipted.holds(p.parsed.notice_id, p.message, p.parsed.redacted_payload)
    }
    fresh = [p for p in parsed if not is_behind_mark(p.message, marks) or id(p) in new_behind]
    rewound = rewinds((p.message for p in behind if id(p) in new_behind), marks)
    return fresh, rewound


async def _receipted_before(uow: UnitOfWork[IntakeRepos], behind: list[_Parsed]) -> ReceiptedBefore:
    if not behind:  # the usual case: no extra query
        return ReceiptedBefore(frozenset(), {})
    notice_ids = {p.parsed.notice_id for p in behind if p.parsed.notice_id is not None}
    originals = await uow.repos.receipts.originals_for(notice_ids)
    unreadable = await uow.repos.receipts.unreadable_payloads_at(
        coordinates_of(p.message) for p in behind
    )
    return ReceiptedBefore(frozenset(originals), unreadable)


def _report_rewinds(found: list[Rewind]) -> None:
    """Loud on purpose: offsets going backwards mean the topic was re-created, the broker lost
    its data or the ward moved cluster (docs/operations.md says what to check)."""
    for rewind in found:
        metrics.REWOUND_NOTICES.labels(topic=rewind.topic, partition=str(rewind.partition)).inc(
            rewind.notices
        )
        log.error(
            "offsets went backwards: new notices found behind the applied offset; receipted as new",
            extra={
                "topic": rewind.topic,
                "partition": rewind.partition,
                "applied_offset": rewind.mark,
                "first_offset": rewind.first_offset,
                "notices": rewind.notices,
            },
        )


def _unstorable_parse(payload: bytes) -> ParsedNotice:
    """Keep only what cannot fail to store: the redacted bytes and the reasons."""
    parsed = parse_raw_notice(payload)
    reason = QuarantineReason(
        code=STORAGE_REJECTED, message="the database refused this notice's fields; kept as bytes"
    )
    return replace(parsed, notice=None, fields=NoticeFields(), reasons=(reason, *parsed.reasons))


# --- receipts --------------------------------------------------------------------------------
async def _store_receipts(
    uow: UnitOfWork[IntakeRepos], fresh: list[_Parsed], received_at: datetime, deps: IntakeDeps
) -> list[NoticeAcknowledged]:
    """One receipt per fresh message, in message order."""
    routes = BatchRoutes(deps.routing, deps.calendar)
    first_by_notice: dict[str, int] = {}
    repeated: set[str] = set()
    candidates: list[ReceiptRow] = []
    drafts: list[NoticeAcknowledged] = []
    for index, item in enumerate(fresh):
        draft = _first_receipt(item, received_at, routes)
        drafts.append(draft)
        notice_id = item.parsed.notice_id
        if notice_id is not None and notice_id in first_by_notice:
            repeated.add(notice_id)
            continue
        if notice_id is not None:
            first_by_notice[notice_id] = index
        candidates.append(_receipt_row(item, draft))
    stored = await uow.repos.receipts.insert(candidates)
    # Read back only the notice ids whose draft did not become their receipt (stored before,
    # or by a replica racing this one) or that came twice in the batch; usually none.
    contested = {n for n, i in first_by_notice.items() if drafts[i].receipt_id not in stored}
    contested |= repeated
    originals = await uow.repos.receipts.originals_for(contested) if contested else {}
    result = _resolve_duplicates(fresh, drafts, originals, received_at, deps)
    await _store_duplicates(uow, fresh, result, drafts, received_at)
    return result


def _first_receipt(item: _Parsed, received_at: datetime, routes: BatchRoutes) -> NoticeAcknowledged:
    return first_receipt(
        item.parsed,
        receipt_id=new_id(),
        route=route_for(item.parsed, received_at, routes),
        received_at=received_at,
        source=item.message.coordinates,
    )


def _receipt_row(item: _Parsed, receipt: NoticeAcknowledged) -> ReceiptRow:
    # Accepted notices are fully described by their fields; quarantined ones keep their bytes.
    raw = None if item.parsed.accepted else item.parsed.redacted_payload
    return ReceiptRow(receipt, item.parsed.content_hash, raw, item.message)


def _resolve_duplicates(
    fresh: list[_Parsed],
    drafts: list[NoticeAcknowledged],
    originals: dict[str, OriginalReceipt],
    received_at: datetime,
    deps: IntakeDeps,
) -> list[NoticeAcknowledged]:
    """Keep the draft where it became the stored receipt; otherwise it is a duplicate."""
    result: list[NoticeAcknowledged] = []
    for item, draft in zip(fresh, drafts, strict=True):
        original = originals.get(draft.notice_id) if draft.notice_id is not None else None
        if original is None or original.receipt_id == draft.receipt_id:
            result.append(draft)
            continue
        result.append(_duplicate(item, original, received_at, deps))
    return result


def _duplicate(
    item: _Parsed, original: OriginalReceipt, received_at: datetime, deps: IntakeDeps
) -> NoticeAcknowledged:
    source = item.message.coordinates
    if not is_content_conflict(item.parsed, original):
        return duplicate_receipt(item.parsed, original, source=source)
    conflict_route = deps.routing.route_quarantined(received_at, deps.calendar)
    return duplicate_receipt(
        item.parsed, original, source=source, conflict_route=conflict_route, work_item_id=new_id()
    )


async def _store_duplicates(
    uow: UnitOfWork[IntakeRepos],
    fresh: list[_Parsed],
    result: list[NoticeAcknowledged],
    drafts: list[NoticeAcknowledged],
    received_at: datetime,
) -> None:
    counts: dict[UUID, DuplicateCount] = {}
    triage: list[TriageItemRow] = []
    for item, receipt, draft in zip(fresh, result, drafts, strict=True):
        if receipt is draft:
            continue
        conflict = receipt.work_item_id is not None
        previous = counts.get(receipt.receipt_id)
        counts[receipt.receipt_id] = DuplicateCount(
            receipt.receipt_id,
            (previous.duplicates if previous else 0) + 1,
            (previous.conflicts if previous else 0) + int(conflict),
            received_at,
        )
        if conflict:
            triage.append(
                TriageItemRow(
                    receipt,
                    item.parsed.content_hash,
                    item.parsed.redacted_payload,
                    item.message,
                    received_at,
                )
            )
    await uow.repos.receipts.count_duplicates(list(counts.values()))
    await uow.repos.receipts.insert_triage_items(triage)


# --- sequences ---------------------------------------------------------------------------------
def _numbered(fresh: list[_Parsed]) -> list[tuple[str, int]]:
    """(municipality, number) of every message whose both fields are readable, in order."""
    numbered: list[tuple[str, int]] = []
    for item in fresh:
        fields = item.parsed.fields
        if fields.municipality_code is not None and fields.sequence is not None:
            numbered.append((fields.municipality_code, fields.sequence))
    return numbered


async def _record_sequences(
    uow: UnitOfWork[IntakeRepos], fresh: list[_Parsed], received_at: datetime, outcome: BatchOutcome
) -> list[tuple[str, Gap]]:
    numbered = _numbered(fresh)
    if not numbered:
        return []
    states = await uow.repos.sequences.lock(numbered)
    before = {code: dict(state.gaps) for code, state in states.items()}
    closed: list[tuple[str, Gap]] = []
    for code, number in numbered:
        gap = record_number(states[code], number, received_at)
        if gap is not None:
            closed.append((code, gap))
    outcome.gaps_opened = sum(
        len(set(state.gaps) - set(before[code])) for code, state in states.items()
    )
    outcome.gaps_closed = len(closed)
    await uow.repos.sequences.save(before, states)
    return closed


# --- events ------------------------------------------------------------------------------------
async def _queue_events(
    uow: UnitOfWork[IntakeRepos],
    fresh: list[_Parsed],
    result: list[NoticeAcknowledged],
    closed: list[tuple[str, Gap]],
    deps: IntakeDeps,
) -> None:
    """Receipts in message order, then their deadline requests, then closed gaps; each keyed by
    its subject (the aggregate it is about)."""
    topics = deps.topics
    for event in map(receipt_event, result):
        uow.emit(topics.receipts, event.subject, event)
    for request in filter(None, map(deadline_request, result)):
        event = deadline_request_event(request)
        uow.emit(topics.deadline_requests, event.subject, event)
    for item in fresh:
        if item.parsed.unreadable_json:
            reason = next(r for r in item.parsed.reasons if r.code in (INVALID_JSON, INVALID_UTF8))
            await uow.repos.dead_letters.record_unreadable(
                item.message, reason, service=deps.service, prefix=topics.prefix
            )
    for code, gap in closed:
        event = gap_closed_event(code, gap)
        uow.emit(topics.receipts, event.subject, event)


def _log_outcome(outcome: BatchOutcome) -> None:
    for status in ("accepted", "duplicate", "quarantined"):
        metrics.RECEIPTS.labels(status=status).inc(outcome.count(status))
    metrics.REDELIVERIES.inc(outcome.redeliveries)
    metrics.GAPS_CLOSED.inc(outcome.gaps_closed)
    log.info(
        "notices acknowledged",
        extra={
            "accepted": outcome.count("accepted"),
            "duplicate": outcome.count("duplicate"),
            "quarantined": outcome.count("quarantined"),
            "redeliveries": outcome.redeliveries,
            "gaps_opened": outcome.gaps_opened,
            "gaps_closed": outcome.gaps_closed,
        },
    )
