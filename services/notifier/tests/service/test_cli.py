"""`mynaflow letters apology|approve` publish to `notifier.commands` and follow the batch on
`notifier.deliveries`; `mynaflow deliveries` reads the notifier's `GET /deliveries`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from mynaflow_testing.kafka_helpers import produce
from mynaflow_tools.cli.main import build_app
from typer.testing import CliRunner

from .conftest import MakeSettings
from .events import encoded, moved_in
from .test_apology_batch import case

pytestmark = pytest.mark.service


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args))
    return result.exit_code, result.output


async def run_cli(*args: str) -> tuple[int, str]:
    """The CLI is synchronous: run it off the event loop that serves the notifier."""
    return await asyncio.to_thread(invoke, *args)


async def test_apology_letters_from_a_cases_report_released_by_a_second_person(
    notifier_settings: MakeSettings,
    start_notifier: Any,
    kafka_topics: dict[str, str],
    topic_prefix: str,
    kafka_bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    settings = notifier_settings()
    service = await start_notifier(settings)
    moves = [moved_in(f"R-{n:03d}", f"H-{n // 2:03d}", f"住民 {n}号") for n in range(3)]
    await produce(settings, kafka_topics["resident.moves"], [encoded(m) for m in moves])
    report = {
        "kind": "record_update_required",
        "cases": [case(n).model_dump(mode="json") for n in range(3)],
    }
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(report), "utf-8")

    code, output = await run_cli(
        "letters",
        "apology",
        "--cases-from",
        str(cases_file),
        "--staff",
        "S-0107",
        "--batch",
        "B-1",
        "--json",
    )
    assert code == 0, output
    assert (json.loads(output)["households"], json.loads(output)["cases"]) == (2, 3)

    code, output = await run_cli("letters", "approve", "B-1", "--staff", "S-0107", "--json")
    assert code == 3, output
    assert json.loads(output)["reason"] == "same_staff"

    code, output = await run_cli("letters", "approve", "B-1", "--staff", "M-RECORDS", "--json")
    assert code == 0, output
    assert json.loads(output)["letters"] == 2
    assert len(list((tmp_path / "letters" / "B-1").glob("*.pdf"))) == 2

    code, output = await run_cli(
        "deliveries", "--recipient", "R-001", "--json", "--url", service.url
    )
    assert code == 0, output
    (row,) = json.loads(output)["deliveries"]
    assert (row["channel"], row["status"], row["batch_id"]) == ("letter", "sent", "B-1")
    assert "住民" not in output, "the delivery log names residents by id only"


def test_an_absent_notifier_is_reported() -> None:
    code, output = invoke("deliveries", "--url", "http://127.0.0.1:9", "--json")
    assert code == 1
    assert "did not answer" in output


def test_a_bad_status_is_a_clear_error() -> None:
    code, output = invoke("deliveries", "--status", "lost")
    assert code == 2
    assert "--status" in output
