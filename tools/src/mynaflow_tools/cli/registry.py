"""card-registry from the command line: reports from its read endpoints, staff commands on
its topic.

    mynaflow backlog [--queue Q] [--overdue]          open notice work: age, SLA, assignee
    mynaflow cases like --kind K [--overdue] [--since DATE]
                                                       every case like A's (--json: the input
                                                       of the notifier's bulk apology letters)
    mynaflow queues                                    queues, members, orphaned queues
    mynaflow history card|notice|resident|queue ID    the audit history
    mynaflow staff <action> --staff S ...              publish a command, wait for the answer

Reports come from card-registry's HTTP endpoints (`CARD_REGISTRY_URL`), never its tables. They
send `X-Staff-Id` (`MYNAFLOW_STAFF_ID`, else the login name) for the access log and, when
`CARD_REGISTRY_TOKEN` is set, `Authorization: Bearer …`. Staff commands are published to
`registry.commands` and answered on `registry.events`.

Exit codes: 0 read / accepted; 1 card-registry or Kafka did not answer in time; 2 a bad option;
3 the command was rejected (the reason is printed).
"""

from __future__ import annotations

import asyncio
import getpass
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import httpx
import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from mynaflow.contracts import registry as contract
from mynaflow.contracts.envelope import (
    CLOUDEVENTS_CONTENT_TYPE,
    CloudEvent,
    decode_event,
    encode_event,
)
from mynaflow.contracts.topics import REGISTRY_COMMANDS, REGISTRY_EVENTS, topic_name
from mynaflow.domain.time import JST
from mynaflow.messaging.topics_admin import kafka_client_options
from mynaflow.settings import load_settings
from pydantic import SecretStr, ValidationError
from rich.console import Console

from mynaflow_tools.cli.output import JsonOption, emit, stderr_console, table
from mynaflow_tools.cli.settings import CliSettings

EXIT_OK = 0
EXIT_UNREACHABLE = 1
EXIT_BAD_OPTION = 2
EXIT_REJECTED = 3

cases_app = typer.Typer(
    name="cases", help="Incident queries: cases like A's.", no_args_is_help=True
)
staff_app = typer.Typer(
    name="staff",
    help="Record what staff did; waits for card-registry to accept or reject it.",
    no_args_is_help=True,
)
UrlOption = Annotated[
    str | None, typer.Option("--url", help="card-registry's base URL (default: CARD_REGISTRY_URL).")
]


class RegistryCliSettings(CliSettings):
    """`CARD_REGISTRY_TOKEN` (bearer token of the read endpoints), `MYNAFLOW_STAFF_ID`."""

    card_registry_token: SecretStr | None = None
    mynaflow_staff_id: str | None = None

    def reader(self) -> str:
        return self.mynaflow_staff_id or getpass.getuser()


def register(app: typer.Typer) -> None:
    app.command("backlog")(backlog)
    app.command("queues")(queues)
    app.command("history")(history)
    app.add_typer(cases_app, name="cases")
    app.add_typer(staff_app, name="staff")


# --- reports --------------------------------------------------------------------------------
def fetch(path: str, params: dict[str, str], url: str | None) -> Any:
    """GET a report; exits 1 when card-registry does not answer, 2 on a refused option."""
    settings = load_settings(RegistryCliSettings)
    base_url = (url or settings.card_registry_url).rstrip("/")
    headers = {"X-Staff-Id": settings.reader()}
    if settings.card_registry_token is not None:
        headers["Authorization"] = f"Bearer {settings.card_registry_token.get_secret_value()}"
    try:
        response = httpx.get(
            f"{base_url}{path}", params=params, headers=headers, timeout=settings.cli_http_timeout_s
        )
    except httpx.HTTPError as error:
        stderr_console().print(f"[red]card-registry at {base_url} did not answer:[/red] {error}")
        raise typer.Exit(EXIT_UNREACHABLE) from error
    if response.status_code in (400, 401):
        stderr_console().print(f"[red]{response.json().get('error', response.text)}[/red]")
        raise typer.Exit(EXIT_BAD_OPTION)
    if response.status_code != 200:
        stderr_console().print(f"[red]card-registry answered {response.status_code}[/red]")
        raise typer.Exit(EXIT_UNREACHABLE)
    return response.json()


