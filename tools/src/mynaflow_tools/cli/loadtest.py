"""`mynaflow loadtest`: load the notice flow of a running deployment and report its speed.

Publishes N synthetic, valid notices (`lt-<run id>-<n>`, never an individual number) to
`jlis.notices.raw` and reads `intake.receipts` until every one has its receipt or the timeout
passes. In the same run, as baselines (the machines are noisy, so ratios say more than
absolute figures): the same payloads through Kafka alone (a scratch topic created and deleted
by the run) and N plain INSERTs into a PostgreSQL TEMP table.

The notices are real input: notice-intake stores and receipts them, and those with an SLA
request deadlines. Point it at a test deployment (its own TOPIC_PREFIX), not a ward's live one.

`--flow full` also waits, per notice, for the watcher's `deadline.scheduled` and card-registry's
`work-item-opened`; `--duplicates` and `--malformed` send a share of the notices twice and
a share that fails the contract (quarantined, still receipted).

An empty TOPIC_PREFIX is a ward's live one: the load test refuses it unless
`--allow-live-prefix` is given.

Exit codes: 0 every notice was receipted (and the raw baseline read back every record);
1 receipts missing, an effect stored twice, or a phase failed; 2 the test could not start
(Kafka, topics, options, a live prefix).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console

from mynaflow_tools.cli.output import JsonOption, emit, progress, stderr_console, table
from mynaflow_tools.cli.settings import load_cli_settings
from mynaflow_tools.loadtest.driver import LoadtestPlan, quiet_collector, run_loadtest
from mynaflow_tools.loadtest.flow import FLOWS
from mynaflow_tools.loadtest.notices import MAX_NOTICES, new_run_id
from mynaflow_tools.loadtest.report import EXIT_CANNOT_RUN


def register(app: typer.Typer) -> None:
    app.command("loadtest")(loadtest)


def loadtest(
    notices: Annotated[
        int, typer.Option(min=1, max=MAX_NOTICES, help="How many notices to publish.")
    ] = 10_000,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            max=100_000,
            help="Sends in flight before waiting for their acks; rows per "
            "INSERT transaction in the PostgreSQL baseline.",
        ),
    ] = 1000,
    timeout_s: Annotated[
        float,
        typer.Option(min=1.0, help="Limit per phase, from its first send to its last receipt."),
    ] = 300.0,
    rate: Annotated[
        str | None,
        typer.Option(
            help="Notices per second to publish at (both Kafka phases), at least 1, or `max`. "
            "Default (and `max`): as fast as possible, a burst whose latency is the time the "
            "backlog takes to drain.",
        ),
    ] = None,
    flow: Annotated[
        str,
        typer.Option(
            help="`intake`: wait for each receipt. `full`: also for the deadline scheduled and "
            "the work item opened (deadline-watcher and card-registry must be running)."
        ),
    ] = "intake",
    duplicates: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of the notices sent twice.")
    ] = 0.0,
    malformed: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of the notices failing the contract (id kept)."),
    ] = 0.0,
    allow_live_prefix: Annotated[
        bool, typer.Option(help="Run even with an empty TOPIC_PREFIX (a ward's live topics).")
    ] = False,
    raw_baseline: Annotated[
        bool, typer.Option(help="Also measure raw Kafka on a scratch topic (needs create/delete).")
    ] = True,
    pg_baseline: Annotated[
        bool, typer.Option(help="Also time N INSERTs into a PostgreSQL TEMP table (DATABASE_URL).")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Load-test the notice flow (notice-intake must be running): receipts, throughput,
    latency, and their ratios to raw Kafka and PostgreSQL measured in the same run."""
    if flow not in FLOWS:
        raise typer.BadParameter(f"one of {', '.join(FLOWS)}", param_hint="--flow")
    settings = load_cli_settings()
    if not settings.topic_prefix and not allow_live_prefix:
        _refuse_live_prefix(as_json)
    plan = LoadtestPlan(
        run_id=new_run_id(),
        notices=notices,
        batch_size=batch_size,
        timeout_s=timeout_s,
        raw_baseline=raw_baseline,
        postgres_baseline=pg_baseline,
        rate_per_s=parse_rate(rate),
        flow=flow,
        duplicates=duplicates,
        malformed=malformed,
    )

    def bar(description: str, total: int) -> Any:
        return progress(description, total, enabled=False if as_json else None)

    report = asyncio.run(run_loadtest(settings, plan, bar, before_each_phase=quiet_collector))
    if report.error and report.mynaflow is None:
        stderr_console().print(f"[red]load test could not start:[/red] {report.error}")
    emit(report.to_data(), as_json=as_json, render=_render)
    raise typer.Exit(report.exit_code() if report.mynaflow else EXIT_CANNOT_RUN)


def parse_rate(rate: str | None) -> float | None:
    """`--rate`: a number of notices per second (at least 1), or `max`/absent for a burst."""
    if rate is None or rate.strip().lower() == "max":
        return None
    try:
        value = float(rate)
    except ValueError:
        raise typer.BadParameter("a number, or `max`", param_hint="--rate") from None
    if not value >= 1.0:  # also refuses NaN
        raise typer.BadParameter("at least 1 notice a second", param_hint="--rate")
    return value


