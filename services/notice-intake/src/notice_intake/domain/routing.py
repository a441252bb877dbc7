"""Which queue owns a notice, and by which JST date it must be handled (its SLA).

Known kinds come from configuration, defaulting to docs/domain.md's table. Every known kind must
have an owner queue: a kind nobody owns is exactly how Case 1 slipped for 19 months, so a
missing owner is a start-up error, never a silent default. Anything else goes to triage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from mynaflow.domain.calendar import BusinessCalendar
from mynaflow.domain.time import to_jst_date

# docs/domain.md, J-LIS notices: days per kind; None means the kind has no SLA (informational).
DEFAULT_SLA_BUSINESS_DAYS: Mapping[str, int | None] = {
    "record_update_required": 3,
    "application_defect": 5,
    "card_delivered": 5,
    "expiry_notice_sent": None,
}
# Documented defaults so that `make run` works; a ward names its own queues.
DEFAULT_OWNER_QUEUES: Mapping[str, str] = {
    "record_update_required": "card-records",
    "application_defect": "card-applications",
    "card_delivered": "card-issuance",
    "expiry_notice_sent": "card-renewals",
}
DEFAULT_TRIAGE_QUEUE = "triage"
DEFAULT_TRIAGE_SLA_BUSINESS_DAYS = 1


class RoutingConfigurationError(ValueError):
    """The kind → queue configuration is unusable; the service must not start with it."""


@dataclass(frozen=True)
class Route:
    owner_queue: str
    sla_due_on: date | None


@dataclass(frozen=True)
class KindPolicy:
    owner_queue: str
    sla_business_days: int | None


@dataclass(frozen=True)
class RoutingTable:
    policies: Mapping[str, KindPolicy]
    triage_queue: str = DEFAULT_TRIAGE_QUEUE
    triage_sla_business_days: int = DEFAULT_TRIAGE_SLA_BUSINESS_DAYS

    @classmethod
    def build(
        cls,
        *,
        sla_business_days: Mapping[str, int | None],
        owner_queues: Mapping[str, str | None],
        triage_queue: str = DEFAULT_TRIAGE_QUEUE,
        triage_sla_business_days: int = DEFAULT_TRIAGE_SLA_BUSINESS_DAYS,
    ) -> RoutingTable:
        """Check the configuration and build the table; every error is listed at once."""
        problems = _configuration_problems(
            sla_business_days, owner_queues, triage_queue, triage_sla_business_days
        )
        if problems:
            raise RoutingConfigurationError("notice-intake cannot start: " + "; ".join(problems))
        policies = {
            kind: KindPolicy(str(owner_queues[kind]).strip(), days)
            for kind, days in sla_business_days.items()
        }
        return cls(policies, triage_queue.strip(), triage_sla_business_days)

    def is_known(self, kind: str) -> bool:
        return kind in self.policies

    def route_notice(self, kind: str, issued_at: datetime, calendar: BusinessCalendar) -> Route:
        """A readable notice: its kind's queue, SLA counted from `issued_at` (not arrival)."""
        policy = self.policies.get(kind)
        if policy is None:
            return self._triage(to_jst_date(issued_at), calendar)
        if policy.sla_business_days is None:
            return Route(policy.owner_queue, None)
        due = calendar.sla_due_on(issued_at, policy.sla_business_days)
        return Route(policy.owner_queue, due)

    def route_quarantined(self, received_at: datetime, calendar: BusinessCalendar) -> Route:
        """Quarantined input: triage, counted from arrival because `issued_at` may be unreadable."""
        return self._triage(to_jst_date(received_at), calendar)

    def _triage(self, start: date, calendar: BusinessCalendar) -> Route:
        due = calendar.add_business_days(start, self.triage_sla_business_days)
        return Route(self.triage_queue, due)


@dataclass
class BatchRoutes:
    """The routes of one batch, each computed once per (kind, JST date).

    A route depends on the issue (or arrival) instant only through its JST date, and a burst
    holds thousands of notices of a few kinds issued on a few days: counting business days for
    each was a tenth of intake's CPU per notice. Made per batch, so a change of calendar or
    table is never hidden behind an old entry.
    """

    table: RoutingTable
    calendar: BusinessCalendar
    _known: dict[tuple[str | None, date], Route] = field(default_factory=dict)

    def route_notice(self, kind: str, issued_at: datetime) -> Route:
        key = (kind, to_jst_date(issued_at))
        route = self._known.get(key)
        if route is None:
            route = self._known[key] = self.table.route_notice(kind, issued_at, self.calendar)
        return route

    def route_quarantined(self, received_at: datetime) -> Route:
        key = (None, to_jst_date(received_at))
        route = self._known.get(key)
        if route is None:
            route = self._known[key] = self.table.route_quarantined(received_at, self.calendar)
        return route


def _configuration_problems(
    sla_business_days: Mapping[str, int | None],
    owner_queues: Mapping[str, str | None],
    triage_queue: str,
    triage_sla_business_days: int,
) -> list[str]:
    problems: list[str] = []
    unowned = sorted(k for k in sla_business_days if not (owner_queues.get(k) or "").strip())
    if unowned:
        problems.append(
            f"known notice kind(s) {', '.join(unowned)} have no owner queue; "
            "add them to NOTICE_KIND_QUEUES (a JSON object kind → queue)"
        )
    without_days = sorted(kind for kind in owner_queues if kind not in sla_business_days)
    if without_days:
        problems.append(
            f"notice kind(s) {', '.join(without_days)} have a queue but no SLA; add them to "
            "NOTICE_KIND_SLA_DAYS (business days, or null for no SLA)"
        )
    negative = sorted(k for k, d in sla_business_days.items() if d is not None and d < 0)
    if negative:
        problems.append(f"negative SLA days for {', '.join(negative)} in NOTICE_KIND_SLA_DAYS")
    if not triage_queue.strip():
        problems.append("TRIAGE_QUEUE is empty")
    if triage_sla_business_days < 0:
        problems.append("TRIAGE_SLA_DAYS is negative")
    return problems
