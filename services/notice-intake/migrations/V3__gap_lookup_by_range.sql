-- A batch loads only the open gaps whose range holds one of its numbers: find them by range
-- start within the municipality instead of reading every open gap.
CREATE INDEX sequence_gaps_open_range_idx ON sequence_gaps (municipality_code, first_missing)
    WHERE closed_at IS NULL;
