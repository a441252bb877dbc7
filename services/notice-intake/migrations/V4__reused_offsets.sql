-- Offsets can go backwards (the input topic re-created, the broker's data lost, a move to another
-- cluster): a new notice may then arrive at a (topic, partition, offset) that already has a
-- receipt, and must still get its own (docs/notice-intake.md, "Offsets going backwards"). The
-- coordinates stop being unique; what dedupes is the notice id and the per-partition mark.
ALTER TABLE receipts DROP CONSTRAINT receipts_source_topic_source_partition_source_offset_key;
ALTER TABLE triage_items
    DROP CONSTRAINT triage_items_source_topic_source_partition_source_offset_key;

-- Telling a redelivery from a new notice behind the mark: receipts with no readable notice id
-- are found by their coordinates.
CREATE INDEX receipts_unreadable_at_idx ON receipts (source_topic, source_partition, source_offset)
    WHERE notice_id IS NULL;
