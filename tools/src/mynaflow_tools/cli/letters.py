"""`mynaflow letters`: bulk apology letters (お詫び文), with the two-person rule.

    mynaflow cases like --kind record_update_required --overdue --json > cases.json
    mynaflow letters apology --cases-from cases.json --staff S-0107     # drafts a batch
    mynaflow letters approve apology-20231020-0107 --staff M-RECORDS    # a second person releases

`apology` publishes `jp.mynaflow.notifier.send-apology.v1` on `notifier.commands` and waits for
the notifier's `apology-batch-drafted`. `approve` publishes the release and shows the letters
being written until `apology-batch-completed` (or the refusal and its reason: the requester
cannot release their own batch). Both follow `notifier.deliveries`; neither reads a table.

Exit codes: 0 done; 1 Kafka unreachable or no answer in time; 2 a bad file or option;
3 the release was refused.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from mynaflow.contracts import notifier as contract
from mynaflow.contracts.envelope import encode_event
from mynaflow.contracts.registry import CaseLike
from mynaflow.contracts.topics import NOTIFIER_COMMANDS, NOTIFIER_DELIVERIES, topic_name
from mynaflow.messaging.topics_admin import kafka_client_options
from pydantic import TypeAdapter, ValidationError
from rich.console import Console

from mynaflow_tools.cli.output import JsonOption, emit, progress, stderr_console
from mynaflow_tools.cli.settings import CliSettings, load_cli_settings

EXIT_UNREACHABLE = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3

letters_app = typer.Typer(help="Letters to residents: bulk apology letters (お詫び文).")
StaffOption = Annotated[
    str,
    typer.Option(
        "--staff", envvar="MYNAFLOW_STAFF_ID", help="Your staff id (who does this, on trust)."
    ),
]
TimeoutOption = Annotated[float, typer.Option("--timeout", help="Seconds to wait.")]


def register(app: typer.Typer) -> None:
    app.add_typer(letters_app, name="letters")


def read_cases(path: Path) -> list[CaseLike]:
    """The cases of a `mynaflow cases like --json` report (or a bare JSON list of cases)."""
    raw = json.loads(path.read_text("utf-8"))
    cases = raw.get("cases", []) if isinstance(raw, dict) else raw
    return TypeAdapter(list[CaseLike]).validate_python(cases)


def default_batch_id(staff: str, now: datetime) -> str:
    return f"apology-{now.strftime('%Y%m%d-%H%M%S')}-{staff}"


@letters_app.command("apology")
def apology(
    cases_from: Annotated[Path, typer.Option("--cases-from", exists=True, dir_okay=False)],
    staff: StaffOption,
    batch: Annotated[str | None, typer.Option("--batch", help="Batch id (default: new).")] = None,
    timeout: TimeoutOption = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Draft one apology letter per affected household; a second staff member releases it."""
    try:
        cases = read_cases(cases_from)
        command = contract.SendApology(
            batch_id=batch or default_batch_id(staff, datetime.now(UTC)),
            requested_by=staff,
            cases=cases,
        )
    except (ValueError, ValidationError) as error:
        stderr_console().print(f"[red]{cases_from} is not a cases report:[/red] {error}")
        raise typer.Exit(EXIT_BAD_INPUT) from error
    settings = load_cli_settings()
    wanted = {contract.APOLOGY_BATCH_DRAFTED_V1}
    answer = _run(settings, command, wanted, timeout, on_event=None)
    emit(answer["data"], as_json=as_json, render=_render_drafted)


@letters_app.command("approve")
def approve(
    batch: Annotated[str, typer.Argument(help="The batch id printed by `letters apology`.")],
    staff: StaffOption,
    timeout: TimeoutOption = 300.0,
    as_json: JsonOption = False,
) -> None:
    """Release a drafted batch (not your own) and show its letters being written."""
    settings = load_cli_settings()
    command = contract.ApproveApology(batch_id=batch, staff_id=staff)
    wanted = {contract.APOLOGY_BATCH_COMPLETED_V1, contract.APOLOGY_BATCH_REFUSED_V1}
    with progress("Writing letters", total=None) as bar:

        def on_event(event: dict[str, Any]) -> None:
            data = event.get("data", {})
            if event["type"] == contract.DELIVERY_LOGGED_V1 and data.get("status") == "sent":
                bar.advance()

        answer = _run(settings, command, wanted, timeout, on_event=on_event)
    if answer["type"] == contract.APOLOGY_BATCH_REFUSED_V1:
        emit(answer["data"], as_json=as_json, render=_render_refused)
        raise typer.Exit(EXIT_REFUSED)
    emit(answer["data"], as_json=as_json, render=_render_completed)


