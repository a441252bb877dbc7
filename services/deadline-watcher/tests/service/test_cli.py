"""`mynaflow deadlines` reads the watcher's HTTP read endpoint (never its tables)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from mynaflow_testing.harness.deadline_watcher import Deployment, of_type, request
from mynaflow_tools.cli.main import build_app
from typer.testing import CliRunner

pytestmark = pytest.mark.service


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), ["deadlines", *args])
    return result.exit_code, result.output


async def run_cli(*args: str) -> tuple[int, str]:
    """The CLI is synchronous: run it off the event loop that serves the watcher's HTTP."""
    return await asyncio.to_thread(invoke, *args)


async def test_deadlines_lists_upcoming_breached_and_by_policy(deployment: Deployment) -> None:
    watcher = await deployment.start_watcher(catchup_settle_s=0.5)
    now = datetime.now(UTC)
    await deployment.schedule(
        request("soon", "card_pickup", due_at=now + timedelta(days=10)),
        request("later", "card_renewal", due_at=now + timedelta(days=60)),
        request("case-a", "notice_sla", due_on=date(2022, 3, 15)),
    )
    await deployment.events_until(lambda es: bool(of_type(es, "breached", "case-a")))

    code, output = await run_cli("--json", "--url", watcher.url)
    assert code == 0, output
    assert [d["key"] for d in json.loads(output)["deadlines"]] == ["case-a", "soon"]

    code, output = await run_cli("--breached", "--json", "--url", watcher.url)
    (breached,) = json.loads(output)["deadlines"]
    assert (breached["key"], breached["breached"], breached["overdue"]) == ("case-a", True, True)
    stages = {(s["stage"], s["repetition"]): s["status"] for s in breached["stages"]}
    assert stages[("breach", 0)] == "fired"
    assert stages[("escalate", 0)] == "fired"
    assert stages[("due_today", 0)] == "skipped"

    code, output = await run_cli(
        "--due-within", "90d", "--policy", "card_renewal", "--json", "--url", watcher.url
    )
    assert [d["key"] for d in json.loads(output)["deadlines"]] == ["later"]

    code, output = await run_cli("--url", watcher.url)
    assert code == 0
    assert "case-a" in output
    assert "BREACHED" in output


def test_an_absent_watcher_is_reported() -> None:
    code, output = invoke("--url", "http://127.0.0.1:9", "--json")
    assert code == 1
    assert "did not answer" in output


async def test_a_bad_window_is_a_clear_error(deployment: Deployment) -> None:
    watcher = await deployment.start_watcher()
    code, output = await run_cli("--due-within", "3 weeks", "--url", watcher.url)
    assert code == 2
    assert "offset" in output
