"""The thin subscriber: raw bytes of `jlis.notices.raw`, in batches, to the batch handler.

notice-intake is the one consumer that takes raw bytes (it must receipt even what does not
parse), so the subscriber reads the Kafka records, not a decoded body.
"""

from __future__ import annotations

from typing import Any

from faststream.kafka.annotations import KafkaMessage
from mynaflow.contracts.topics import JLIS_NOTICES_RAW
from mynaflow.messaging.codec import keep_raw_bodies
from mynaflow.messaging.records import RawRecord, records_of
from mynaflow.runtime.definition import ServiceContext

from notice_intake.domain.messages import RawNoticeMessage
from notice_intake.service_layer.deps import IntakeDeps
from notice_intake.service_layer.intake import acknowledge_batch
from notice_intake.settings import NoticeIntakeSettings


def to_raw_notice_message(record: RawRecord) -> RawNoticeMessage:
    return RawNoticeMessage(record.topic, record.partition, record.offset, record.key, record.value)


def register_intake_subscriber(
    context: ServiceContext[NoticeIntakeSettings], deps: IntakeDeps
) -> None:
    """One batch subscriber: each batch is acknowledged in one transaction, then committed.

    The commit runs while the next batch is fetched (`background_commit`): a notice read again
    is recognised by its partition's mark (domain/progress.py), so waiting for the commit's
    round trip only delayed every batch.
    """
    settings = context.settings
    subscriber = context.subscriber(
        JLIS_NOTICES_RAW,
        batch=True,
        max_records=settings.intake_batch_max_records,
        background_commit=True,
        fetch_max_wait_ms=settings.intake_fetch_max_wait_ms,
        fetch_min_bytes=settings.intake_fetch_min_bytes,
    )

    async def on_raw_notices(body: Any, message: KafkaMessage) -> None:
        # `body` is the records' bytes, not decoded (`keep_raw_bodies`); the records are read.
        await acknowledge_batch([to_raw_notice_message(r) for r in records_of(message)], deps)

    subscriber(on_raw_notices, decoder=keep_raw_bodies)
