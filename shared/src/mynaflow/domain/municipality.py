"""Municipality codes (全国地方公共団体コード, JIS X 0401 + check digit).

A code is 6 ASCII digits; the 6th is a check digit over the first five with weights 6,5,4,3,2:
check = (11 - sum mod 11) mod 10. Naka Ward, Yokohama is 141046.
"""

from __future__ import annotations

_WEIGHTS = (6, 5, 4, 3, 2)


def _is_ascii_digits(text: str, length: int) -> bool:
    # str.isdigit() alone accepts full-width and other Unicode digits; a code is ASCII only.
    return len(text) == length and text.isascii() and text.isdigit()


def municipality_check_digit(first5: str) -> int:
    """The check digit for the first five digits of a municipality code."""
    if not _is_ascii_digits(first5, 5):
        raise ValueError(f"expected 5 ASCII digits, got {first5!r}")
    total = sum(int(digit) * weight for digit, weight in zip(first5, _WEIGHTS, strict=True))
    return (11 - total % 11) % 10


def is_valid_municipality_code(code: str) -> bool:
    """True for exactly 6 ASCII digits whose last digit is the check digit of the first five."""
    return _is_ascii_digits(code, 6) and municipality_check_digit(code[:5]) == int(code[5])
