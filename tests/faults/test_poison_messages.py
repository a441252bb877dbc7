"""Fault 5: poison messages interleaved at 1 % of the load, hostile kinds included.

Every poison record (found by its partition and offset) must end as a quarantined receipt with
its reasons or a dead letter with its reason; a valid notice that merely carries a null header
value is receipted `accepted` (header values never affect validation). The flow keeps going:
every valid notice is receipted once, as in fault 1. No individual number generated here is on
any topic intake writes.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from mynaflow.domain.personal_number import personal_number_check_digit
from mynaflow_testing.faults import (
    IntakeUnderTest,
    Load,
    OutRecord,
    TopicFollower,
    acknowledgements,
    print_counts,
    produce_records,
    running_intake,
)
from mynaflow_testing.processes import Fleet
from mynaflow_tools.loadtest.notices import generate_notices, new_run_id

pytestmark = pytest.mark.faults

ONE_IN = 100  # 1 %
NESTING = 100_000
OVERSIZED_BYTES = 900_000
ACCEPTED_KINDS = {"null_header"}


def individual_number(rng: random.Random) -> str:
    """Computed here (check digit included), so no valid number is ever committed."""
    first11 = "".join(rng.choice("0123456789") for _ in range(11))
    return first11 + str(personal_number_check_digit(first11))


@dataclass
class PoisonFactory:
    """Hostile records, one kind after the other; remembers the individual numbers it used."""

    rng: random.Random
    numbers: list[str]
    made: int = 0

    def next(self) -> OutRecord:
        kinds = [
            self.bad_json,
            self.bad_utf8,
            self.deeply_nested,
            self.null_header,
            self.nul_in_key,
            self.individual_number,
            self.oversized,
            self.schema_invalid,
        ]
        record = kinds[self.made % len(kinds)](f"px-{new_run_id()}-{self.made:05d}")
        self.made += 1
        return record

    def bad_json(self, key: str) -> OutRecord:
        return OutRecord(key.encode(), f'{{"notice_id": "{key}", "kind": '.encode(), (), "bad_json")

    def bad_utf8(self, key: str) -> OutRecord:
        return OutRecord(key.encode(), b'{"notice_id": "\xff\xfe\xc3\x28"}', (), "bad_utf8")

    def deeply_nested(self, key: str) -> OutRecord:
        value = b'{"notice_id": "' + key.encode() + b'", "details": '
        value += b"[" * NESTING + b"]" * NESTING + b"}"
        return OutRecord(key.encode(), value, (), "deeply_nested")

    def null_header(self, key: str) -> OutRecord:  # noqa: ARG002 (its own notice id)
        # A valid notice from a Java adapter that adds a tracing header with a null value.
        notice = next(iter(generate_notices(new_run_id(), 1)))
        return OutRecord(notice.key, notice.payload, (("traceparent", None),), "null_header")

    def nul_in_key(self, key: str) -> OutRecord:
        return OutRecord(key.encode() + b"\x00nul", b"{not json at all", (), "nul_in_key")

    def individual_number(self, key: str) -> OutRecord:
        number = individual_number(self.rng)
        self.numbers.append(number)
        notice: dict[str, Any] = json.loads(next(iter(generate_notices(new_run_id(), 1))).payload)
        notice["notice_id"] = key
        notice["details"]["memo"] = f"個人番号 {number}"
        payload = json.dumps(notice, ensure_ascii=False).encode()
        return OutRecord(key.encode(), payload, (), "individual_number")

    def oversized(self, key: str) -> OutRecord:
        return OutRecord(key.encode(), b"<" + b"x" * OVERSIZED_BYTES, (), "oversized")

    def schema_invalid(self, key: str) -> OutRecord:
        value = json.dumps({"notice_id": key, "kind": 7, "issued_at": "yesterday"}).encode()
        return OutRecord(key.encode(), value, (), "schema_invalid")


def interleave(load: Load, factory: PoisonFactory) -> list[OutRecord]:
    """One poison record after every 99 notices."""
    records: list[OutRecord] = []
    for n, record in enumerate(load.records, start=1):
        records.append(record)
        if n % (ONE_IN - 1) == 0:
            records.append(factory.next())
    return records


async def test_poison_at_one_percent_is_quarantined_or_dead_lettered_and_the_flow_goes_on(
    kafka_bootstrap: str, topic_prefix: str, fault_database_url: str, fleet: Fleet, load: Load
) -> None:
    factory = PoisonFactory(random.Random(), [])
    records = interleave(load, factory)
    async with running_intake(
        fleet, database_url=fault_database_url, bootstrap=kafka_bootstrap, prefix=topic_prefix
    ) as intake:
        dead_letters = TopicFollower(kafka_bootstrap, f"{topic_prefix}intake.dead-letter")
        await dead_letters.start()
        try:
            coordinates = await produce_records(kafka_bootstrap, intake.raw_topic, records)
            poisons = {
                coordinate: record
                for coordinate, record in zip(coordinates, records, strict=True)
                if record.label != "notice"
            }
            await intake.check_invariants(
                "fault 5: poison at 1 %", load, others_stored=len(poisons)
            )
            await dead_letters.wait_caught_up(kafka_bootstrap)
            outcomes = poison_outcomes(
                poisons, intake.receipts(), dead_letters.events(dead_letters.topics[0])
            )
            assert_every_poison_ended_with_a_reason(poisons, outcomes)
            assert_no_individual_number_published(factory.numbers, intake, dead_letters)
            assert await intake.terminate_cleanly() == 0
        finally:
            await dead_letters.stop()


Coordinates = tuple[int, int]


def poison_outcomes(
    poisons: dict[Coordinates, OutRecord],
    receipts: list[dict[str, Any]],
    dead_letters: list[dict[str, Any]],
) -> dict[Coordinates, set[str]]:
    """What became of each poison record: `receipt:<status>:<reason codes>` and
    `dead-letter:<reason>`."""
    found: dict[Coordinates, set[str]] = defaultdict(set)
    for event in acknowledgements(receipts):
        source = event["data"].get("source") or {}
        where = (source.get("partition"), source.get("offset"))
        if where in poisons:
            codes = ",".join(sorted(r["code"] for r in event["data"]["reasons"]))
            found[where].add(f"receipt:{event['data']['status']}:{codes}")
    for event in dead_letters:
        where = (event["data"]["partition"], event["data"]["offset"])
        if where in poisons and event["data"]["reason"]:
            found[where].add(f"dead-letter:{event['data']['reason']}")
    return found


def ended_well(record: OutRecord, outcomes: set[str]) -> bool:
    if record.label in ACCEPTED_KINDS:
        return any(o.startswith("receipt:accepted") for o in outcomes)
    quarantined = any(
        o.startswith("receipt:quarantined:") and not o.endswith(":") for o in outcomes
    )
    return quarantined or any(o.startswith("dead-letter:") for o in outcomes)


def assert_every_poison_ended_with_a_reason(
    poisons: dict[Coordinates, OutRecord], outcomes: dict[Coordinates, set[str]]
) -> None:
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    failed: dict[str, list[Coordinates]] = defaultdict(list)
    for where, record in poisons.items():
        found = outcomes.get(where, set())
        by_kind[record.label].update(found or {"nothing"})
        by_kind[record.label]["(records)"] += 1
        if not ended_well(record, found):
            failed[record.label].append(where)
    for kind, counts in sorted(by_kind.items()):
        print_counts(f"fault 5 poison {kind}", dict(sorted(counts.items())))
    print_counts("fault 5 poison without the right ending", {k: len(v) for k, v in failed.items()})
    assert dict(failed) == {}


def assert_no_individual_number_published(
    numbers: list[str], intake: IntakeUnderTest, dead_letters: TopicFollower
) -> None:
    assert intake.follower is not None
    published = [
        json.dumps(event, ensure_ascii=False)
        for follower in (intake.follower, dead_letters)
        for topic in follower.topics
        for event in follower.events(topic)
    ]
    text = "\n".join(published)
    leaked = [n for n in numbers if n in text]
    print_counts(
        "fault 5 individual numbers", {"generated": len(numbers), "on a topic": len(leaked)}
    )
    assert leaked == []
