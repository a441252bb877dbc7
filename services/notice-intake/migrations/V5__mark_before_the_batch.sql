-- A batch locks its partitions' marks and raises them in one statement, so the statement must
-- also say what each mark was before: an upsert's RETURNING shows only the new row on
-- PostgreSQL 15. `previous_offset` is the mark as it stood before the last batch that claimed
-- the partition (-1 for a new one); it serves that RETURNING and nothing else.
ALTER TABLE consumed_partitions ADD COLUMN previous_offset bigint NOT NULL DEFAULT -1;
