"""Consumer-group lag as `mynaflow status` reports it.

`mynaflow.messaging.topics_admin.consumer_group_lag` counts the partitions a group has committed.
A group that consumes but has never committed (a subscriber stuck on its very first message, the
shape of Case 1) would show no lag there at all. So this module adds the partitions assigned to
the group's live members that have no committed offset yet. Their lag is every retained message,
because the subscribers start from the earliest offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from mynaflow.messaging.topics_admin import admin_client, consumer_group_lag, kafka_client_options
from mynaflow.settings import MynaflowSettings

# Positions in aiokafka's raw DescribeGroups response tuples.
_GROUP_STATE, _GROUP_MEMBERS = 2, 5
_MEMBER_ASSIGNMENT = 4


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    lag: int
    # False: the group holds this partition but never committed it; lag = retained messages.
    committed: bool = True


@dataclass(frozen=True)
class GroupLagReading:
    group_id: str
    state: str
    members: int
    partitions: list[PartitionLag] = field(default_factory=list)

    @property
    def total_lag(self) -> int:
        return sum(partition.lag for partition in self.partitions)


async def read_consumer_group_lag(settings: MynaflowSettings, group_id: str) -> GroupLagReading:
    """Committed lag plus the lag of assigned partitions that were never committed."""
    committed = await consumer_group_lag(settings, group_id)
    state, members, assigned = await _describe_group(settings, group_id)
    committed_partitions = {
        TopicPartition(topic, partition)
        for topic, parts in committed.items()
        for partition in parts
    }
    never_committed = sorted(assigned - committed_partitions)
    uncommitted_lag = await _retained_messages(settings, never_committed)
    partitions = [
        PartitionLag(topic, partition, lag)
        for topic, parts in committed.items()
        for partition, lag in parts.items()
    ] + [PartitionLag(tp.topic, tp.partition, lag, committed=False) for tp, lag in uncommitted_lag]
    partitions.sort(key=lambda p: (p.topic, p.partition))
    return GroupLagReading(group_id, state, members, partitions)


async def _describe_group(
    settings: MynaflowSettings, group_id: str
) -> tuple[str, int, set[TopicPartition]]:
    """The group's state, its member count and the partitions assigned to its members."""
    async with admin_client(settings) as admin:
        responses = await admin.describe_consumer_groups([group_id])
    groups = [group for response in responses for group in response.groups]
    if not groups:
        return "Unknown", 0, set()
    group = groups[0]
    members = group[_GROUP_MEMBERS]
    assigned = {tp for member in members for tp in _assigned_partitions(member[_MEMBER_ASSIGNMENT])}
    return str(group[_GROUP_STATE]), len(members), assigned


def _assigned_partitions(raw_assignment: bytes) -> set[TopicPartition]:
    if not raw_assignment:  # a member mid-rebalance has no assignment yet
        return set()
    assignment: Any = ConsumerProtocolMemberAssignment.decode(raw_assignment)
    return {
        TopicPartition(topic, partition)
        for topic, partitions in assignment.assignment
        for partition in partitions
    }


async def _retained_messages(
    settings: MynaflowSettings, partitions: list[TopicPartition]
) -> list[tuple[TopicPartition, int]]:
    if not partitions:
        return []
    # A consumer without a group only reads offsets; it joins nothing.
    consumer = AIOKafkaConsumer(group_id=None, **kafka_client_options(settings))
    await consumer.start()
    try:
        beginnings = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return [(tp, max(ends[tp] - beginnings[tp], 0)) for tp in partitions]
