"""`GET /stats`: the read endpoint `mynaflow intake stats` calls (it never reads our tables)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from notice_intake.service_layer.deps import IntakeDeps
from notice_intake.service_layer.reports import intake_stats

STATS_PATH = "/stats"


def stats_route(deps: IntakeDeps) -> Callable[[Mapping[str, str]], Awaitable[Any]]:
    async def stats(_query: Mapping[str, str]) -> dict[str, Any]:
        return await intake_stats(deps)

    return stats
