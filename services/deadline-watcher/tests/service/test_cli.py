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


async def test_overdue_lists_past_due_deadlines_whose_breach_has_not_fired_yet(
    deployment: Deployment,
) -> None:
    # A long settle delay: the overdue deadline is stored, but nothing of it has fired yet.
    watcher = await deployment.start_watcher(catchup_settle_s=600)
    now = datetime.now(UTC)
    await deployment.schedule(
        request("past-due", "notice_sla", due_on=date(2022, 3, 15)),
        request("upcoming", "card_pickup", due_at=now + timedelta(days=10)),
    )
    await deployment.events_until(lambda es: len(of_type(es, "scheduled")) == 2)

    code, output = await run_cli("--breached", "--json", "--url", watcher.url)
    assert (code, json.loads(output)["deadlines"]) == (0, [])  # what --breached cannot show
    code, output = await run_cli("--overdue", "--json", "--url", watcher.url)
    (overdue,) = json.loads(output)["deadlines"]
    assert (overdue["key"], overdue["overdue"], overdue["breached"]) == ("past-due", True, False)


async def test_a_capped_list_says_how_many_match_and_that_it_was_cut(
    deployment: Deployment,
) -> None:
    watcher = await deployment.start_watcher()
    now = datetime.now(UTC)
    keys = [f"cap-{n}" for n in range(3)]
    await deployment.schedule(
        *(
            request(key, "card_pickup", due_at=now + timedelta(days=5 + n))
            for n, key in enumerate(keys)
        )
    )
    await deployment.events_until(lambda es: len(of_type(es, "scheduled")) == 3)

    code, output = await run_cli("--limit", "2", "--json", "--url", watcher.url)
    report = json.loads(output)
    assert code == 0
    assert {"generated_at", "count", "deadlines"} <= set(report)  # the keys scripts rely on
    assert (report["count"], report["total"], report["truncated"]) == (2, 3, True)
    assert [d["key"] for d in report["deadlines"]] == keys[:2]

    code, output = await run_cli("--limit", "2", "--url", watcher.url)
    assert "2 of 3" in output
    assert "Only 2 of 3 deadlines shown" in output

    code, output = await run_cli("--limit", "3", "--json", "--url", watcher.url)
    report = json.loads(output)
    assert (report["count"], report["total"], report["truncated"]) == (3, 3, False)
