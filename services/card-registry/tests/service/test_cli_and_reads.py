"""The operator CLI against a running card-registry, and the guard of its read endpoints."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.harness.card_registry import (
    RegistryRun,
    moved_in_event,
    registry_settings,
    start_registry,
)
from mynaflow_testing.waiting import wait_for
from mynaflow_tools.cli.main import build_app
from typer.testing import CliRunner

pytestmark = pytest.mark.service


def invoke(*args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(build_app(), list(args))
    try:
        return result.exit_code, json.loads(result.output)
    except json.JSONDecodeError:
        return result.exit_code, result.output


async def cli(*args: str) -> tuple[int, Any]:
    """The CLI is synchronous: run it off the loop that serves card-registry."""
    return await asyncio.to_thread(invoke, *args)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, registry: RegistryRun) -> None:
    monkeypatch.setenv("TOPIC_PREFIX", registry.settings.topic_prefix)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", registry.settings.kafka_bootstrap_servers)
    monkeypatch.setenv("CARD_REGISTRY_URL", registry.url)
    monkeypatch.setenv("MYNAFLOW_STAFF_ID", "S-1")


@pytest.mark.usefixtures("cli_env")
async def test_staff_commands_wait_for_the_answer_and_reports_read_the_endpoints(
    registry: RegistryRun,
) -> None:
    code, answer = await cli("staff", "staff-joined-queue", "--queue", "card-counter", "--json")
    assert (code, answer["type"]) == (0, "jp.mynaflow.registry.command-accepted.v1")
    await registry.moves(moved_in_event("R-1", "C-1"))
    code, answer = await cli("staff", "record-chip-rewrite", "--card", "C-1", "--json")
    assert code == 0, answer
    code, answer = await cli("staff", "verify-chip-rewrite", "--card", "C-1", "--json")
    assert (code, answer["data"]["reason"]) == (3, "four_eyes_same_staff")

    code, report = await cli("cases", "like", "--kind", "chip_rewrite", "--overdue", "--json")
    assert code == 0
    [case] = report["cases"]
    assert (case["case_id"], case["resident_id"], case["household_id"], case["overdue"]) == (
        "C-1",
        "R-1",
        "H-1",
        True,
    )
    code, queues = await cli("queues", "--json")
    assert queues["queues"] == [
        {
            "queue": "card-counter",
            "members": ["S-1"],
            "orphaned": False,
            "open_items": 0,
            "overdue_items": 0,
        }
    ]
    code, history = await cli("history", "card", "C-1", "--json")
    assert [(h["action"], h["outcome"], h["staff_id"]) for h in history["history"]] == [
        ("move-in-case-opened", "received", None),
        ("record-chip-rewrite", "accepted", "S-1"),
        ("verify-chip-rewrite", "rejected:four_eyes_same_staff", "S-1"),
    ]
    code, backlog = await cli("backlog", "--json")
    assert (code, backlog) == (0, {"count": 0, "items": []})
    code, text = await cli("queues")
    assert code == 0
    assert "card-counter" in text
    assert "staffed" in text
    code, text = await cli("history", "card", "C-1")
    # Rich folds long cells to the runner's 80 columns: check the parts that fit.
    assert "History of card C-1" in text
    assert "_same_staff" in text
    pool = await registry.pool()
    readers = await pool.fetch("SELECT reader, route FROM access_log ORDER BY id")
    assert [(row["reader"], row["route"]) for row in readers] == [
        ("S-1", "/cases-like"),
        ("S-1", "/queues"),
        ("S-1", "/history"),
        ("S-1", "/backlog"),
        ("S-1", "/queues"),
        ("S-1", "/history"),
    ]


async def test_bound_beyond_loopback_the_reads_need_the_bearer_token(
    kafka_settings: MynaflowSettings, database_url: str
) -> None:
    settings = registry_settings(
        kafka_settings, database_url, http_host="0.0.0.0", read_token="s3cret"
    )
    run = await start_registry(settings)
    try:
        async with httpx.AsyncClient(base_url=run.url, timeout=10) as client:
            refused = await client.get("/queues")
            wrong = await client.get("/queues", headers={"Authorization": "Bearer nope"})
            allowed = await client.get("/queues", headers={"Authorization": "Bearer s3cret"})
        assert (refused.status_code, wrong.status_code, allowed.status_code) == (401, 401, 200)
        pool = await run.pool()
        logged = await wait_for(lambda: pool.fetchval("SELECT count(*) FROM access_log"))
        assert logged == 1
    finally:
        await run.close()


async def test_bound_beyond_loopback_without_a_token_it_refuses_to_start(
    kafka_settings: MynaflowSettings, database_url: str
) -> None:
    settings = registry_settings(kafka_settings, database_url, http_host="0.0.0.0")
    with pytest.raises(AssertionError, match="did not start"):
        await start_registry(settings)
