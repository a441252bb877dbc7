-- notice-intake's business tables. Every value here is redacted: no individual number (個人番号)
-- is ever stored.

-- One stored receipt per notice id (the original; duplicates only bump the counters). A message
-- whose notice id could not be read has notice_id NULL and is keyed by its Kafka coordinates.
CREATE TABLE receipts (
    receipt_id        uuid        PRIMARY KEY,
    notice_id         text        UNIQUE,
    status            text        NOT NULL CHECK (status IN ('accepted', 'quarantined')),
    kind              text,
    municipality_code text,
    issued_at         timestamptz,
    application_id    text,
    resident_ref      text,
    sequence          bigint,
    details           jsonb,
    owner_queue       text        NOT NULL,
    received_at       timestamptz NOT NULL,
    sla_due_on        date,
    reasons           jsonb       NOT NULL DEFAULT '[]'::jsonb,
    -- sha256 of the redacted notice in canonical JSON: tells a plain duplicate from a conflict.
    content_hash      text,
    -- The original bytes, redacted; kept for quarantined input so triage can see what came.
    raw_payload       bytea,
    source_topic      text        NOT NULL,
    source_partition  integer     NOT NULL,
    source_offset     bigint      NOT NULL,
    duplicate_count   integer     NOT NULL DEFAULT 0,
    conflict_count    integer     NOT NULL DEFAULT 0,
    last_duplicate_at timestamptz,
    UNIQUE (source_topic, source_partition, source_offset)
);

-- `mynaflow intake stats`: the oldest receipt.
CREATE INDEX receipts_received_at_idx ON receipts (received_at);

-- A duplicate notice id whose content differs from the original: a work item for triage.
CREATE TABLE triage_items (
    work_item_id     uuid        PRIMARY KEY,
    receipt_id       uuid        NOT NULL REFERENCES receipts (receipt_id),
    notice_id        text        NOT NULL,
    reason           text        NOT NULL,
    owner_queue      text        NOT NULL,
    sla_due_on       date,
    content_hash     text,
    raw_payload      bytea       NOT NULL,
    reasons          jsonb       NOT NULL DEFAULT '[]'::jsonb,
    source_topic     text        NOT NULL,
    source_partition integer     NOT NULL,
    source_offset    bigint      NOT NULL,
    created_at       timestamptz NOT NULL,
    UNIQUE (source_topic, source_partition, source_offset)
);

CREATE INDEX triage_items_receipt_idx ON triage_items (receipt_id);

-- The last offset applied per partition, written in each batch's transaction. A redelivered
-- message (offset at or below it: the crash came after the commit, before Kafka's offset commit)
-- changes nothing and emits nothing. The row lock also serialises two replicas that briefly
-- both hold a partition during a rebalance.
CREATE TABLE consumed_partitions (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    last_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- Sequence numbers per municipality: the lowest and highest seen, plus the open gaps; together
-- they say exactly which numbers have arrived (see domain/sequence_gaps.py).
CREATE TABLE sequence_heads (
    municipality_code text   PRIMARY KEY,
    low               bigint NOT NULL,
    high              bigint NOT NULL
);

CREATE TABLE sequence_gaps (
    gap_id                uuid        PRIMARY KEY,
    municipality_code     text        NOT NULL REFERENCES sequence_heads (municipality_code),
    first_missing         bigint      NOT NULL,
    last_missing          bigint      NOT NULL,
    -- the numbers of the range still missing, as [[first, last], ...]
    missing               jsonb       NOT NULL,
    first_seen_missing_at timestamptz NOT NULL,
    reported_at           timestamptz,
    closed_at             timestamptz
);

-- The gap watcher's query: unreported open gaps, soonest first.
CREATE INDEX sequence_gaps_unreported_idx ON sequence_gaps (first_seen_missing_at)
    WHERE reported_at IS NULL AND closed_at IS NULL;
-- Loading a municipality's open gaps when its numbers arrive.
CREATE INDEX sequence_gaps_open_idx ON sequence_gaps (municipality_code) WHERE closed_at IS NULL;
