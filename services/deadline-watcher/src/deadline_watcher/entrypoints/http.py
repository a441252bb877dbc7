"""`GET /deadlines`: the read endpoint `mynaflow deadlines` calls (it never reads our tables).

Query parameters (all optional): `due_within` (an offset like `30d`, `5bd`, `12h`: open deadlines
due before now + that, overdue ones included), `breached` (`true`: only those whose breach has
fired), `overdue` (`true`: only those past due, whether their breach has fired yet or not),
`policy`, `include_cleared` (`true`), `limit` (default 1000, at most 10000).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mynaflow.runtime.http import HttpError

from deadline_watcher.domain.ladder import shift
from deadline_watcher.domain.policies import Offset
from deadline_watcher.service_layer.deps import WatcherDeps
from deadline_watcher.service_layer.reports import MAX_REPORT_ROWS, ReportQuery, deadline_report

DEADLINES_PATH = "/deadlines"
_TRUE = {"1", "true", "yes", "on"}


def _flag(query: Mapping[str, str], name: str) -> bool:
    return query.get(name, "").strip().lower() in _TRUE


def parse_report_query(query: Mapping[str, str], deps: WatcherDeps) -> ReportQuery:
    due_before = None
    if query.get("due_within"):
        try:
            offset = Offset.parse(query["due_within"])
        except ValueError as error:
            raise HttpError(400, f"due_within: {error}") from error
        due_before = shift(deps.clock.now(), offset, deps.calendar)
    try:
        limit = int(query.get("limit", "1000"))
    except ValueError as error:
        raise HttpError(400, "limit must be a whole number") from error
    if not 1 <= limit <= MAX_REPORT_ROWS:
        raise HttpError(400, f"limit must be between 1 and {MAX_REPORT_ROWS}")
    return ReportQuery(
        due_before=due_before,
        breached_only=_flag(query, "breached"),
        overdue_at=deps.clock.now() if _flag(query, "overdue") else None,
        policy=query.get("policy") or None,
        include_cleared=_flag(query, "include_cleared"),
        limit=limit,
    )


def deadlines_route(deps: WatcherDeps) -> Callable[[Mapping[str, str]], Awaitable[Any]]:
    async def list_deadlines(query: Mapping[str, str]) -> Any:
        return await deadline_report(parse_report_query(query, deps), deps)

    return list_deadlines
