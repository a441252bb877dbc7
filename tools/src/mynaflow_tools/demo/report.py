"""The demo's report for a ward manager: built from the services' HTTP read endpoints, their
topics, the mail catcher's folder and the letters folder; never from a service's tables.

Collected while the system still runs (`collect`), rendered after (`render`): tables with the
event names as labels (`queue-orphaned`, `surface-chip-mismatch`, `card-expired`), a Japanese
gloss beside them, ISO dates.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from mynaflow.contracts import registry as r
from mynaflow.contracts.deadlines import DEADLINE_BREACHED_V1
from mynaflow.contracts.topics import DEADLINES_EVENTS
from mynaflow.domain.time import JST
from rich.console import Console

from mynaflow_tools.cli.output import table
from mynaflow_tools.demo import feed
from mynaflow_tools.demo.run import DemoRun, get_json

# The manager digest's subject starts so (the notifier's templates catalogue, docs/notifier.md).
DIGEST_SUBJECT_MARK = "【日次】"
DIGEST_LINES = 12
INCIDENT_COMMAND = "mynaflow cases like --kind record_update_required --overdue"
APOLOGY_COMMANDS = (
    "mynaflow letters apology --cases-from cases.json --staff M-RECORDS",
    "mynaflow letters approve apology-demo --staff C-KOSEKI",
)


def jst_date(instant: str | None) -> str | None:
    if instant is None:
        return None
    return datetime.fromisoformat(instant).astimezone(JST).date().isoformat()


def jst_minute(instant: str) -> str:
    return datetime.fromisoformat(instant).astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


def era(day: str | None) -> str:
    """令和 beside an ISO date (the project's letters use the era too)."""
    if day is None:
        return ""
    d = date.fromisoformat(day)
    year = d.year - 2018
    return f"令和{'元' if year == 1 else year}年{d.month}月{d.day}日" if year >= 1 else ""


async def collect(run: DemoRun) -> dict[str, Any]:
    registry_url = run.system.url("card-registry")
    registry_events = await run.registry_events()
    deadline_events = await feed.read_topic(run.settings, DEADLINES_EVENTS)
    deliveries = await get_json(run.system.url("notifier"), "/deliveries", limit="10000")
    return {
        "receipts": receipts(await run.receipts()),
        "queues": await get_json(registry_url, "/queues"),
        "queue_orphaned": orphaned(run, registry_events),
        "overdue": overdue(await get_json(registry_url, "/backlog", overdue="true")),
        "escalations": escalations(deliveries["deliveries"]),
        "surface_chip_mismatch": mismatches(run, registry_events),
        "chip_rewrite_breached": chip_breaches(run, deadline_events),
        "card_expired": expired(run, registry_events),
        "four_eyes_rejected": [a["data"] for a in run.rejected],
        "letters": letters(run.system.letters_dir),
        "emails": emails(run.system.mail_dir),
        "digest": latest_digest(run.system.mail_dir),
        "incident_query": incident_query(run),
        "timings_s": run.timings,
    }


def receipts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = {
        e["data"]["notice_id"]: {
            "notice_id": e["data"]["notice_id"],
            "kind": e["data"].get("kind"),
            "status": e["data"].get("status"),
            "queue": e["data"].get("owner_queue"),
            "sla_due_on": e["data"].get("sla_due_on"),
        }
        for e in events
    }
    return sorted(rows.values(), key=lambda row: row["notice_id"])


def orphaned(run: DemoRun, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"queue": e["data"]["queue"], "flagged_at": e.get("time")}
        for e in run.events_of(events, r.QUEUE_ORPHANED_V1)
    ]


def overdue(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "notice_id": item["notice_id"],
            "queue": item["queue"],
            "sla_due_on": item["sla_due_on"],
            "age_days": item["age_days"],
        }
        for item in sorted(items, key=lambda i: (i["sla_due_on"] or "", i["notice_id"] or ""))
    ]


