"""Reading notice files: encodings, formats, malformed rows and their line numbers (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mynaflow.contracts.jlis import PERSONAL_NUMBER_PRESENT, parse_raw_notice
from mynaflow.domain.personal_number import personal_number_check_digit
from mynaflow_tools.importer import FileFormat, ImportFileError, read_notice_bytes, read_notice_file

pytestmark = pytest.mark.unit

HEADER = "notice_id,kind,municipality_code,issued_at,application_id,resident_ref,sequence,details"


def individual_number(first11: str) -> str:
    return first11 + str(personal_number_check_digit(first11))


def csv_line(n: int, details: str = '"{""氏名"": ""髙橋 﨑子""}"') -> str:
    issued = "2025-05-01T10:00:00+09:00"
    return f"N-{n:05d},record_update_required,141046,{issued},A-{n},R-{n},{n},{details}"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_shift_jis_csv_is_detected_and_kanji_survive(tmp_path: Path) -> None:
    path = write(tmp_path, "notices.csv", f"{HEADER}\r\n{csv_line(1)}\r\n", "cp932")
    notice_file = read_notice_file(path)
    rows = list(notice_file.rows())
    assert notice_file.encoding == "shift_jis"
    assert notice_file.format is FileFormat.CSV
    assert [row.line for row in rows] == [2]
    assert rows[0].parsed
    value = json.loads(rows[0].payload)
    assert value["details"] == {"氏名": "髙橋 﨑子"}
    assert value["sequence"] == 1
    assert value["municipality_code"] == "141046"
    assert rows[0].key == "N-00001"
    assert parse_raw_notice(rows[0].payload).accepted


def test_plain_shift_jis_cannot_hold_these_kanji_so_cp932_is_needed() -> None:
    with pytest.raises(UnicodeEncodeError):
        "髙﨑".encode("shift_jis")
    assert "髙﨑".encode("cp932").decode("cp932") == "髙﨑"


def test_the_encoding_can_be_forced(tmp_path: Path) -> None:
    path = write(tmp_path, "n.csv", f"{HEADER}\n{csv_line(1)}\n", "cp932")
    rows = list(read_notice_file(path, encoding="shift_jis").rows())
    assert json.loads(rows[0].payload)["details"]["氏名"] == "髙橋 﨑子"


def test_utf8_with_bom_and_json_lines(tmp_path: Path) -> None:
    lines = [json.dumps({"notice_id": f"J-{n}", "kind": "card_delivered"}) for n in range(3)]
    path = write(tmp_path, "n.jsonl", "\ufeff" + "\n".join(lines) + "\n")
    notice_file = read_notice_file(path)
    rows = list(notice_file.rows())
    assert notice_file.format is FileFormat.JSON_LINES
    assert notice_file.encoding == "utf-8"
    assert [(row.line, row.key) for row in rows] == [(1, "J-0"), (2, "J-1"), (3, "J-2")]


def test_malformed_rows_are_reported_with_line_numbers_and_still_published() -> None:
    text = "\n".join(
        [
            HEADER,
            csv_line(1),
            "N-00002,record_update_required,141046",  # too few columns: line 3
            csv_line(3, details='"{not json}"'),  # details not JSON: line 4
            csv_line(4, details='"{""multi"":\n""line""}"'),  # spans lines 5-6
            '"N-00005,unterminated',  # line 7
        ]
    )
    rows = list(read_notice_bytes(text.encode(), file_format=FileFormat.CSV).rows())
    assert [(row.line, row.parsed) for row in rows] == [
        (2, True),
        (3, False),
        (4, False),
        (5, True),
        (7, False),
    ]
    assert rows[1].payload == b"N-00002,record_update_required,141046"
    assert "expected 8 columns, found 3" in (rows[1].error or "")
    assert "details" in (rows[2].error or "")
    assert json.loads(rows[3].payload)["details"] == {"multi": "line"}
    assert rows[4].payload.startswith(b'"N-00005')


def test_unparseable_json_lines_keep_their_line() -> None:
    text = '{"notice_id": "a"}\n\n{broken\n[1]\n{"notice_id": "b"}\n'
    rows = list(read_notice_bytes(text.encode(), file_format=FileFormat.JSON_LINES).rows())
    assert [(row.line, row.parsed) for row in rows] == [
        (1, True),
        (3, False),
        (4, False),
        (5, True),
    ]
    assert rows[1].payload == b"{broken"


def test_a_json_line_nested_too_deeply_is_passed_on_as_unparseable() -> None:
    deep = '{"notice_id": "a", "details": ' + "[" * 100 + "]" * 100 + "}"
    rows = list(read_notice_bytes(deep.encode(), file_format=FileFormat.JSON_LINES).rows())
    assert [(row.line, row.parsed, row.payload) for row in rows] == [(1, False, deep.encode())]


def test_individual_numbers_never_leave_the_importer() -> None:
    number = individual_number("27182818284")
    text = "\n".join(
        [
            HEADER,
            csv_line(1, details=f'"{{""memo"": ""{number}""}}"'),
            f"{number},broken",
        ]
    )
    rows = list(read_notice_bytes(text.encode(), file_format=FileFormat.CSV).rows())
    assert all(number.encode() not in row.payload for row in rows)
    assert [row.redactions for row in rows] == [1, 1]
    assert [r.code for r in parse_raw_notice(rows[0].payload).reasons] == [PERSONAL_NUMBER_PRESENT]


def test_undecodable_bytes_make_a_row_unparseable_and_are_passed_on() -> None:
    data = (HEADER + "\n").encode() + csv_line(1).encode("utf-8") + b"\n" + b"N-2,\xff\xfe,x\n"
    rows = list(read_notice_bytes(data, encoding="utf-8", file_format=FileFormat.CSV).rows())
    assert [(row.line, row.parsed) for row in rows] == [(2, True), (3, False)]
    assert rows[1].payload == b"N-2,\xff\xfe,x"
    assert parse_raw_notice(rows[1].payload).unreadable_json


def test_a_header_without_the_contract_fields_is_refused() -> None:
    with pytest.raises(ImportFileError, match="notice_id"):
        list(read_notice_bytes(b"id,kind\n1,x\n", file_format=FileFormat.CSV).rows())


def test_ten_thousand_rows(tmp_path: Path) -> None:
    lines = [HEADER, *(csv_line(n) for n in range(10_000))]
    path = write(tmp_path, "big.csv", "\r\n".join(lines) + "\r\n", "cp932")
    rows = list(read_notice_file(path).rows())
    assert len(rows) == 10_000
    assert all(row.parsed for row in rows)
    assert rows[-1].line == 10_001
    assert len({row.key for row in rows}) == 10_000
