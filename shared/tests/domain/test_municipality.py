"""Unit tests of the JIS X 0401 municipality-code check digit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mynaflow.domain.municipality import is_valid_municipality_code, municipality_check_digit

pytestmark = pytest.mark.unit

prefixes = st.text(alphabet="0123456789", min_size=5, max_size=5)


def test_naka_ward_yokohama() -> None:
    # 1*6 + 4*5 + 1*4 + 0*3 + 4*2 = 38; 38 mod 11 = 5; (11 - 5) mod 10 = 6.
    assert municipality_check_digit("14104") == 6
    assert is_valid_municipality_code("141046")
    assert not is_valid_municipality_code("141045")


@pytest.mark.parametrize("code", ["131016", "011002", "271004"])  # Chiyoda, Sapporo, Osaka
def test_other_published_codes_are_valid(code: str) -> None:
    assert is_valid_municipality_code(code)


@given(prefix=prefixes)
def test_exactly_one_check_digit_per_prefix_is_valid(prefix: str) -> None:
    valid = [d for d in "0123456789" if is_valid_municipality_code(prefix + d)]
    assert valid == [str(municipality_check_digit(prefix))]


@pytest.mark.parametrize("code", ["14104", "1410460", "１４１０４６", "14104a", " 141046", ""])
def test_malformed_codes_are_invalid(code: str) -> None:
    assert not is_valid_municipality_code(code)


def test_check_digit_needs_five_ascii_digits() -> None:
    with pytest.raises(ValueError, match="5 ASCII digits"):
        municipality_check_digit("１４１０４")