def escalations(deliveries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Source events per (recipient, template, channel, status): what the notifier folded."""
    staff = [d for d in deliveries if d["recipient_kind"] != "resident"]
    counts = Counter((d["recipient_id"], d["template"], d["channel"], d["status"]) for d in staff)
    return [
        {"recipient": who, "template": t, "channel": ch, "status": st, "events": n}
        for (who, t, ch, st), n in sorted(counts.items())
    ]


def mismatches(run: DemoRun, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "card_id": e["data"]["card_id"],
            "household_id": e["data"]["household_id"],
            "printed_by": e["data"]["surface_printed_by"],
            "printed_on": jst_date(e["data"]["surface_printed_at"]),
        }
        for e in run.events_of(events, r.SURFACE_CHIP_MISMATCH_V1)
    ]


def chip_breaches(run: DemoRun, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"key": e["data"]["key"], "due_on": jst_date(e["data"]["due_at"])}
        for e in run.events_of(events, DEADLINE_BREACHED_V1)
        if e["data"]["key"].startswith("chip-rewrite:")
    ]


def expired(run: DemoRun, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "card_id": e["data"]["card_id"],
            "reason": e["data"].get("reason"),
            "expired_at": jst_minute(e["data"]["at"]),
        }
        for e in run.events_of(events, r.CARD_EXPIRED_V1)
    ]


def letters(folder: Path) -> list[dict[str, Any]]:
    """Letters per (batch folder, template): how many, the manifest, the first file."""
    groups: dict[tuple[str, str], list[str]] = {}
    for manifest in sorted(folder.glob("*/manifest.csv")):
        with manifest.open(encoding="utf-8", newline="") as lines:
            for row in csv.DictReader(lines):
                key = (str(manifest), row["template"])
                groups.setdefault(key, []).append(str(manifest.parent / row["file"]))
    return [
        {"manifest": manifest, "template": template, "letters": len(files), "first": files[0]}
        for (manifest, template), files in groups.items()
    ]


def read_mail(path: Path) -> EmailMessage:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def emails(folder: Path) -> list[dict[str, Any]]:
    return [
        {"file": path.name, "to": str(m["To"]), "subject": str(m["Subject"])}
        for path in sorted(folder.glob("*.eml"))
        for m in [read_mail(path)]
    ]


def latest_digest(folder: Path) -> dict[str, Any] | None:
    """The latest digest that lists the most (the desk manager of the Case 1 queue)."""
    digests = [
        {"file": path.name, "to": str(m["To"]), "subject": str(m["Subject"]), "text": plain(m)}
        for path in sorted(folder.glob("*.eml"))
        for m in [read_mail(path)]
        if str(m["Subject"]).startswith(DIGEST_SUBJECT_MARK)
    ]
    if not digests:
        return None
    chosen = max(reversed(digests), key=lambda d: len(d["text"]))
    return chosen | {"text": "\n".join(chosen["text"].splitlines()[:DIGEST_LINES])}


def plain(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    return str(body.get_content()) if isinstance(body, EmailMessage) else ""


def incident_query(run: DemoRun) -> dict[str, Any]:
    completed = run.apology.get("completed", {})
    return {
        "command": INCIDENT_COMMAND,
        "cases": run.apology.get("cases"),
        "apology_commands": list(APOLOGY_COMMANDS),
        "letters": completed.get("letters"),
        "manifest": completed.get("manifest"),
    }


# --- rendering --------------------------------------------------------------------------------
REPORT_WIDTH = 150


def render(data: dict[str, Any], console: Console) -> None:
    if not console.is_terminal:  # a pipe or a file: wide enough for one row per line
        console.width = REPORT_WIDTH
    steps = ", ".join(f"{step} {s} s" for step, s in data["timings_s"].items() if step != "total")
    total = data["timings_s"].get("total", "?")
    console.print(f"mynaflow demo: the Naka Ward incident replayed in {total} s ({steps})")
    console.print(receipts_table(data["receipts"]))
    console.print(
        table(
            "queue-orphaned (担当者不在のキュー)",
            ["queue", "flagged at", "members now"],
            [
                (o["queue"], o["flagged_at"], members(data, o["queue"]))
                for o in data["queue_orphaned"]
            ],
        )
    )
    console.print(
        table(
            f"Case 1: overdue notices (処理期限超過) — {len(data['overdue'])}",
            ["notice", "queue", "SLA date", "age (days)"],
            [(o["notice_id"], o["queue"], o["sla_due_on"], o["age_days"]) for o in data["overdue"]],
        )
    )
    console.print(
        table(
            "Escalations and staff messages (as the notifier aggregated them)",
            ["to", "template", "channel", "status", "events"],
            [
                (e["recipient"], e["template"], e["channel"], e["status"], e["events"])
                for e in data["escalations"]
            ],
        )
    )
    render_case2(data, console)
    render_mail_and_letters(data, console)


def members(data: dict[str, Any], queue: str) -> str:
    for q in data["queues"]:
        if q["queue"] == queue:
            return ", ".join(q["members"]) or "(none)"
    return "?"


def receipts_table(rows: list[dict[str, Any]]) -> Any:
    return table(
        f"Every notice receipted (受付) — {len(rows)}",
        ["notice", "kind", "status", "queue", "SLA date"],
        [(x["notice_id"], x["kind"], x["status"], x["queue"], x["sla_due_on"]) for x in rows],
    )


def render_case2(data: dict[str, Any], console: Console) -> None:
    console.print(
        table(
            "Case 2: surface-chip-mismatch (券面記載のみ・IC未書換)",
            ["card", "household", "printed by", "printed on"],
            [
                (
                    m["card_id"],
                    m["household_id"],
                    m["printed_by"],
                    f"{m['printed_on']} {era(m['printed_on'])}",
                )
                for m in data["surface_chip_mismatch"]
            ],
        )
    )
    console.print(
        table(
            "Case 2: chip-rewrite deadline breached (継続利用期限超過) and card-expired (失効)",
            ["deadline", "last valid day", "card-expired", "expired at"],
            breach_rows(data),
        )
    )
    console.print(
        table(
            "command-rejected: four eyes (同一職員による確認は不可)",
            ["staff", "card", "reason"],
            [
                (x.get("staff_id"), x.get("card_id"), x.get("reason"))
                for x in data["four_eyes_rejected"]
            ],
        )
    )


def breach_rows(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    expired_by_card = {e["card_id"]: e for e in data["card_expired"]}
    rows = []
    for breach in data["chip_rewrite_breached"]:
        card = breach["key"].removeprefix("chip-rewrite:")
        gone = expired_by_card.get(card, {})
        rows.append(
            (
                breach["key"],
                f"{breach['due_on']} {era(breach['due_on'])}",
                gone.get("reason", "-"),
                gone.get("expired_at", "-"),
            )
        )
    return rows


def render_mail_and_letters(data: dict[str, Any], console: Console) -> None:
    console.print(
        table(
            f"Resident letters written (郵送, PDF) — {sum(x['letters'] for x in data['letters'])}",
            ["template", "letters", "manifest", "first letter"],
            [(x["template"], x["letters"], x["manifest"], x["first"]) for x in data["letters"]],
        )
    )
    console.print(
        table(
            f"Emails caught by the local mail catcher — {len(data['emails'])}",
            ["file", "to", "subject"],
            [(x["file"], x["to"], x["subject"]) for x in data["emails"]],
        )
    )
    digest = data["digest"]
    if digest is None:
        console.print("Latest manager digest: none (digest-due is sent on business days only)")
    else:
        console.print(
            f"Latest manager digest (日次ダイジェスト) to {digest['to']}: {digest['subject']}"
        )
        console.print(digest["text"])
    query = data["incident_query"]
    console.print(
        f"\nEvery case like A's, in one command:\n  {query['command']}   -> {query['cases']} cases"
    )
    for command in query["apology_commands"]:
        console.print(f"  {command}")
    console.print(
        f"  -> {query['letters']} apology letters (お詫び文), manifest {query['manifest']}"
    )
