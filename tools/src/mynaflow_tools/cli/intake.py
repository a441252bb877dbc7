"""`mynaflow intake stats`: what notice-intake has acknowledged, from its `GET /stats`.

Counts by status and kind (duplicates count once per duplicate message), content conflicts,
open sequence gaps (reported, or still within the grace period), and the oldest stored receipt.
The CLI asks the service over HTTP (`NOTICE_INTAKE_URL`); it never reads its tables.

Exit codes: 0 the report was read; 1 notice-intake did not answer.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from mynaflow_tools.cli.output import JsonOption, emit, stderr_console, table
from mynaflow_tools.cli.settings import load_cli_settings

EXIT_OK = 0
EXIT_UNREACHABLE = 1

intake_app = typer.Typer(
    name="intake", help="notice-intake: receipts and sequence gaps.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(intake_app, name="intake")


def fetch_stats(base_url: str, timeout_s: float) -> dict[str, Any]:
    response = httpx.get(f"{base_url.rstrip('/')}/stats", timeout=timeout_s)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


@intake_app.command("stats")
def stats(
    as_json: JsonOption = False,
    url: Annotated[
        str | None, typer.Option(help="notice-intake's base URL (default: NOTICE_INTAKE_URL).")
    ] = None,
) -> None:
    """Receipts by status and kind, open sequence gaps, the oldest receipt."""
    settings = load_cli_settings()
    base_url = url or settings.notice_intake_url
    try:
        data = fetch_stats(base_url, settings.cli_http_timeout_s)
    except httpx.HTTPError as error:
        stderr_console().print(f"[red]notice-intake at {base_url} did not answer:[/red] {error}")
        raise typer.Exit(EXIT_UNREACHABLE) from error
    emit(data, as_json=as_json, render=_render)


def _render(data: dict[str, Any], console: Console) -> None:
    by_status = data["by_status"]
    console.print(
        table(
            "Receipts by status",
            ["accepted", "duplicate", "quarantined", "content conflicts"],
            [
                (
                    *(by_status[s] for s in ("accepted", "duplicate", "quarantined")),
                    data["content_conflicts"],
                )
            ],
        )
    )
    kinds = [
        (kind, counts["accepted"], counts["duplicate"], counts["quarantined"])
        for kind, counts in data["by_kind"].items()
    ]
    console.print(
        table("Receipts by kind", ["kind", "accepted", "duplicate", "quarantined"], kinds)
    )
    gaps = [
        (
            g["municipality_code"],
            f"{g['first_missing']}–{g['last_missing']}",
            g["missing_count"],
            g["first_seen_missing_at"],
            "reported" if g["reported"] else "within grace",
        )
        for g in data["open_gaps"]
    ]
    title = f"Open sequence gaps ({data['open_gap_count']})"
    console.print(table(title, ["municipality", "missing", "count", "first seen", "state"], gaps))
    oldest = data["oldest_receipt"]
    if oldest:
        console.print(
            table(
                "Oldest receipt",
                ["received at", "notice id", "kind", "status", "queue", "due"],
                [
                    (
                        oldest["received_at"],
                        oldest["notice_id"],
                        oldest["kind"],
                        oldest["status"],
                        oldest["owner_queue"],
                        oldest["sla_due_on"],
                    )
                ],
            )
        )
