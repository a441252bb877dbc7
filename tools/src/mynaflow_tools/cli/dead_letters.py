"""`mynaflow dead-letters`: what the services gave up on, and putting it back once fixed.

    mynaflow dead-letters list [--service S] [--limit N] [--json]
    mynaflow dead-letters replay notifier:3 card-registry:12 [--again] [--json]

`list` reads each service's `GET /dead-letters` (never its tables): when, why, where from, a
redacted preview, and whether it was replayed. An id is `<service>:<number>`.

`replay` re-publishes the stored bytes (redacted before they were stored) to the source topic
with their key and a `mynaflow-replay-of` header, after the cause was fixed (a policy added, a
staff member joined, a producer corrected). It first writes `dead-letter-replayed` on the
service's dead-letter topic (docs/events.md), so the same dead letter is refused the next time
unless `--again` is given: running the command twice by accident replays nothing twice.

Exit codes: 0 listed / every id replayed; 1 a service or Kafka did not answer; 2 a bad id;
3 some id was refused (already replayed, or unknown).
"""

from __future__ import annotations

import asyncio
import base64
import getpass
import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer
from aiokafka import AIOKafkaProducer
from mynaflow.contracts.dead_letter import DEAD_LETTER_REPLAYED_V1, DeadLetterReplayed
from mynaflow.contracts.envelope import CLOUDEVENTS_CONTENT_TYPE, encode_event, make_event
from mynaflow.contracts.topics import SERVICES, dead_letter_topic_for, topic_name
from mynaflow.messaging.topics_admin import kafka_client_options
from rich.console import Console

from mynaflow_tools.cli.output import JsonOption, emit, stderr_console, table
from mynaflow_tools.cli.settings import CliSettings, load_cli_settings
from mynaflow_tools.demo.feed import read_topic

EXIT_UNREACHABLE = 1
EXIT_BAD_ID = 2
EXIT_REFUSED = 3
REPLAY_HEADER = "mynaflow-replay-of"
PREVIEW_WIDTH = 60

dead_letters_app = typer.Typer(
    name="dead-letters", help="Dead letters: list them, replay them.", no_args_is_help=True
)
ServiceOption = Annotated[str | None, typer.Option("--service", help="Only this service.")]


def register(app: typer.Typer) -> None:
    app.add_typer(dead_letters_app, name="dead-letters")


def fetch(settings: CliSettings, service: str, **params: str) -> Any:
    url = settings.service_urls()[service]
    try:
        response = httpx.get(
            f"{url}/dead-letters", params=params, timeout=settings.cli_http_timeout_s
        )
    except httpx.HTTPError as error:
        stderr_console().print(f"[red]{service} at {url} did not answer:[/red] {error}")
        raise typer.Exit(EXIT_UNREACHABLE) from error
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


def replayed_ids(settings: CliSettings, service: str) -> set[int]:
    """The dead letters of `service` a replay was recorded for (its dead-letter topic)."""
    events = asyncio.run(read_topic(settings, dead_letter_topic_for(service)))
    return {
        int(e["data"]["dead_letter_id"])
        for e in events
        if e.get("type") == DEAD_LETTER_REPLAYED_V1 and e["data"].get("service") == service
    }


@dead_letters_app.command("list")
def list_dead_letters(
    service: ServiceOption = None,
    limit: Annotated[int, typer.Option("--limit", help="Newest N per service.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """When, why and a redacted preview of every dead letter, newest first."""
    settings = load_cli_settings()
    rows = []
    for name in [service] if service else list(SERVICES):
        replayed = replayed_ids(settings, name)
        for row in fetch(settings, name, limit=str(limit))["dead_letters"]:
            rows.append({**row, "id": f"{name}:{row['id']}", "replayed": row["id"] in replayed})
    emit({"dead_letters": rows}, as_json=as_json, render=_render_list)


def _render_list(data: dict[str, Any], console: Console) -> None:
    rows = [
        (
            row["id"],
            row["dead_lettered_at"][:19],
            f"{row['source_topic']}/{row['partition']}/{row['offset']}",
            row["reason"],
            row["preview"][:PREVIEW_WIDTH],
            "yes" if row["replayed"] else "",
        )
        for row in data["dead_letters"]
    ]
    console.print(
        table("Dead letters", ["id", "when (UTC)", "from", "why", "preview", "replayed"], rows)
    )


def parse_id(text: str) -> tuple[str, int]:
    service, _, number = text.rpartition(":")
    if service not in SERVICES or not number.isdigit():
        stderr_console().print(f"[red]not a dead-letter id (<service>:<number>): {text}[/red]")
        raise typer.Exit(EXIT_BAD_ID)
    return service, int(number)


@dead_letters_app.command("replay")
def replay(
    ids: Annotated[list[str], typer.Argument(help="Ids from `dead-letters list`.")],
    again: Annotated[
        bool, typer.Option("--again", help="Replay even if it was replayed before.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Re-publish dead letters to their source topic, each recorded so it is not replayed twice."""
    settings = load_cli_settings()
    wanted = [parse_id(text) for text in ids]
    outcomes = []
    for service, number in wanted:
        outcomes.append(replay_one(settings, service, number, again=again))
    emit({"replays": outcomes}, as_json=as_json, render=_render_replays)
    if any(o["outcome"] != "replayed" for o in outcomes):
        raise typer.Exit(EXIT_REFUSED)


def replay_one(settings: CliSettings, service: str, number: int, *, again: bool) -> dict[str, Any]:
    outcome: dict[str, Any] = {"id": f"{service}:{number}"}
    if not again and number in replayed_ids(settings, service):
        return outcome | {"outcome": "refused", "why": "already replayed (use --again)"}
    row = fetch(settings, service, id=str(number))
    if row is None:
        return outcome | {"outcome": "refused", "why": "no such dead letter"}
    asyncio.run(publish_replay(settings, service, row))
    return outcome | {"outcome": "replayed", "topic": row["source_topic"]}


async def publish_replay(settings: CliSettings, service: str, row: dict[str, Any]) -> None:
    """The marker first (acks=all), then the record: a crash between the two loses the replay
    (replay it `--again`) rather than doing it twice."""
    payload = base64.b64decode(row["payload_base64"])
    key = None if row["key_base64"] is None else base64.b64decode(row["key_base64"])
    marker = DeadLetterReplayed(
        service=service,
        dead_letter_id=row["id"],
        source_topic=row["source_topic"],
        partition=row["partition"],
        offset=row["offset"],
        original_sha256=hashlib.sha256(payload).hexdigest(),
        replayed_by=getpass.getuser(),
        replayed_at=datetime.now(UTC),
    )
    subject = f"{service}:{row['id']}"
    event = make_event(
        source="mynaflow-cli", event_type=DEAD_LETTER_REPLAYED_V1, data=marker, subject=subject
    )
    producer = AIOKafkaProducer(acks="all", **kafka_client_options(settings))
    await producer.start()
    try:
        await producer.send_and_wait(
            topic_name(dead_letter_topic_for(service), settings.topic_prefix),
            encode_event(event),
            key=subject.encode(),
            headers=[("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())],
        )
        await producer.send_and_wait(
            row["source_topic"], payload, key=key, headers=[(REPLAY_HEADER, subject.encode())]
        )
    finally:
        await producer.stop()


def _render_replays(data: dict[str, Any], console: Console) -> None:
    rows = [(o["id"], o["outcome"], o.get("topic") or o.get("why", "")) for o in data["replays"]]
    console.print(table("Replays", ["id", "outcome", "to / why"], rows))
