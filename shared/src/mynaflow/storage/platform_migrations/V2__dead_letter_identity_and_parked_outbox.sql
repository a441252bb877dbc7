-- Dead letters that any poison record can reach, and outbox rows that cannot block the others.

-- A Kafka key is bytes, and PostgreSQL's text refuses a NUL byte: a poison record whose key held
-- one could never be stored, so it was retried for ever and its partition stopped. Keys are kept
-- as bytes now (redacted, as before).
ALTER TABLE dead_letters ALTER COLUMN key TYPE bytea USING convert_to(key, 'UTF8');

-- A record is identified by its coordinates *and* a hash of its (redacted) key and bytes. After a
-- topic is recreated, or its data lost, a different poison record can sit at a position already
-- dead-lettered: it must still be recorded. A redelivery of the same record still adds nothing.
-- The hash: sha256 of the key's length as a 4-byte big-endian integer (-1 for no key), the key,
-- then the payload; `mynaflow.messaging.dead_letter.record_sha256` computes the same.
ALTER TABLE dead_letters ADD COLUMN record_sha256 bytea;
UPDATE dead_letters
SET record_sha256 = sha256(int4send(coalesce(length(key), -1)) || coalesce(key, ''::bytea) || payload);
ALTER TABLE dead_letters ALTER COLUMN record_sha256 SET NOT NULL;
ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_source_topic_partition_offset_key;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_record_key
    UNIQUE (source_topic, partition, "offset", record_sha256);

-- An outbox row the broker can never accept (too large, an invalid topic) is parked with its
-- reason instead of being retried for ever in front of every later row. Later rows of the same
-- topic and key wait behind it (their order is kept); every other row flows on.
ALTER TABLE outbox ADD COLUMN parked_at timestamptz, ADD COLUMN parked_reason text;

-- The relay asks, for each row it reads, whether an earlier row of its key is parked: parked
-- rows are few, so this index is tiny.
CREATE INDEX outbox_parked_idx ON outbox (topic, key, id)
    WHERE parked_at IS NOT NULL AND published_at IS NULL;
