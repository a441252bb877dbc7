"""The benchmark script runs end to end on a small count (the real figures: docs/BENCHMARKS.md)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.service

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_deadlines.py"


@pytest.mark.usefixtures("kafka_bootstrap", "database_url")  # both servers must answer
async def test_the_benchmark_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--count",
        "2000",
        "--burst",
        "500",
        "--tick-repeats",
        "20",
        "--json",
        str(out),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 240)
    assert process.returncode == 0, output.decode()[-3000:]
    result = json.loads(out.read_text())
    assert result["ingest"]["stored_per_s"] > 0
    assert [tick["deadlines"] for tick in result["ticks"]] == [2000]
    assert result["burst_result"]["fired_per_s"] > 0
    assert result["baseline"]["copy_rows_per_s"] > 0
    assert "Limit" in result["explain_claim"]
