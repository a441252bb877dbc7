"""The sample file the README's quick start imports shows each kind of outcome (pure)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from mynaflow.contracts.jlis import parse_raw_notice
from mynaflow_tools.importer import read_notice_file

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).parents[3] / "examples" / "jlis-notices-sample.csv"


def test_the_sample_file_reads_without_unparseable_rows() -> None:
    rows = list(read_notice_file(SAMPLE).rows())

    assert len(rows) == 7
    assert all(row.parsed for row in rows)


def test_the_sample_file_shows_a_duplicate_a_bad_check_digit_and_a_sequence_gap() -> None:
    parsed = [parse_raw_notice(row.payload) for row in read_notice_file(SAMPLE).rows()]

    ids = Counter(notice.notice_id for notice in parsed)
    assert [notice_id for notice_id, count in ids.items() if count > 1] == ["JL-SAMPLE-0002"]
    rejected = {notice.notice_id for notice in parsed if not notice.accepted}
    assert rejected == {"JL-SAMPLE-0007"}  # municipality 141045: wrong check digit
    sequences = {notice.fields.sequence for notice in parsed}
    assert 4 not in sequences
    assert {3, 5} <= sequences