def _refuse_live_prefix(as_json: bool) -> None:
    message = (
        "TOPIC_PREFIX is empty: these are a ward's live topics, and the load test stores real "
        "receipts and deadlines. Set a prefix of a test deployment, or pass --allow-live-prefix."
    )
    stderr_console().print(f"[red]load test refused:[/red] {message}")
    if as_json:
        emit({"ok": False, "error": message}, as_json=True, render=lambda *_: None)
    raise typer.Exit(EXIT_CANNOT_RUN)


# --- the table for people -------------------------------------------------------------------------
_PHASE_ROWS: tuple[tuple[str, str, str | None], ...] = (
    # (label, key in the phase, key in the vs_raw_kafka ratios)
    ("published (acks=all)", "published", None),
    ("came back (receipts / records)", "received", None),
    ("missing", "missing", None),
    ("publish throughput /s", "publish_per_s", "publish_throughput"),
    ("end-to-end throughput /s", "end_to_end_per_s", "end_to_end_throughput"),
)
_LATENCY_ROWS = (
    ("latency p50 ms", "p50_ms", "latency_p50"),
    ("latency p95 ms", "p95_ms", "latency_p95"),
    ("latency p99 ms", "p99_ms", "latency_p99"),
    ("latency max ms", "max_ms", "latency_max"),
)


def _render(data: dict[str, Any], console: Console) -> None:
    flow, raw = data["mynaflow"], data["raw_kafka"]
    if flow is None:
        return
    vs_raw = data["ratios"]["vs_raw_kafka"] or {}
    rows = [
        (label, flow[key], raw[key] if raw else None, vs_raw.get(ratio) if ratio else None)
        for label, key, ratio in _PHASE_ROWS
    ]
    rows += [
        (label, flow["latency"][key], raw["latency"][key] if raw else None, vs_raw.get(ratio))
        for label, key, ratio in _LATENCY_ROWS
    ]
    pace = f"at {data['rate_per_s']:g}/s" if data["rate_per_s"] else "as a burst"
    title = f"Load test {data['run_id']}: {data['notices']} notices {pace}"
    title += f" (topic prefix {data['topic_prefix']!r})"
    console.print(table(title, ["", "mynaflow", "raw Kafka", "mynaflow ÷ raw"], rows))
    statuses = ", ".join(f"{status} {count}" for status, count in data["statuses"].items())
    console.print(f"receipt statuses: {statuses or '—'}")
    _render_checks(data, console)
    _render_cpu(data, console)
    _render_postgres(data, console)
    _render_problems(data, console)


def _render_checks(data: dict[str, Any], console: Console) -> None:
    console.print(
        f"flow {data['flow']}: lost {data['lost']}, effects stored twice "
        f"{data['duplicated_effects']}, events seen twice {data['duplicate_events']}; "
        f"throughput {data['throughput']}/s = {data['ratio_kafka']} × raw Kafka, "
        f"{data['ratio_copy']} × COPY"
    )
    for service, processes in data["rss_mb"].items():
        sizes = ", ".join(f"pid {pid}: {mb} MiB" for pid, mb in processes.items())
        console.print(f"{service} resident memory: {sizes}")


def _render_cpu(data: dict[str, Any], console: Console) -> None:
    for name, label in (("mynaflow", "notice flow"), ("raw_kafka", "raw Kafka")):
        phase = data[name]
        cpu = phase["cpu"] if phase else None
        if cpu:
            spent = ", ".join(f"{group} {us:g}" for group, us in cpu["us_per_message"].items())
            console.print(f"CPU µs per message, {label}: {spent}")


def _render_postgres(data: dict[str, Any], console: Console) -> None:
    postgres = data["postgres"]
    if postgres is None:
        return
    if postgres["error"]:
        console.print(f"PostgreSQL baseline: [yellow]not measured[/yellow] ({postgres['error']})")
        return
    ratio = data["ratios"]["vs_postgres_insert"]["end_to_end_throughput"]
    console.print(
        f"PostgreSQL baseline: {postgres['rows']} INSERTs into a TEMP table at "
        f"{postgres['rows_per_s']}/s; mynaflow end-to-end ÷ INSERT = {ratio}"
    )
    copy = data["postgres_copy"]
    if copy is not None:
        rate = copy["rows_per_s"] if not copy["error"] else f"not measured ({copy['error']})"
        console.print(f"PostgreSQL COPY baseline: {copy['rows']} rows at {rate}/s")


def _render_problems(data: dict[str, Any], console: Console) -> None:
    for name in ("mynaflow", "raw_kafka"):
        phase = data[name]
        if phase and phase["error"]:
            console.print(f"[red]{name}: {phase['error']}[/red]")
        if phase and phase["missing"]:
            sample = ", ".join(phase["missing_sample"])
            console.print(f"[red]{name}: {phase['missing']} missing[/red] (first: {sample})")
        if phase and phase["timed_out"]:
            console.print(f"[red]{name}: timed out (--timeout-s {data['timeout_s']})[/red]")
    for warning in data["warnings"]:
        console.print(f"[yellow]{warning}[/yellow]")
