"""The outbox producers' partitioner picks exactly the partition Kafka's clients pick."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner, murmur2
from hypothesis import given, settings
from hypothesis import strategies as st
from mynaflow.messaging.partitioner import KeyHashPartitioner, kafka_murmur2

# org.apache.kafka.common.utils.UtilsTest#testMurmur2: Java's signed results.
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def _as_java_int(unsigned: int) -> int:
    return unsigned - (1 << 32) if unsigned >= 1 << 31 else unsigned


def test_the_hash_matches_the_java_clients_published_vectors() -> None:
    assert {key: _as_java_int(kafka_murmur2(key)) for key in JAVA_VECTORS} == JAVA_VECTORS


@settings(max_examples=3000)
@given(st.binary(max_size=300))
def test_the_hash_matches_aiokafkas_on_any_key(key: bytes) -> None:
    # Up to 300 bytes: past the precompiled word readers (255), and every tail length.
    assert kafka_murmur2(key) == murmur2(key)


@settings(max_examples=1000)
@given(st.binary(min_size=1, max_size=120), st.integers(min_value=1, max_value=64))
def test_a_keyed_record_goes_where_aiokafka_sends_it(key: bytes, partition_count: int) -> None:
    partitions = list(range(partition_count))
    ours = KeyHashPartitioner()(key, partitions, partitions)
    assert ours == DefaultPartitioner()(key, partitions, partitions)


def test_the_project_s_own_keys_go_where_aiokafka_sends_them() -> None:
    keys = [
        f"{kind}:{number:08d}-9d3b-4b8e-a1f2-7e9c0d5b6a41".encode()
        for kind in ("notice", "deadline", "card", "work-item")
        for number in range(500)
    ]
    partitions = list(range(6))
    ours = [KeyHashPartitioner()(key, partitions, partitions) for key in keys]
    assert ours == [DefaultPartitioner()(key, partitions, partitions) for key in keys]
    assert set(ours) == set(partitions)  # the keys spread: the check above is not vacuous


def test_an_unkeyed_record_goes_to_an_available_partition() -> None:
    chosen = {KeyHashPartitioner()(None, [0, 1, 2, 3], [1, 3]) for _ in range(200)}
    assert chosen == {1, 3}


def test_an_unkeyed_record_with_none_available_goes_to_any_partition() -> None:
    chosen = {KeyHashPartitioner()(None, [0, 1, 2], []) for _ in range(200)}
    assert chosen == {0, 1, 2}
