"""Feeding the scenario in the way the other systems would, and reading topics back.

- J-LIS notices: a generated JSON Lines file through `mynaflow notices import` (the CLI itself,
  as a process, so the demo runs exactly what an operator runs).
- The resident registry: `resident.moves` events from the contract's own builder.
- Staff terminals: `registry.commands` from the contract's builder, answered on
  `registry.events` (the same envelope and key as `mynaflow staff ...`).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from mynaflow.contracts import registry as r
from mynaflow.contracts import resident as res
from mynaflow.contracts.envelope import CLOUDEVENTS_CONTENT_TYPE, CloudEvent, encode_event
from mynaflow.contracts.topics import (
    REGISTRY_COMMANDS,
    REGISTRY_EVENTS,
    RESIDENT_MOVES,
    TopicSpec,
    topic_name,
)
from mynaflow.messaging.topics_admin import kafka_client_options
from mynaflow.settings import MynaflowSettings

from mynaflow_tools.demo.scenario import ResidentMove

HEADERS = [("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())]
ANSWER_TYPES = {r.COMMAND_ACCEPTED_V1, r.COMMAND_REJECTED_V1}


def console_script(name: str) -> str:
    """A workspace console script: beside this interpreter (the uv venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def write_notice_file(path: Path, notices: Iterable[dict[str, Any]]) -> Path:
    lines = [json.dumps(notice, ensure_ascii=False) for notice in notices]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(env: dict[str, str], *args: str, timeout_s: float = 300.0) -> dict[str, Any]:
    """`mynaflow ARGS --json` as a process; its JSON output (raises with stderr on failure)."""
    done = subprocess.run(  # noqa: S603 (the workspace's own console script)
        [console_script("mynaflow"), *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mynaflow {' '.join(args)} exited {done.returncode}: {done.stderr}")
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


async def publish_events(
    settings: MynaflowSettings, topic: str, events: Iterable[tuple[str, CloudEvent[Any]]]
) -> int:
    """Publish (key, event) pairs in order, waiting for every acknowledgement."""
    producer = AIOKafkaProducer(
        acks="all", enable_idempotence=True, **kafka_client_options(settings)
    )
    await producer.start()
    try:
        sends = [
            await producer.send(topic, encode_event(event), key=key.encode(), headers=HEADERS)
            for key, event in events
        ]
        await asyncio.gather(*sends)
        return len(sends)
    finally:
        await producer.stop()


async def publish_moves(settings: MynaflowSettings, moves: list[ResidentMove]) -> int:
    events = [
        (move.data.kafka_key(), res.resident_event(move.data, event_type=move.event_type))
        for move in moves
    ]
    return await publish_events(settings, topic_name(RESIDENT_MOVES, settings.topic_prefix), events)


async def send_commands(
    settings: MynaflowSettings, commands: list[r.RegistryCommand], timeout_s: float = 120.0
) -> dict[str, dict[str, Any]]:
    """Publish the commands in order and return each one's answer, by command id.

    The reader is at the end of `registry.events` before anything is published, so no answer
    can be missed (as `mynaflow staff` does it, for a whole list at once).
    """
    events = [r.command_event(command) for command in commands]
    async with TopicTail(settings, REGISTRY_EVENTS) as tail:
        topic = topic_name(REGISTRY_COMMANDS, settings.topic_prefix)
        await publish_events(settings, topic, [(e.subject or e.id, e) for e in events])
        wanted = {event.id for event in events}
        answers: dict[str, dict[str, Any]] = {}
        async with asyncio.timeout(timeout_s):
            while wanted - answers.keys():
                for event in await tail.next_batch():
                    command_id = event.get("data", {}).get("command_id")
                    if event.get("type") in ANSWER_TYPES and command_id in wanted:
                        answers[command_id] = event
        return {event.id: answers[event.id] for event in events}


class TopicTail:
    """Reads a topic from its end at entry: the events that arrive after."""

    def __init__(self, settings: MynaflowSettings, spec: TopicSpec) -> None:
        self.settings = settings
        self.topic = topic_name(spec, settings.topic_prefix)
        self.consumer = AIOKafkaConsumer(
            group_id=None, enable_auto_commit=False, **kafka_client_options(settings)
        )

    async def __aenter__(self) -> TopicTail:
        await self.consumer.start()
        partitions = await _partitions(self.settings, self.topic)
        self.consumer.assign(partitions)
        for partition, offset in (await self.consumer.end_offsets(partitions)).items():
            self.consumer.seek(partition, offset)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()

    async def next_batch(self) -> list[dict[str, Any]]:
        batches = await self.consumer.getmany(timeout_ms=500)
        return [_decoded(rec.value) for recs in batches.values() for rec in recs]


async def _partitions(settings: MynaflowSettings, topic: str) -> list[TopicPartition]:
    """The topic's partitions, from a producer's metadata (it waits for the topic to exist)."""
    producer = AIOKafkaProducer(**kafka_client_options(settings))
    await producer.start()
    try:
        ids = await producer.partitions_for(topic)
        return [TopicPartition(topic, p) for p in sorted(ids)]
    finally:
        await producer.stop()


def _decoded(value: bytes | None) -> dict[str, Any]:
    try:
        decoded = json.loads(value or b"null")
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return False
    return True


async def read_topic(settings: MynaflowSettings, spec: TopicSpec) -> list[dict[str, Any]]:
    """Every event on the topic now, from the beginning to the end offsets read at the start."""
    topic = topic_name(spec, settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        group_id=None, enable_auto_commit=False, **kafka_client_options(settings)
    )
    await consumer.start()
    try:
        partitions = await _partitions(settings, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        events: list[dict[str, Any]] = []
        while not await _reached(consumer, ends):
            batches = await consumer.getmany(timeout_ms=500)
            events.extend(_decoded(rec.value) for recs in batches.values() for rec in recs)
        return events
    finally:
        await consumer.stop()
