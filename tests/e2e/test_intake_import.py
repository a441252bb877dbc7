"""`mynaflow notices import` against the real Kafka, and through notice-intake.

- a Shift_JIS CSV with 髙 and 﨑 arrives on `jlis.notices.raw` as UTF-8 JSON with them intact;
- a 10,000-row file is published in full, one record per row;
- malformed rows are listed with their line numbers, still published as their raw line, and
  notice-intake quarantines and receipts them; `mynaflow intake stats --json` counts them.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from mynaflow.domain.personal_number import personal_number_check_digit
from mynaflow.settings import MynaflowSettings
from mynaflow_testing.harness.notice_intake import (
    read_until,
    read_whole_topic,
    start_in_process,
)
from notice_intake.settings import NoticeIntakeSettings

pytestmark = pytest.mark.e2e


HEADER = "notice_id,kind,municipality_code,issued_at,application_id,resident_ref,sequence,details"
ISSUED = "2025-05-01T10:00:00+09:00"


MYNAFLOW = str(Path(sys.executable).parent / "mynaflow")


async def mynaflow(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """The operator's command, as a real process (the service may run in this event loop)."""
    process = await asyncio.create_subprocess_exec(
        MYNAFLOW,
        *args,
        env=os.environ | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


def row(notice_id: str, details: str = '"{""氏名"": ""髙橋 﨑子""}"', sequence: int = 1) -> str:
    return f"{notice_id},record_update_required,141046,{ISSUED},A-1,R-1,{sequence},{details}"


def kafka_env(settings: MynaflowSettings) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TOPIC_PREFIX": settings.topic_prefix,
    }


async def run_import(path: Path, settings: MynaflowSettings, *args: str) -> dict[str, Any]:
    code, out, err = await mynaflow(
        kafka_env(settings), "notices", "import", str(path), "--json", *args
    )
    assert code == 0, err
    summary: dict[str, Any] = json.loads(out)
    return summary


