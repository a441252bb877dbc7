"""Unit tests of the load test's synthetic notices: valid, unique, never an individual number."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mynaflow.contracts.jlis import parse_raw_notice
from mynaflow.domain.municipality import is_valid_municipality_code
from mynaflow.domain.personal_number import find_personal_numbers, personal_number_check_digit
from mynaflow.domain.time import JST
from mynaflow_tools.loadtest.notices import (
    KIND_MIX,
    MAX_NOTICES,
    MUNICIPALITY_CODES,
    RUN_ID_LENGTH,
    IndividualNumberInNotice,
    encode_notice,
    every_nth,
    generate_notices,
    new_run_id,
    notice_id,
    notice_value,
    with_duplicates,
)

pytestmark = pytest.mark.unit

ISSUED = datetime(2025, 5, 1, 10, 0, tzinfo=JST)
run_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=8, max_size=8)
TWELVE_DIGITS = re.compile(r"[0-9０-９]{12}")


def test_every_notice_is_accepted_by_the_contracts_parser() -> None:
    for notice in generate_notices("abcdefgh", 200, issued_at=ISSUED):
        parsed = parse_raw_notice(notice.payload)
        assert parsed.accepted, parsed.reasons
        assert parsed.notice is not None
        assert parsed.notice.notice_id == notice.notice_id
        assert parsed.notice.kind == notice.kind
        assert parsed.personal_numbers_found == 0


def test_municipality_codes_carry_valid_check_digits_naka_ward_included() -> None:
    assert "141046" in MUNICIPALITY_CODES
    assert all(is_valid_municipality_code(code) for code in MUNICIPALITY_CODES)
    codes = {json.loads(n.payload)["municipality_code"] for n in generate_notices("a" * 8, 50)}
    assert codes == set(MUNICIPALITY_CODES)


def test_ids_are_unique_within_a_run_and_carry_the_run_id() -> None:
    notices = list(generate_notices("qwertyui", 10_000, issued_at=ISSUED))
    ids = [n.notice_id for n in notices]
    assert len(set(ids)) == 10_000
    assert all(i.startswith("lt-qwertyui-") for i in ids)
    assert [n.key for n in notices[:2]] == [b"lt-qwertyui-0000000", b"lt-qwertyui-0000001"]


def test_run_ids_are_letters_and_differ_between_runs() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == RUN_ID_LENGTH and i.isascii() and i.isalpha() for i in ids)


def test_kinds_follow_the_mix_with_an_unknown_kind_for_triage() -> None:
    kinds = Counter(n.kind for n in generate_notices("abcdefgh", 2000, issued_at=ISSUED))
    total = sum(weight for _, weight in KIND_MIX)
    assert kinds == {kind: 2000 * weight // total for kind, weight in KIND_MIX}
    assert {"record_update_required", "application_defect", "card_delivered"} <= set(kinds)
    assert "expiry_notice_sent" in kinds


def test_no_sequence_numbers_so_a_deployment_gets_no_false_gaps() -> None:
    notice = next(generate_notices("abcdefgh", 1, issued_at=ISSUED))
    assert "sequence" not in json.loads(notice.payload)


@given(run_id=run_ids, n=st.integers(min_value=0, max_value=MAX_NOTICES - 1))
def test_no_notice_holds_a_twelve_digit_run_or_an_individual_number(run_id: str, n: int) -> None:
    payload = encode_notice(notice_value(run_id, n, ISSUED)).decode("utf-8")
    assert TWELVE_DIGITS.search(payload) is None
    assert find_personal_numbers(payload) == []


def test_a_value_holding_an_individual_number_is_refused() -> None:
    first11 = "12345678901"  # the check digit is computed here: no valid number is committed
    number = first11 + str(personal_number_check_digit(first11))
    value = notice_value("abcdefgh", 1, ISSUED) | {"resident_ref": number}
    with pytest.raises(IndividualNumberInNotice):
        encode_notice(value)


def test_issue_time_is_aware_and_shared_by_the_run() -> None:
    issued = {json.loads(n.payload)["issued_at"] for n in generate_notices("abcdefgh", 30)}
    assert len(issued) == 1
    assert datetime.fromisoformat(issued.pop()).utcoffset() is not None
    with pytest.raises(ValueError, match="naive"):
        list(generate_notices("abcdefgh", 1, issued_at=datetime(2025, 5, 1)))


@pytest.mark.parametrize("count", [-1, MAX_NOTICES + 1])
def test_counts_outside_the_bounds_are_refused(count: int) -> None:
    with pytest.raises(ValueError, match="count"):
        list(generate_notices("abcdefgh", count))


def test_a_malformed_share_fails_the_contract_and_keeps_a_readable_notice_id() -> None:
    notices = list(generate_notices("abcdefgh", 300, malformed=0.01))
    malformed = [n for n in notices if n.malformed]
    assert [n.notice_id for n in malformed] == [notice_id("abcdefgh", n) for n in (99, 199, 299)]
    for notice in notices:
        parsed = parse_raw_notice(notice.payload)
        assert (parsed.notice is None) is notice.malformed
        assert parsed.notice_id == notice.notice_id
        assert not find_personal_numbers(notice.payload.decode())


def test_a_duplicate_share_is_sent_again_byte_for_byte_after_the_next_notice() -> None:
    notices = list(generate_notices("abcdefgh", 40))
    order = with_duplicates(notices, 0.05)
    assert len(order) == 42
    assert [n.notice_id for n in order[18:22]] == [
        notice_id("abcdefgh", n) for n in (18, 19, 20, 19)
    ]
    assert order[-1] == notices[39]  # the last duplicate, with no notice after it
    assert Counter(n.notice_id for n in order).most_common(1)[0][1] == 2


def test_no_share_means_none_and_a_share_outside_zero_to_one_is_refused() -> None:
    notices = list(generate_notices("abcdefgh", 10))
    assert with_duplicates(notices, 0.0) == notices
    assert not any(n.malformed for n in generate_notices("abcdefgh", 10, malformed=0.0))
    assert every_nth(1.0) == 1
    with pytest.raises(ValueError, match="between 0 and 1"):
        every_nth(1.5)
