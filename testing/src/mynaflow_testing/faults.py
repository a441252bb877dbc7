"""Support for the fault-injection suite (`tests/faults/`): load, follow topics, state invariants.

Invariants are stated as sets and their counts printed (what was lost, what was doubled), in the
manner of Kafka's system tests and Jepsen's checkers. Progress is measured on the topics the
services publish to, as any consumer sees it, so a fault is injected after real progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from mynaflow.contracts.intake import NOTICE_ACKNOWLEDGED_V1
from mynaflow.messaging.topics_admin import admin_client, committed_offsets
from mynaflow.settings import MynaflowSettings
from mynaflow.storage.pool import open_connection

from mynaflow_testing.processes import Fleet, ServiceProcess
from mynaflow_testing.waiting import wait_for

FULL_VOLUME = 20_000


def fault_volume() -> int:
    """Notices per fault test: `FAULT_NOTICES`, else the issue's full 20,000."""
    return int(os.environ.get("FAULT_NOTICES", str(FULL_VOLUME)))


# --- load -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutRecord:
    """A record a test publishes; `label` says what it is (for poison: its kind)."""

    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes | None], ...] = ()
    label: str = "notice"


async def produce_records(
    bootstrap: str,
    topic: str,
    records: Sequence[OutRecord],
    *,
    window: int = 1000,
    over_s: float = 0.0,
) -> list[tuple[int, int]]:
    """Publish in order (acks=all, idempotent); returns each record's (partition, offset).

    `over_s`: spread the publishing over at least that long (windows at an even pace), so a
    load is still arriving when a fault is injected, however fast the service is.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=2 * 1024 * 1024,
    )
    await producer.start()
    try:
        coordinates: list[tuple[int, int]] = []
        started = time.monotonic()
        for start in range(0, len(records), window):
            # Pacing the load, not waiting for anything: the rate is part of the fault's setup.
            await asyncio.sleep(
                max(0.0, started + over_s * start / len(records) - time.monotonic())
            )
            futures = [
                await producer.send(topic, r.value, key=r.key, headers=list(r.headers))
                for r in records[start : start + window]
            ]
            coordinates.extend((m.partition, m.offset) for m in [await f for f in futures])
        return coordinates
    finally:
        await producer.stop()


# The one known kind without an SLA (docs/notice-intake.md): it gets no deadline request.
KIND_WITHOUT_SLA = "expiry_notice_sent"


@dataclass(frozen=True)
class Load:
    """The notices a test sends, in order, and the kind of each."""

    records: list[OutRecord]
    kinds: dict[str, str]

    @property
    def ids(self) -> set[str]:
        return set(self.kinds)

    def deadline_keys(self) -> set[tuple[str]]:
        """The deadline each notice requests: `notice:<id>`, for every kind with an SLA."""
        return {(f"notice:{n}",) for n, kind in self.kinds.items() if kind != KIND_WITHOUT_SLA}


# --- following a topic ------------------------------------------------------------------------
@dataclass
class Followed:
    """One record as read: its coordinates, key, and the JSON it holds (None if not JSON)."""

    partition: int
    offset: int
    key: bytes | None
    event: dict[str, Any] | None


class TopicFollower:
    """Reads topics from the beginning in the background, without a consumer group, and keeps
    every record: progress and invariants are computed from what it has seen so far. It keeps
    reading across a broker outage (the client reconnects)."""

    def __init__(self, bootstrap: str, *topics: str) -> None:
        self.topics = topics
        self.records: dict[str, list[Followed]] = {topic: [] for topic in topics}
        self._consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=200)
            except KafkaError:
                # The broker is away (a fault under test); the client reconnects by itself.
                await asyncio.sleep(0.5)
                continue
            for tp, batch in batches.items():
                self.records[tp.topic].extend(_followed(r) for r in batch)

    def events(self, topic: str) -> list[dict[str, Any]]:
        return [r.event for r in self.records[topic] if r.event is not None]

    async def wait_until(
        self, condition: Callable[[], bool], *, timeout_s: float, what: str
    ) -> None:
        async def seen() -> bool:
            if self._task is not None and self._task.done():
                self._task.result()  # the follower died: say why
            return condition()

        await wait_for(seen, timeout=timeout_s, interval=0.25, what=what)

    async def wait_caught_up(self, bootstrap: str, *, timeout_s: float = 60.0) -> None:
        """Until every record the topics hold now has been read."""
        ends = {topic: sum((await end_offsets(bootstrap, topic)).values()) for topic in self.topics}
        await self.wait_until(
            lambda: all(len(self.records[t]) >= n for t, n in ends.items()),
            timeout_s=timeout_s,
            what=f"follower caught up with {ends}",
        )

    def event_ids(self, topic: str) -> set[str]:
        return {str(e["id"]) for e in self.events(topic) if "id" in e}

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


class Tally:
    """The distinct identities seen so far on one followed topic, counted incrementally: a test
    polls progress several times a second, and rescanning 40,000 events each time would take
    CPU from the services under test."""

    def __init__(
        self,
        follower: TopicFollower,
        topic: str,
        identity: Callable[[dict[str, Any]], Any],
    ) -> None:
        self._follower, self._topic, self._identity = follower, topic, identity
        self._scanned = 0
        self._seen: set[Any] = set()

    def seen(self) -> set[Any]:
        records = self._follower.records[self._topic]
        for record in records[self._scanned :]:
            found = self._identity(record.event) if record.event is not None else None
            if found is not None:
                self._seen.add(found)
        self._scanned = len(records)
        return self._seen

    def __len__(self) -> int:
        return len(self.seen())


def _followed(record: Any) -> Followed:
    try:
        event = json.loads(record.value) if record.value else None
    except ValueError:
        event = None
    return Followed(record.partition, record.offset, record.key, event)


# --- receipts: the invariants -------------------------------------------------------------------
def acknowledgements(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("type") == NOTICE_ACKNOWLEDGED_V1]


@dataclass
class ReceiptCheck:
    """What `intake.receipts` says about a set of notice ids, as sets and counts."""

    sent: set[str]
    receipt_ids: dict[str, set[str]] = field(default_factory=dict)
    statuses: dict[str, Counter[str]] = field(default_factory=dict)
    republished: int = 0  # the same event id read more than once (the outbox is at-least-once)

    @classmethod
    def of(cls, sent: set[str], events: Iterable[dict[str, Any]]) -> ReceiptCheck:
        check = cls(sent)
        seen: set[str] = set()
        receipt_ids: dict[str, set[str]] = defaultdict(set)
        statuses: dict[str, Counter[str]] = defaultdict(Counter)
        for event in acknowledgements(events):
            if event["id"] in seen:
                check.republished += 1
                continue
            seen.add(event["id"])
            notice_id = event["data"]["notice_id"]
            receipt_ids[notice_id].add(event["data"]["receipt_id"])
            statuses[notice_id][event["data"]["status"]] += 1
        check.receipt_ids, check.statuses = dict(receipt_ids), dict(statuses)
        return check

    @property
    def missing(self) -> set[str]:
        return self.sent - self.receipt_ids.keys()

    @property
    def unexpected(self) -> set[str]:
        return self.receipt_ids.keys() - self.sent

    @property
    def several_receipt_ids(self) -> set[str]:
        return {n for n, ids in self.receipt_ids.items() if len(ids) != 1}

    @property
    def first_receipts_twice(self) -> set[str]:
        """Notice ids with more than one non-duplicate receipt (a redelivery seen as new)."""
        return {
            n for n, found in self.statuses.items() if found["accepted"] + found["quarantined"] != 1
        }

    def duplicates(self) -> Counter[str]:
        return Counter({n: found["duplicate"] for n, found in self.statuses.items()})

    def report(self, title: str) -> str:
        lines = [
            f"[{title}] receipts on intake.receipts:",
            f"  sent notice ids           {len(self.sent)}",
            f"  receipted notice ids      {len(self.receipt_ids)}",
            f"  missing (lost)            {len(self.missing)} {_sample(self.missing)}",
            f"  unexpected ids            {len(self.unexpected)} {_sample(self.unexpected)}",
            f"  >1 receipt id             {len(self.several_receipt_ids)} "
            f"{_sample(self.several_receipt_ids)}",
            f"  first receipt != 1        {len(self.first_receipts_twice)} "
            f"{_sample(self.first_receipts_twice)}",
            f"  duplicate receipts        {sum(self.duplicates().values())}",
            f"  events re-published       {self.republished} (same event id; consumers dedupe)",
        ]
        return "\n".join(lines)

    def assert_each_receipted_once(self, title: str, *, duplicates: int = 0) -> None:
        """Every id sent was receipted, with one receipt id, one first receipt, and exactly
        `duplicates` duplicate receipts in all."""
        print(self.report(title), flush=True)
        assert self.missing == set(), "lost: notices without a receipt"
        assert self.unexpected == set()
        assert self.several_receipt_ids == set(), "a notice with two receipt ids"
        assert self.first_receipts_twice == set(), "a notice receipted as new twice"
        assert sum(self.duplicates().values()) == duplicates


def _sample(ids: Iterable[str], n: int = 5) -> str:
    chosen = sorted(ids)[:n]
    return f"e.g. {chosen}" if chosen else ""


async def stored_receipts_per_notice(database_url: str, raw_topic: str) -> Counter[str]:
    """Stored receipts per notice id. Verification only: no read endpoint lists receipts."""
    conn = await open_connection(database_url, schema="notice_intake")
    try:
        rows = await conn.fetch(
            "SELECT notice_id, count(*) AS n FROM receipts"
            " WHERE source_topic = $1 AND notice_id IS NOT NULL GROUP BY notice_id",
            raw_topic,
        )
    finally:
        await conn.close()
    return Counter({row["notice_id"]: row["n"] for row in rows})


async def applied_through(database_url: str, topic: str) -> dict[int, int]:
    """Per partition, the offset after the last message notice-intake's database applied (its
    own record of it). Verification only: no endpoint shows it."""
    conn = await open_connection(database_url, schema="notice_intake")
    try:
        rows = await conn.fetch(
            "SELECT partition, last_offset FROM consumed_partitions WHERE topic = $1", topic
        )
    finally:
        await conn.close()
    return {row["partition"]: row["last_offset"] + 1 for row in rows}


def assert_one_stored_receipt_each(title: str, sent: set[str], stored: Mapping[str, int]) -> None:
    doubled = {n for n, count in stored.items() if count != 1}
    print(
        f"[{title}] stored receipts: {len(stored)} notice ids for {len(sent)} sent; "
        f"missing {len(sent - stored.keys())}, extra {len(stored.keys() - sent)}, "
        f"stored more than once {len(doubled)} {_sample(doubled)}",
        flush=True,
    )
    assert set(stored) == sent
    assert doubled == set()


# --- consumer groups and offsets ----------------------------------------------------------------
async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    return (await committed_offsets(bootstrap, group)).get(topic, {})


async def wait_group_empty(bootstrap: str, group: str, *, timeout_s: float = 60.0) -> None:
    """Until the group has no member (a stopped service has left it)."""

    async def state() -> str:
        async with admin_client(bootstrap) as admin:
            responses = await admin.describe_consumer_groups([group])
        # DescribeGroups response: (error_code, group_id, state, protocol_type, ...).
        groups = [found for response in responses for found in response.groups]
        return str(groups[0][2]) if groups else "Dead"

    await wait_for(
        state, until=lambda s: s in ("Empty", "Dead"), timeout=timeout_s, what=f"{group} empty"
    )


async def group_members(
    settings_or_bootstrap: MynaflowSettings | str, group: str
) -> tuple[str | None, int]:
    """`group`'s state (`Stable`, `PreparingRebalance`, ...; None if unknown) and how many
    consumers are its members now."""
    async with admin_client(settings_or_bootstrap) as admin:
        responses = await admin.describe_consumer_groups([group])
    # DescribeGroups response: (error_code, group_id, state, protocol_type, protocol, members).
    groups = [found for response in responses for found in response.groups]
    return (groups[0][2], len(groups[0][5])) if groups else (None, 0)


async def group_member_count(bootstrap: str, group: str) -> int:
    """How many consumers are members of `group` now."""
    return (await group_members(bootstrap, group))[1]


async def stable_member_count(settings_or_bootstrap: MynaflowSettings | str, group: str) -> int:
    """Members of `group` once its rebalance is over (0 while it is still rebalancing)."""
    state, members = await group_members(settings_or_bootstrap, group)
    return members if state == "Stable" else 0


def child_pids(parent_pid: int) -> list[int]:
    """The processes whose parent is `parent_pid` (read from /proc)."""
    children: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == parent_pid:
            children.append(int(stat.parent.name))
    return children


def is_alive(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def reset_group_to_earliest(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Commit the earliest offset of every partition for `group` (which must be empty), as
    `kafka-consumer-groups --reset-offsets --to-earliest` does; returns them."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            partitions = [TopicPartition(topic, p) for p in await _partitions(consumer, topic)]
        assert partitions, f"{topic} has no partitions to reset"
        consumer.assign(partitions)
        earliest = await consumer.beginning_offsets(partitions)
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in earliest.items()})
        return {tp.partition: offset for tp, offset in earliest.items()}
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    found: set[int] = consumer._client.cluster.partitions_for_topic(topic) or set()
    return found


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = list(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


def assert_no_commit_past_applied(
    title: str, commits: Mapping[int, int], applied: Mapping[int, int]
) -> int:
    """No partition's committed offset is past what the database applied (those messages would
    be lost); returns how many applied messages are uncommitted (what a restart reads again)."""
    partitions = sorted(commits.keys() | applied.keys())
    print_counts(
        f"{title} per partition (committed, applied)",
        {str(p): (commits.get(p, 0), applied.get(p, 0)) for p in partitions},
    )
    past = {p for p in partitions if commits.get(p, 0) > applied.get(p, 0)}
    assert past == set(), "committed past what the database applied: those messages are lost"
    return sum(applied.get(p, 0) - commits.get(p, 0) for p in partitions)


def print_counts(title: str, counts: Mapping[str, object]) -> None:
    print(f"[{title}] " + ", ".join(f"{k}={v}" for k, v in counts.items()), flush=True)


# --- deadline requests and stages ---------------------------------------------------------------
def events_by_identity(
    events: Iterable[dict[str, Any]],
    identity: Callable[[dict[str, Any]], tuple[Any, ...] | None],
) -> tuple[dict[tuple[Any, ...], set[str]], int]:
    """Distinct event ids per identity, and how many events were re-published copies (the same
    event id read again: at-least-once publishing, harmless to consumers)."""
    ids: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    seen: set[str] = set()
    republished = 0
    for event in events:
        key = identity(event)
        if key is None:
            continue
        if event["id"] in seen:
            republished += 1
        seen.add(event["id"])
        ids[key].add(event["id"])
    return dict(ids), republished


def assert_each_once(
    title: str,
    what: str,
    expected: set[tuple[Any, ...]],
    found: Mapping[tuple[Any, ...], set[str]],
    republished: int,
) -> None:
    """Every expected identity has exactly one event (one event id), and nothing else has one."""
    missing = expected - found.keys()
    extra = found.keys() - expected
    twice = {key for key, ids in found.items() if len(ids) > 1}
    print(
        f"[{title}] {what}: expected {len(expected)}, found {len(found)}; "
        f"missing {len(missing)} {_sample(map(str, missing))}, "
        f"unexpected {len(extra)} {_sample(map(str, extra))}, "
        f"more than once {len(twice)} {_sample(map(str, twice))}, "
        f"re-published copies {republished}",
        flush=True,
    )
    assert missing == set(), f"{what}: missing"
    assert extra == set(), f"{what}: unexpected"
    assert twice == set(), f"{what}: more than once"


def schedule_request_identity(event: dict[str, Any]) -> tuple[str] | None:
    if event.get("type") != "jp.mynaflow.deadline.schedule.v1":
        return None
    return (str(event["data"]["key"]),)


def stage_identity(event: dict[str, Any]) -> tuple[str, int, str, int] | None:
    """(key, generation, stage, repetition) of a stage-reached or breached event."""
    if not str(event.get("type", "")).endswith((".stage-reached.v1", ".breached.v1")):
        return None
    data = event["data"]
    return (data["key"], data["generation"], data["stage"], data["repetition"])


# --- notice-intake under test -------------------------------------------------------------------
@dataclass
class IntakeUnderTest:
    """notice-intake (one replica, a real process) with a follower of the topics it writes."""

    process: ServiceProcess
    bootstrap: str
    prefix: str
    database_url: str
    follower: TopicFollower | None = None
    tallies: dict[str, Tally] = field(default_factory=dict)

    @classmethod
    def launch(
        cls,
        fleet: Fleet,
        *,
        database_url: str,
        bootstrap: str,
        prefix: str,
        extra_env: Mapping[str, str] | None = None,
    ) -> IntakeUnderTest:
        """One notice-intake replica of `fleet` (not started yet) on these servers."""
        process = fleet.launch(
            "notice-intake",
            database_url=database_url,
            kafka_bootstrap=bootstrap,
            topic_prefix=prefix,
            extra_env=extra_env,
        )
        return cls(process, bootstrap, prefix, database_url)

    @property
    def raw_topic(self) -> str:
        return f"{self.prefix}jlis.notices.raw"

    @property
    def receipts_topic(self) -> str:
        return f"{self.prefix}intake.receipts"

    @property
    def requests_topic(self) -> str:
        return f"{self.prefix}deadlines.requests"

    @property
    def group(self) -> str:
        return f"{self.prefix}notice-intake"

    async def start(self) -> None:
        """Start the process and, once it made the topics, follow its output."""
        await self.process.start_ready()
        if self.follower is None:
            self.follower = TopicFollower(self.bootstrap, self.receipts_topic, self.requests_topic)
            await self.follower.start()

    def receipts(self) -> list[dict[str, Any]]:
        assert self.follower is not None
        return self.follower.events(self.receipts_topic)

    def receipted(self) -> int:
        """Notice ids acknowledged on the topic so far: the progress a fault waits for."""
        return len(self._tally("receipted", self.receipts_topic, _acknowledged_notice_id))

    def duplicate_receipts(self) -> int:
        """Distinct `duplicate` receipt events on the topic so far."""
        return len(self._tally("duplicates", self.receipts_topic, _duplicate_receipt_id))

    def deadline_requests(self) -> set[tuple[str]]:
        return self._tally("requests", self.requests_topic, schedule_request_identity).seen()

    def _tally(self, name: str, topic: str, identity: Callable[[dict[str, Any]], Any]) -> Tally:
        assert self.follower is not None
        if name not in self.tallies:
            self.tallies[name] = Tally(self.follower, topic, identity)
        return self.tallies[name]

    async def wait_receipted(self, at_least: int, *, timeout_s: float = 300.0) -> int:
        assert self.follower is not None
        await self.follower.wait_until(
            lambda: self.receipted() >= at_least,
            timeout_s=timeout_s,
            what=f"{at_least} notices receipted (last: {self.receipted()})",
        )
        return self.receipted()

    async def applied_and_committed(self) -> tuple[dict[int, int], dict[int, int]]:
        """Per partition: the offset after the last message the database applied, then the
        group's committed offset (read in that order)."""
        applied = await applied_through(self.database_url, self.raw_topic)
        return applied, await committed(self.bootstrap, self.group, self.raw_topic)

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self.process.get_json("/stats")
        return stats

    async def check_invariants(
        self, title: str, load: Load, *, duplicates: int = 0, others_stored: int = 0
    ) -> None:
        """Every notice of `load` receipted once (topic, table and `/stats`), one deadline
        request each. `others_stored`: receipts of other records the test sent (poison)."""
        assert self.follower is not None
        await self.wait_receipted(len(load.ids))
        requests = self.requests_topic
        await self.follower.wait_until(
            lambda: len(load.deadline_keys() - self.deadline_requests()) == 0,
            timeout_s=120,
            what="every deadline request published",
        )
        await self.follower.wait_until(
            lambda: self.duplicate_receipts() >= duplicates,
            timeout_s=120,
            what=f"{duplicates} duplicate receipts published (last: {self.duplicate_receipts()})",
        )
        receipts = [
            e for e in acknowledgements(self.receipts()) if e["data"]["notice_id"] in load.ids
        ]
        ReceiptCheck.of(load.ids, receipts).assert_each_receipted_once(title, duplicates=duplicates)
        stored = await stored_receipts_per_notice(self.database_url, self.raw_topic)
        assert_one_stored_receipt_each(
            title, load.ids, {n: c for n, c in stored.items() if n in load.ids}
        )
        found, republished = events_by_identity(
            self.follower.events(requests), schedule_request_identity
        )
        of_load = {f"notice:{n}" for n in load.ids}
        found = {key: ids for key, ids in found.items() if key[0] in of_load}
        assert_each_once(title, "deadline requests", load.deadline_keys(), found, republished)
        stats = await self.stats()
        print_counts(f"{title} /stats", {**stats["by_status"], "stored": stats["stored_receipts"]})
        assert stats["stored_receipts"] == len(load.ids) + others_stored
        assert stats["by_status"]["duplicate"] == duplicates

    async def terminate_cleanly(self) -> int:
        return await terminate_cleanly(self.process)

    async def close(self) -> None:
        if self.follower is not None:
            await self.follower.stop()