async def test_shift_jis_csv_keeps_its_kanji(
    kafka_settings: MynaflowSettings, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    path = tmp_path / "sjis.csv"
    path.write_bytes(f"{HEADER}\r\n{row(f'{run}-1')}\r\n".encode("cp932"))
    summary = await run_import(path, kafka_settings)
    assert (summary["encoding"], summary["rows_read"], summary["published"]) == ("shift_jis", 1, 1)
    records = await read_whole_topic(kafka_settings, summary["topic"])
    assert len(records) == 1
    key, value = records[0]
    assert key == f"{run}-1".encode()
    assert json.loads(value)["details"] == {"氏名": "髙橋 﨑子"}


async def test_ten_thousand_rows_are_all_published(
    kafka_settings: MynaflowSettings, tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"
    lines = [HEADER, *(row(f"B-{n:05d}", sequence=n) for n in range(10_000))]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    summary = await run_import(path, kafka_settings, "--encoding", "shift_jis")
    assert (summary["rows_read"], summary["published"], summary["unparseable"]) == (
        10_000,
        10_000,
        [],
    )
    records = await read_whole_topic(kafka_settings, summary["topic"])
    assert len({key for key, _ in records}) == 10_000
    assert {json.loads(value)["details"]["氏名"] for _, value in records} == {"髙橋 﨑子"}


async def test_malformed_rows_are_reported_published_and_receipted(
    kafka_settings: MynaflowSettings,
    database_url: str,
    fresh_schema: str,
    tmp_path: Path,
) -> None:
    run = uuid.uuid4().hex[:8]
    first11 = f"{uuid.uuid4().int % 10**11:011d}"
    number = first11 + str(personal_number_check_digit(first11))
    path = tmp_path / "mixed.csv"
    lines = [
        HEADER,
        row(f"{run}-ok"),
        f"{run}-short,record_update_required",  # line 3: too few columns
        row(f"{run}-badjson", details='"{oops"'),  # line 4: details is not JSON
        row(f"{run}-baddate").replace(ISSUED, "2025-02-30T10:00:00+09:00"),  # parses; intake
        row(f"{run}-number", details=f'"{{""memo"": ""{number}""}}"'),  # redacted on the way
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = await run_import(path, kafka_settings)
    assert [
        (u["line"], "columns" in u["error"] or "details" in u["error"])
        for u in summary["unparseable"]
    ] == [
        (3, True),
        (4, True),
    ]
    assert (summary["rows_read"], summary["published"]) == (5, 5)
    assert summary["individual_numbers_redacted"] == 1
    published = await read_whole_topic(kafka_settings, summary["topic"])
    assert len(published) == 5
    assert [value for _, value in published if number.encode() in value] == []

    settings = NoticeIntakeSettings(
        kafka_bootstrap_servers=kafka_settings.kafka_bootstrap_servers,
        database_url=database_url,
        topic_prefix=kafka_settings.topic_prefix,
        http_port=0,
    )
    intake = await start_in_process(settings, schema=fresh_schema)
    try:
        events = await read_until(
            kafka_settings,
            f"{kafka_settings.topic_prefix}intake.receipts",
            lambda evs: len(evs) >= 5,
        )
        statuses = sorted((e["data"]["notice_id"] or "", e["data"]["status"]) for e in events)
        assert statuses == sorted(
            [
                (f"{run}-ok", "accepted"),
                ("", "quarantined"),  # the short row: its raw line is not JSON
                ("", "quarantined"),  # the row whose details were not JSON
                (f"{run}-baddate", "quarantined"),
                (f"{run}-number", "quarantined"),
            ]
        )
        env = {"NOTICE_INTAKE_URL": intake.url}
        code, out, err = await mynaflow(env, "intake", "stats", "--json")
        assert code == 0, err
        stats = json.loads(out)
        reasons = {e["data"]["notice_id"]: e["data"]["reasons"] for e in events}
        assert [r["code"] for r in reasons[f"{run}-number"]] == ["personal_number_present"]
        assert stats["by_status"] == {"accepted": 1, "duplicate": 0, "quarantined": 4}
        assert stats["by_kind"]["(unreadable)"]["quarantined"] == 2
        assert stats["oldest_receipt"]["received_at"]
        code, table_output, _ = await mynaflow(env, "intake", "stats")
        assert code == 0
        assert "Receipts by status" in table_output
    finally:
        assert await intake.stop() == 0


async def test_a_bad_file_and_an_unreachable_kafka_fail_loudly(tmp_path: Path) -> None:
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("id,kind\n1,x\n", encoding="utf-8")
    env = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "TOPIC_PREFIX": "unused."}
    code, _, err = await mynaflow(env, "notices", "import", str(bad_header), "--json")
    assert code == 2
    assert "notice_id" in err
    good = tmp_path / "good.csv"
    good.write_text(f"{HEADER}\n{row('N-1')}\n", encoding="utf-8")
    code, out, _ = await mynaflow(env, "notices", "import", str(good), "--json")
    summary = json.loads(out)
    assert code == 1
    assert (summary["rows_read"], summary["published"]) == (1, 0)
    assert summary["error"]


def run_in_terminal(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run the command on a pseudo-terminal, as an operator would, and read all it draws."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal is its stdin, stdout and stderr
        os.execve(MYNAFLOW, [MYNAFLOW, *args], os.environ | env)
    drawn = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), drawn.decode("utf-8", "replace")


async def test_a_terminal_gets_a_progress_bar_and_a_pipe_does_not(
    kafka_settings: MynaflowSettings, tmp_path: Path
) -> None:
    path = tmp_path / "notices.csv"
    lines = [HEADER, *(row(f"T-{n:05d}", sequence=n) for n in range(3000))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = kafka_env(kafka_settings)
    code, drawn = await asyncio.to_thread(run_in_terminal, env, "notices", "import", str(path))
    assert code == 0, drawn
    assert "Publishing notices" in drawn  # the bar
    assert "rows read" in drawn  # then the summary table
    code, out, err = await mynaflow(env, "notices", "import", str(path))
    assert code == 0
    assert "Publishing notices" not in out + err
    assert "rows read" in out
