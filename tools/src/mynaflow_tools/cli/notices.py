"""`mynaflow notices import PATH`: publish a J-LIS notice file to `jlis.notices.raw`.

CSV (UTF-8 or Shift_JIS, detected or `--encoding`) or JSON Lines; see `mynaflow_tools.importer`.
Every row is published, even one that cannot be parsed (as its raw line, individual numbers
redacted), so notice-intake quarantines and receipts it: nothing in a file is silently
dropped. The producer waits for every acknowledgement (acks=all, idempotent); the Kafka key is
the notice id when it can be read, which keeps one notice's copies in order.

Exit codes: 0 every row was published (the summary lists rows that did not parse, with their
line numbers); 1 publishing failed (the summary says how far it got); 2 the file itself cannot
be read (a missing file, a CSV header without the contract's fields).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from aiokafka import AIOKafkaProducer
from mynaflow.contracts.topics import JLIS_NOTICES_RAW, topic_name
from mynaflow.messaging.topics_admin import kafka_client_options
from rich.console import Console

from mynaflow_tools.cli.output import (
    JsonOption,
    ProgressTracker,
    emit,
    progress,
    stderr_console,
    table,
)
from mynaflow_tools.cli.settings import CliSettings, load_cli_settings
from mynaflow_tools.importer import ImportFileError, ImportRow, NoticeFile, read_notice_file

EXIT_OK = 0
EXIT_PUBLISH_FAILED = 1
EXIT_BAD_FILE = 2
# Sends in flight before waiting for their acknowledgements (bounded memory, steady progress).
_WINDOW = 1000

notices_app = typer.Typer(name="notices", help="J-LIS notices: import files.", no_args_is_help=True)


@dataclass(frozen=True)
class UnparseableRow:
    line: int
    error: str


@dataclass
class ImportSummary:
    file: str
    format: str
    encoding: str
    topic: str
    # Rows in the file (blank lines are not rows) and rows Kafka acknowledged.
    rows_read: int = 0
    published: int = 0
    unparseable: list[UnparseableRow] = field(default_factory=list)
    individual_numbers_redacted: int = 0
    error: str | None = None

    def to_data(self) -> dict[str, Any]:
        return asdict(self)


def register(app: typer.Typer) -> None:
    app.add_typer(notices_app, name="notices")


@notices_app.command("import")
def import_notices(
    path: Annotated[Path, typer.Argument(help="CSV (header row) or JSON Lines file.")],
    encoding: Annotated[
        Literal["utf-8", "shift_jis"] | None,
        typer.Option(help="Force the encoding; by default UTF-8 is detected, else Shift_JIS."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Publish every notice of a file to jlis.notices.raw, then print a summary."""
    settings = load_cli_settings()
    try:
        notice_file = read_notice_file(path, encoding=encoding)
        rows = list(notice_file.rows())
    except (OSError, ImportFileError) as error:
        stderr_console().print(f"[red]cannot import {path}:[/red] {error}")
        raise typer.Exit(EXIT_BAD_FILE) from error
    summary = _new_summary(path, notice_file, settings)
    summary.rows_read = len(rows)
    with progress(
        "Publishing notices", total=len(rows), enabled=None if not as_json else False
    ) as bar:
        asyncio.run(publish_rows(settings, summary, rows, bar))
    emit(summary.to_data(), as_json=as_json, render=_render)
    if summary.error is not None:
        raise typer.Exit(EXIT_PUBLISH_FAILED)


def _new_summary(path: Path, notice_file: NoticeFile, settings: CliSettings) -> ImportSummary:
    return ImportSummary(
        file=str(path),
        format=notice_file.format.value,
        encoding=notice_file.encoding,
        topic=topic_name(JLIS_NOTICES_RAW, settings.topic_prefix),
    )


async def publish_rows(
    settings: CliSettings, summary: ImportSummary, rows: list[ImportRow], bar: ProgressTracker
) -> None:
    """Publish in file order, counting a row as published only once Kafka acknowledged it."""
    producer = AIOKafkaProducer(
        acks="all", enable_idempotence=True, linger_ms=10, **kafka_client_options(settings)
    )
    try:
        await producer.start()
        for start in range(0, len(rows), _WINDOW):
            window = rows[start : start + _WINDOW]
            await _publish_window(producer, summary, window, bar)
    except Exception as error:  # the summary must still say how far it got
        summary.error = f"{type(error).__name__}: {error}"
    finally:
        await producer.stop()


async def _publish_window(
    producer: AIOKafkaProducer, summary: ImportSummary, rows: list[ImportRow], bar: ProgressTracker
) -> None:
    sends = [
        await producer.send(
            summary.topic, row.payload, key=row.key.encode("utf-8") if row.key else None
        )
        for row in rows
    ]
    for row, sent in zip(rows, sends, strict=True):
        await sent
        _count(summary, row)
        bar.advance()


def _count(summary: ImportSummary, row: ImportRow) -> None:
    summary.published += 1
    summary.individual_numbers_redacted += row.redactions
    if row.error is not None:
        summary.unparseable.append(UnparseableRow(row.line, row.error))


def _render(data: dict[str, Any], console: Console) -> None:
    rows = [
        ("file", data["file"]),
        ("format / encoding", f"{data['format']} / {data['encoding']}"),
        ("topic", data["topic"]),
        ("rows read", data["rows_read"]),
        ("published", data["published"]),
        ("unparseable (published raw, intake quarantines them)", len(data["unparseable"])),
        ("individual numbers redacted", data["individual_numbers_redacted"]),
    ]
    if data["error"]:
        rows.append(("[red]publishing failed[/red]", data["error"]))
    console.print(table("Notice import", ["", ""], rows))
    if data["unparseable"]:
        lines = [(row["line"], row["error"]) for row in data["unparseable"]]
        console.print(table("Rows that did not parse", ["line", "why"], lines))