def _jst(instant: str | None) -> str | None:
    if instant is None:
        return None
    return datetime.fromisoformat(instant).astimezone(JST).strftime("%Y-%m-%d %H:%M")


def backlog(
    queue: Annotated[str | None, typer.Option("--queue", help="Only this queue.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only items past their SLA.")] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Open notice work, oldest SLA first: age, SLA date and assignee."""
    params = {"overdue": "true"} if overdue else {}
    if queue:
        params["queue"] = queue
    items = fetch("/backlog", params, url)
    emit({"count": len(items), "items": items}, as_json=as_json, render=_render_backlog)


def _render_backlog(data: dict[str, Any], console: Console) -> None:
    rows = [
        (
            item["work_item_id"],
            item["kind"],
            item["queue"],
            item["age_days"],
            item["sla_due_on"],
            "[red]OVERDUE[/red]" if item["overdue"] else "open",
            item["assignee"],
        )
        for item in data["items"]
    ]
    columns = ("work item", "kind", "queue", "age (days)", "SLA", "state", "assignee")
    console.print(table(f"Backlog ({data['count']})", columns, rows))


@cases_app.command("like")
def cases_like(
    kind: Annotated[
        str,
        typer.Option(
            "--kind", help="chip_rewrite, surface_chip_mismatch, or a notice kind (open set)."
        ),
    ],
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue cases.")] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="Only cases opened on or after this JST date.")
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Every case like A's: the report whose --json the notifier's apology letters take."""
    params = {"kind": kind}
    if overdue:
        params["overdue"] = "true"
    if since:
        params["since"] = since
    report = contract.CasesLikeReport.model_validate(fetch("/cases-like", params, url))
    emit(report.model_dump(mode="json"), as_json=as_json, render=_render_cases)


def _render_cases(data: dict[str, Any], console: Console) -> None:
    rows = [
        (
            case["case_id"],
            case["resident_id"],
            case["household_id"],
            case["state"],
            _jst(case["opened_at"]),
            _jst(case["due_at"]),
            "[red]yes[/red]" if case["overdue"] else "no",
        )
        for case in data["cases"]
    ]
    columns = ("case", "resident", "household", "state", "opened (JST)", "due (JST)", "overdue")
    console.print(table(f"Cases like {data['kind']} ({len(rows)})", columns, rows))


def queues(as_json: JsonOption = False, url: UrlOption = None) -> None:
    """Queues with their members and open work; orphaned queues stand out."""
    rows = fetch("/queues", {}, url)
    emit({"queues": rows}, as_json=as_json, render=_render_queues)


def _render_queues(data: dict[str, Any], console: Console) -> None:
    rows = [
        (
            q["queue"],
            ", ".join(q["members"]) or None,
            "[red]ORPHANED[/red]" if q["orphaned"] else "staffed" if q["members"] else "empty",
            q["open_items"],
            q["overdue_items"],
        )
        for q in data["queues"]
    ]
    columns = ("queue", "members", "state", "open", "overdue")
    console.print(table("Queues", columns, rows))


def history(
    entity: Annotated[str, typer.Argument(help="card, notice, resident or queue.")],
    entity_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """The audit history of one card, notice, resident or queue: who, what, when, outcome."""
    lines = fetch("/history", {"type": entity, "id": entity_id}, url)
    emit(
        {"entity": entity, "id": entity_id, "history": lines},
        as_json=as_json,
        render=_render_history,
    )


def _render_history(data: dict[str, Any], console: Console) -> None:
    rows = [
        (
            _jst(line["performed_at"]),
            _jst(line["recorded_at"]),
            line["staff_id"],
            line["action"],
            line["outcome"],
        )
        for line in data["history"]
    ]
    columns = ("performed (JST)", "recorded (JST)", "staff", "what", "outcome")
    console.print(table(f"History of {data['entity']} {data['id']}", columns, rows))


# --- staff commands -------------------------------------------------------------------------
StaffOption = Annotated[
    str | None, typer.Option("--staff", help="Who acted (default: MYNAFLOW_STAFF_ID).")
]
PerformedOption = Annotated[
    str | None,
    typer.Option(
        "--performed-at", help="When it was done, ISO 8601 with an offset (default: now)."
    ),
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for the answer.", min=1)
]
CardOption = Annotated[str, typer.Option("--card", help="The card id.")]
NoticeOption = Annotated[str | None, typer.Option("--notice", help="The notice id.")]
ReceiptOption = Annotated[
    str | None, typer.Option("--receipt", help="The receipt id (an item with no notice id).")
]
WorkItemOption = Annotated[
    str | None, typer.Option("--work-item", help="A content conflict's triage item id.")
]
# The answer may take as long as a parked command's wait (60 s) plus the sweep.
DEFAULT_WAIT_S = 75.0


def send_command(
    model: type[contract.RegistryCommand],
    fields: dict[str, Any],
    staff: str | None,
    performed_at: str | None,
    timeout_s: float,
    as_json: bool,
) -> None:
    """Publish the command, print its answer; exit 3 when it was rejected."""
    settings = load_settings(RegistryCliSettings)
    staff_id = staff or settings.mynaflow_staff_id
    if not staff_id:
        stderr_console().print("[red]--staff (or MYNAFLOW_STAFF_ID) is required[/red]")
        raise typer.Exit(EXIT_BAD_OPTION)
    try:
        command = model.model_validate(
            {**fields, "staff_id": staff_id, "performed_at": performed_at}
        )
    except ValidationError as error:
        stderr_console().print(f"[red]{error}[/red]")
        raise typer.Exit(EXIT_BAD_OPTION) from error
    event = contract.command_event(command)
    try:
        answer = asyncio.run(publish_and_wait(settings, event, timeout_s))
    except (TimeoutError, OSError) as error:
        stderr_console().print(f"[red]no answer from card-registry:[/red] {error}")
        raise typer.Exit(EXIT_UNREACHABLE) from error
    emit(answer, as_json=as_json, render=_render_answer)
    if answer["type"] != contract.COMMAND_ACCEPTED_V1:
        raise typer.Exit(EXIT_REJECTED)


async def publish_and_wait(
    settings: CliSettings, event: CloudEvent[Any], timeout_s: float
) -> dict[str, Any]:
    """Publish `event` on `registry.commands` and return its answer from `registry.events`.

    The reader starts at the end of `registry.events` *before* publishing, so the answer
    cannot be missed, and only an answer with this command's id counts.
    """
    prefix = settings.topic_prefix
    events_topic = topic_name(REGISTRY_EVENTS, prefix)
    options = kafka_client_options(settings)
    producer = AIOKafkaProducer(acks="all", **options)
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **options)
    await producer.start()
    try:
        await consumer.start()
        partitions = [
            TopicPartition(events_topic, p) for p in await producer.partitions_for(events_topic)
        ]
        consumer.assign(partitions)
        for partition, offset in (await consumer.end_offsets(partitions)).items():
            consumer.seek(partition, offset)
        await producer.send_and_wait(
            topic_name(REGISTRY_COMMANDS, prefix),
            encode_event(event),
            key=(event.subject or event.id).encode(),
            headers=[("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())],
        )
        async with asyncio.timeout(timeout_s):
            return await _answer(consumer, event.id)
    finally:
        await consumer.stop()
        await producer.stop()


async def _answer(consumer: AIOKafkaConsumer, command_id: str) -> dict[str, Any]:
    while True:
        for records in (await consumer.getmany(timeout_ms=500)).values():
            for record in records:
                decoded = contract_answer(record.value, command_id)
                if decoded is not None:
                    return decoded


def contract_answer(value: bytes | None, command_id: str) -> dict[str, Any] | None:
    """The decoded event if it answers `command_id`, else None."""
    if not value:
        return None
    try:
        event = decode_event(value)
    except ValidationError:
        return None
    answered = event.type in (contract.COMMAND_ACCEPTED_V1, contract.COMMAND_REJECTED_V1)
    if not answered or event.data.get("command_id") != command_id:
        return None
    return event.model_dump(mode="json")


def _render_answer(answer: dict[str, Any], console: Console) -> None:
    data = answer["data"]
    action = contract.action_of(data["command_type"])
    if answer["type"] == contract.COMMAND_ACCEPTED_V1:
        console.print(f"[green]accepted[/green]: {action} by {data['staff_id']}")
    else:
        console.print(f"[red]rejected[/red] ({data['reason']}): {action}: {data['message']}")


def _work_item(notice: str | None, receipt: str | None, work_item: str | None) -> dict[str, Any]:
    return {
        "notice_id": notice,
        "receipt_id": UUID(receipt) if receipt else None,
        "work_item_id": UUID(work_item) if work_item else None,
    }


@staff_app.command("assign-notice")
def assign_notice(
    notice: NoticeOption = None,
    receipt: ReceiptOption = None,
    work_item: WorkItemOption = None,
    assignee: Annotated[str | None, typer.Option("--assignee")] = None,
    staff: StaffOption = None,
    performed_at: PerformedOption = None,
    timeout: TimeoutOption = DEFAULT_WAIT_S,
    as_json: JsonOption = False,
) -> None:
    """Give a work item to a staff member (default: yourself)."""
    fields = {**_work_item(notice, receipt, work_item), "assignee": assignee}
    send_command(contract.AssignNotice, fields, staff, performed_at, timeout, as_json)


@staff_app.command("resolve-notice")
def resolve_notice(
    resolution: Annotated[str, typer.Option("--resolution", help="A resolution code.")],
    notice: NoticeOption = None,
    receipt: ReceiptOption = None,
    work_item: WorkItemOption = None,
    note: Annotated[str, typer.Option("--note", help="Free text (redacted when stored).")] = "",
    staff: StaffOption = None,
    performed_at: PerformedOption = None,
    timeout: TimeoutOption = DEFAULT_WAIT_S,
    as_json: JsonOption = False,
) -> None:
    """Resolve a work item; its SLA deadline is cleared as of --performed-at."""
    fields = {**_work_item(notice, receipt, work_item), "resolution": resolution, "note": note}
    send_command(contract.ResolveNotice, fields, staff, performed_at, timeout, as_json)


def _card_command(model: type[contract.CardCommand], help_text: str) -> None:
    def command(
        card: CardOption,
        staff: StaffOption = None,
        performed_at: PerformedOption = None,
        timeout: TimeoutOption = DEFAULT_WAIT_S,
        as_json: JsonOption = False,
    ) -> None:
        send_command(model, {"card_id": card}, staff, performed_at, timeout, as_json)

    command.__doc__ = help_text
    staff_app.command(contract.action_of(contract.COMMAND_TYPE_OF[model]))(command)


_card_command(contract.RecordSurfacePrint, "The new address was printed on the card surface.")
_card_command(contract.RecordChipRewrite, "The address in the IC chip was rewritten.")
_card_command(contract.VerifyChipRewrite, "Verify another staff member's chip rewrite.")
_card_command(contract.SendPickupNotice, "The pickup notice (the second time: re-notice) was sent.")
_card_command(contract.RecordCardHandover, "The card was handed over to its holder.")


@staff_app.command("record-card-delivered")
def record_card_delivered(
    card: CardOption,
    resident: Annotated[str, typer.Option("--resident")],
    application_date: Annotated[str, typer.Option("--application-date", help="YYYY-MM-DD")],
    issued_on: Annotated[str, typer.Option("--issued-on", help="YYYY-MM-DD")],
    staff: StaffOption = None,
    performed_at: PerformedOption = None,
    timeout: TimeoutOption = DEFAULT_WAIT_S,
    as_json: JsonOption = False,
) -> None:
    """A finished card arrived at the ward."""
    try:
        fields = {
            "card_id": card,
            "resident_id": resident,
            "application_date": date.fromisoformat(application_date),
            "issued_on": date.fromisoformat(issued_on),
        }
    except ValueError as error:
        stderr_console().print(f"[red]{error}[/red]")
        raise typer.Exit(EXIT_BAD_OPTION) from error
    send_command(contract.RecordCardDelivered, fields, staff, performed_at, timeout, as_json)


def _queue_command(model: type[contract.QueueCommand], help_text: str) -> None:
    def command(
        queue: Annotated[str, typer.Option("--queue")],
        staff: StaffOption = None,
        performed_at: PerformedOption = None,
        timeout: TimeoutOption = DEFAULT_WAIT_S,
        as_json: JsonOption = False,
    ) -> None:
        send_command(model, {"queue": queue}, staff, performed_at, timeout, as_json)

    command.__doc__ = help_text
    staff_app.command(contract.action_of(contract.COMMAND_TYPE_OF[model]))(command)


_queue_command(contract.StaffJoinedQueue, "--staff joins the queue (staff are known once joined).")
_queue_command(contract.StaffLeftQueue, "--staff leaves the queue.")
