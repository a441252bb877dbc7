"""`mynaflow deliveries`: the notifier's delivery log (ids only, never an address).

    mynaflow deliveries                         the latest deliveries
    mynaflow deliveries --recipient R-000731    one resident's (or a staff member's) deliveries
    mynaflow deliveries --status dead --json

The CLI asks the notifier's `GET /deliveries` (`NOTIFIER_URL`); it never reads its tables.

Exit codes: 0 the log was read; 1 the notifier did not answer; 2 a bad option.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer
from mynaflow.contracts.notifier import DELIVERY_STATUSES
from rich.console import Console

from mynaflow_tools.cli.output import JsonOption, emit, stderr_console, table
from mynaflow_tools.cli.settings import load_cli_settings

EXIT_UNREACHABLE = 1
EXIT_BAD_OPTION = 2


def register(app: typer.Typer) -> None:
    app.command("deliveries")(deliveries)


def fetch_deliveries(base_url: str, params: dict[str, str], timeout_s: float) -> dict[str, Any]:
    response = httpx.get(f"{base_url.rstrip('/')}/deliveries", params=params, timeout=timeout_s)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def deliveries(
    recipient: Annotated[
        str | None, typer.Option("--recipient", help="A resident id or a staff id.")
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help=f"One of: {', '.join(DELIVERY_STATUSES)}.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: JsonOption = False,
    url: Annotated[
        str | None, typer.Option(help="The notifier's base URL (default: NOTIFIER_URL).")
    ] = None,
) -> None:
    """Every (event, recipient, channel) the notifier recorded, newest first, with its status."""
    if status is not None and status not in DELIVERY_STATUSES:
        stderr_console().print(f"[red]--status must be one of {', '.join(DELIVERY_STATUSES)}[/red]")
        raise typer.Exit(EXIT_BAD_OPTION)
    settings = load_cli_settings()
    base_url = url or settings.notifier_url
    params = {"limit": str(limit)}
    if recipient:
        params["recipient"] = recipient
    if status:
        params["status"] = status
    try:
        data = fetch_deliveries(base_url, params, settings.cli_http_timeout_s)
    except httpx.HTTPError as error:
        stderr_console().print(f"[red]the notifier at {base_url} did not answer:[/red] {error}")
        raise typer.Exit(EXIT_UNREACHABLE) from error
    emit(data, as_json=as_json, render=render_deliveries)


def render_deliveries(data: dict[str, Any], console: Console) -> None:
    rows = [
        (
            (row["created_at"] or "")[:19],
            row["recipient_id"],
            row["channel"],
            row["template"],
            row["status"],
            row["attempts"],
            row["batch_id"] or "",
        )
        for row in data["deliveries"]
    ]
    columns = ("recorded", "recipient", "channel", "template", "status", "attempts", "batch")
    console.print(table(f"Deliveries ({data['count']})", columns, rows))