def _run(
    settings: CliSettings,
    command: contract.SendApology | contract.ApproveApology,
    wanted: set[str],
    timeout: float,
    on_event: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    try:
        return asyncio.run(_publish_and_follow(settings, command, wanted, timeout, on_event))
    except TimeoutError as error:
        stderr_console().print(f"[red]no answer from the notifier within {timeout:.0f}s[/red]")
        raise typer.Exit(EXIT_UNREACHABLE) from error
    except OSError as error:
        stderr_console().print(f"[red]Kafka did not answer:[/red] {error}")
        raise typer.Exit(EXIT_UNREACHABLE) from error


async def _publish_and_follow(
    settings: CliSettings,
    command: contract.SendApology | contract.ApproveApology,
    wanted: set[str],
    wait_s: float,
    on_event: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    """Publish the command, then read `notifier.deliveries` (from before it) for the answer."""
    producer = AIOKafkaProducer(
        acks="all", enable_idempotence=True, **kafka_client_options(settings)
    )
    await producer.start()
    try:
        consumer = await _follower(settings, producer)
        try:
            await _publish(settings, producer, command)
            return await _answer(consumer, command.batch_id, wanted, wait_s, on_event)
        finally:
            await consumer.stop()
    finally:
        await producer.stop()


async def _answer(
    consumer: AIOKafkaConsumer,
    batch_id: str,
    wanted: set[str],
    wait_s: float,
    on_event: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=500)
        for record in (r for records in batches.values() for r in records):
            event = json.loads(record.value)
            if not _of_batch(event, batch_id):
                continue
            if on_event is not None:
                on_event(event)
            if event.get("type") in wanted:
                return dict(event)
    raise TimeoutError


def _of_batch(event: dict[str, Any], batch_id: str) -> bool:
    return event.get("subject") == batch_id or event.get("data", {}).get("batch_id") == batch_id


async def _follower(settings: CliSettings, producer: AIOKafkaProducer) -> AIOKafkaConsumer:
    """A group-less consumer at the current end of `notifier.deliveries`."""
    topic = topic_name(NOTIFIER_DELIVERIES, settings.topic_prefix)
    partitions = await producer.partitions_for(topic)  # fetches the topic's metadata
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **kafka_client_options(settings))
    await consumer.start()
    assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assignment)
    await consumer.seek_to_end(*assignment)
    for partition in assignment:
        await consumer.position(partition)  # fix the start before the command goes out
    return consumer


async def _publish(
    settings: CliSettings,
    producer: AIOKafkaProducer,
    command: contract.SendApology | contract.ApproveApology,
) -> None:
    await producer.send_and_wait(
        topic_name(NOTIFIER_COMMANDS, settings.topic_prefix),
        encode_event(contract.command_event(command)),
        key=command.batch_id.encode(),
        headers=[("content-type", b"application/cloudevents+json")],
    )


def _render_drafted(data: dict[str, Any], console: Console) -> None:
    console.print(
        f"Batch [bold]{data['batch_id']}[/bold] drafted: {data['cases']} cases, "
        f"{data['households']} letters (one per household)."
    )
    console.print(
        "Nothing is printed until a second staff member releases it: "
        f"mynaflow letters approve {data['batch_id']} --staff <their id>"
    )


def _render_refused(data: dict[str, Any], console: Console) -> None:
    console.print(f"[red]Refused ({data['reason']}):[/red] {data['message']}")


def _render_completed(data: dict[str, Any], console: Console) -> None:
    console.print(
        f"Batch [bold]{data['batch_id']}[/bold]: {data['letters']} letters written, "
        f"{data['manual']} flagged for manual handling; manifest: {data['manifest']}"
    )
