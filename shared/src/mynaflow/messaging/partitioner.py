"""The partitioner of the services' outbox producers: Kafka's key hash, computed faster.

Every record a service publishes has a key, and aiokafka's `DefaultPartitioner` hashes it with a
pure-Python murmur2 that masks every intermediate value and reads the key a byte at a time:
about 7 µs for a 56-byte key, 12 % of the deadline-watcher's CPU per fired stage
(docs/BENCHMARKS.md). This one reads the key's 32-bit words in one `struct` call and masks only
where a value can leave 32 bits: about half the time.

It must pick exactly the partition Kafka's own clients pick (Java's `Utils.murmur2`, aiokafka's
`murmur2`): other producers of the same topics, and our replicas' ordering per key, rely on a key
always landing on one partition. `shared/tests/messaging/test_partitioner.py` compares the two on
generated keys and on the Java client's published test vectors.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

__all__ = ["KeyHashPartitioner", "kafka_murmur2"]

_SEED = 0x9747B28C
_MULTIPLIER = 0x5BD1E995
_MASK = 0xFFFFFFFF
# Precompiled unpackers for keys of up to 255 bytes (every key this project makes); longer keys
# build their format on the spot.
_WORD_READERS = tuple(struct.Struct(f"<{count}I") for count in range(64))


def _words(data: bytes, count: int) -> tuple[int, ...]:
    """The key's whole little-endian 32-bit words, as Java's `murmur2` reads them."""
    if count < len(_WORD_READERS):
        return _WORD_READERS[count].unpack_from(data)
    return struct.unpack_from(f"<{count}I", data)


def kafka_murmur2(data: bytes) -> int:
    """Kafka's murmur2 of `data` (seed 0x9747b28c), as an unsigned 32-bit number."""
    length = len(data)
    count = length >> 2
    hashed = _SEED ^ length
    for word in _words(data, count):
        word = (word * _MULTIPLIER) & _MASK
        word = ((word ^ (word >> 24)) * _MULTIPLIER) & _MASK
        hashed = ((hashed * _MULTIPLIER) & _MASK) ^ word
    left = length & 3
    if left:
        tail = data[count * 4 :]
        if left == 3:
            hashed ^= tail[2] << 16
        if left >= 2:
            hashed ^= tail[1] << 8
        hashed = ((hashed ^ tail[0]) * _MULTIPLIER) & _MASK
    hashed ^= hashed >> 13
    hashed = (hashed * _MULTIPLIER) & _MASK
    return hashed ^ (hashed >> 15)


class KeyHashPartitioner:
    """aiokafka's `partitioner=`: the same choice as its `DefaultPartitioner`, made faster.

    A keyed record goes to `murmur2(key) & 0x7fffffff` modulo the partition count, as in every
    Kafka client; an unkeyed one to a random available partition, as aiokafka does.
    """

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[(kafka_murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