@contextlib.asynccontextmanager
async def running_intake(
    fleet: Fleet,
    *,
    database_url: str,
    bootstrap: str,
    prefix: str,
    extra_env: Mapping[str, str] | None = None,
) -> AsyncIterator[IntakeUnderTest]:
    """notice-intake launched, started and followed; the follower stopped at the end (the
    process itself is the fleet's to stop)."""
    intake = IntakeUnderTest.launch(
        fleet, database_url=database_url, bootstrap=bootstrap, prefix=prefix, extra_env=extra_env
    )
    await intake.start()
    try:
        yield intake
    finally:
        await intake.close()


def _acknowledged_notice_id(event: dict[str, Any]) -> str | None:
    if event.get("type") != NOTICE_ACKNOWLEDGED_V1:
        return None
    notice_id: str | None = event["data"]["notice_id"]
    return notice_id


def _duplicate_receipt_id(event: dict[str, Any]) -> str | None:
    if event.get("type") != NOTICE_ACKNOWLEDGED_V1 or event["data"]["status"] != "duplicate":
        return None
    return str(event["id"])


async def terminate_cleanly(process: ServiceProcess) -> int:
    """SIGTERM; the exit code. Prints the log's error lines, so a run shows what went wrong."""
    code = await process.terminate()
    errors = error_lines(process.log_text())
    print_counts(f"{process.script} log", {"error lines": len(errors), "starts": process.starts})
    for line in errors[:5]:
        print(f"  {line[:400]}", flush=True)
    return code


def error_lines(log: str) -> list[str]:
    """The JSON log lines at level ERROR or above (printed, so a failure shows them)."""
    found = []
    for line in log.splitlines():
        with contextlib.suppress(ValueError):
            if json.loads(line).get("level") in ("ERROR", "CRITICAL"):
                found.append(line)
    return found
