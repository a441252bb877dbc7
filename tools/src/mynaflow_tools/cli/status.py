"""`mynaflow status`: is each service ready, and how far behind is each consumer group?

Readiness is each service's own `GET /readyz` (200 only when its Kafka and PostgreSQL answer).
Lag is read from Kafka: the offsets each service's consumer group committed against the end of
each partition. The command never opens a service's database.

Exit codes, for scripts:
    0  every service is ready and every group's lag was read;
    1  at least one service is not ready (or does not answer);
    3  every service is ready, but Kafka's offsets could not be read.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import typer
from mynaflow.messaging.topics_admin import group_id_for
from rich.console import Console

from mynaflow_tools.cli.lag import PartitionLag, read_consumer_group_lag
from mynaflow_tools.cli.output import JsonOption, emit, table, yes_no
from mynaflow_tools.cli.settings import CliSettings, load_cli_settings

EXIT_OK = 0
EXIT_NOT_READY = 1
EXIT_LAG_UNKNOWN = 3

_DETAIL_MAX_CHARS = 200


@dataclass(frozen=True)
class ServiceReadiness:
    service: str
    url: str
    ready: bool
    http_status: int | None
    detail: str


@dataclass(frozen=True)
class GroupLag:
    service: str
    group_id: str
    # None when the offsets could not be read.
    total_lag: int | None
    state: str | None = None  # Kafka's group state: Stable, Empty, Dead (never seen), ...
    members: int | None = None
    partitions: list[PartitionLag] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class StatusReport:
    ready: bool
    services: list[ServiceReadiness]
    consumer_groups: list[GroupLag]

    def exit_code(self) -> int:
        if not self.ready:
            return EXIT_NOT_READY
        if any(group.error for group in self.consumer_groups):
            return EXIT_LAG_UNKNOWN
        return EXIT_OK


# --- readiness ------------------------------------------------------------------------------


async def probe_readiness(
    client: httpx.AsyncClient, service: str, base_url: str
) -> ServiceReadiness:
    """One `GET <base_url>/readyz`; any failure to answer counts as not ready."""
    url = f"{base_url}/readyz"
    try:
        response = await client.get(url)
    except httpx.TimeoutException as error:
        timeout = client.timeout.read
        return ServiceReadiness(
            service, url, False, None, f"no answer within {timeout}s ({type(error).__name__})"
        )
    except httpx.HTTPError as error:
        return ServiceReadiness(service, url, False, None, f"no answer ({type(error).__name__})")
    ready = response.status_code == 200
    return ServiceReadiness(service, url, ready, response.status_code, _readiness_detail(response))


def _readiness_detail(response: httpx.Response) -> str:
    """The failed checks a service lists in its /readyz body, or the body itself."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:_DETAIL_MAX_CHARS]
    if not isinstance(body, dict):
        return str(body)[:_DETAIL_MAX_CHARS]
    checks = body.get("checks")
    if isinstance(checks, dict):
        failed = [f"{name}: {result}" for name, result in checks.items() if result != "ok"]
        if failed:
            return "; ".join(failed)[:_DETAIL_MAX_CHARS]
    return str(body.get("status", ""))[:_DETAIL_MAX_CHARS]


def _describe(error: BaseException) -> str:
    name, text = type(error).__name__, str(error)
    if not text:
        return name
    # aiokafka's messages already start with the class name.
    return text if text.startswith(name) else f"{name}: {text}"


async def read_readiness(settings: CliSettings) -> list[ServiceReadiness]:
    async with httpx.AsyncClient(timeout=settings.cli_http_timeout_s) as client:
        probes = [
            probe_readiness(client, service, url)
            for service, url in settings.service_urls().items()
        ]
        return list(await asyncio.gather(*probes))


# --- lag ------------------------------------------------------------------------------------


async def read_group_lag(settings: CliSettings, service: str) -> GroupLag:
    """The lag of the service's consumer group; a Kafka failure is reported, not raised."""
    group_id = group_id_for(service, settings.topic_prefix)
    try:
        reading = await asyncio.wait_for(
            read_consumer_group_lag(settings, group_id), timeout=settings.cli_kafka_timeout_s
        )
    except TimeoutError:
        timed_out = f"no answer from Kafka within {settings.cli_kafka_timeout_s}s"
        return GroupLag(service, group_id, None, error=timed_out)
    except Exception as error:  # any failure: report it, keep the other groups
        return GroupLag(service, group_id, None, error=_describe(error))
    return GroupLag(
        service,
        group_id,
        reading.total_lag,
        reading.state,
        reading.members,
        reading.partitions,
    )


async def read_lag(settings: CliSettings) -> list[GroupLag]:
    return list(
        await asyncio.gather(*(read_group_lag(settings, s) for s in settings.service_urls()))
    )


async def collect_status(settings: CliSettings) -> StatusReport:
    services, groups = await asyncio.gather(read_readiness(settings), read_lag(settings))
    return StatusReport(all(s.ready for s in services), services, groups)


# --- presentation ---------------------------------------------------------------------------


def render_status(data: dict[str, Any], console: Console) -> None:
    console.print(
        table(
            "Services",
            ("service", "ready", "HTTP", "readiness URL", "detail"),
            (
                (s["service"], yes_no(s["ready"]), s["http_status"], s["url"], s["detail"])
                for s in data["services"]
            ),
        )
    )
    console.print(
        table(
            "Consumer groups",
            ("group", "members", "lag", "partitions behind", "note"),
            (_group_row(group) for group in data["consumer_groups"]),
        )
    )
    verdict = "all services ready" if data["ready"] else "[red]NOT all services are ready[/red]"
    console.print(verdict)


def _group_row(group: dict[str, Any]) -> tuple[Any, ...]:
    if group["error"]:
        return (group["group_id"], None, None, None, f"[red]lag unknown: {group['error']}[/red]")
    behind = ", ".join(
        f"{p['topic']}[{p['partition']}]={p['lag']}"
        + ("" if p["committed"] else " (never committed)")
        for p in group["partitions"]
        if p["lag"] > 0
    )
    note = "" if group["partitions"] else "nothing committed or assigned"
    state = "no such group" if group["state"] == "Dead" else group["state"]
    members = f"{group['members']} ({state})"
    return (group["group_id"], members, group["total_lag"], behind or None, note)


def status(as_json: JsonOption = False) -> None:
    """Show each service's readiness and each consumer group's lag.

    Exit code 0 when every service is ready, 1 when any is not, 3 when the lag is unknown.
    """
    report = asyncio.run(collect_status(load_cli_settings()))
    emit(asdict(report), as_json=as_json, render=render_status)
    raise typer.Exit(report.exit_code())


def register(app: typer.Typer) -> None:
    app.command("status")(status)
