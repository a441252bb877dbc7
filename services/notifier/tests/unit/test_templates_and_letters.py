"""Each template renders with real data; letters are A4 PDFs with the font embedded, the
Japanese name, the 令和 date and the deadline in their text; 外字 names are flagged."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from notifier.adapters.letters import (
    FontMissingError,
    LetterRequest,
    LetterWriter,
    load_font,
    missing_glyphs,
)
from notifier.adapters.templates import TemplateRenderer
from notifier.domain.content import ResidentView, StaffView, WardInfo, message_context
from notifier.domain.templates_catalogue import TEMPLATES
from notifier.settings import DEFAULT_FONT_PATH
from pypdf import PdfReader

pytestmark = pytest.mark.unit

NOW = datetime(2022, 5, 14, 0, 0, tzinfo=UTC)
WARD = WardInfo("横浜市中区役所", "横浜市中区日本大通35", "戸籍課", "045-224-8296")
RESIDENT = ResidentView(
    names=("髙橋 﨑子",),
    address="横浜市中区山下町1-2-3",
    postal_code="231-0023",
    name_kana=("タカハシ サキコ",),
)
DEADLINE = {
    "key": "chip-rewrite:C-0042",
    "policy": "chip_rewrite_90d",
    "stage": "resident_30d",
    "role": "resident",
    "due_at": "2022-06-13T14:59:59.999999Z",
    "at": "2022-05-14T00:00:00Z",
    "subject": {"type": "resident_card", "ids": {"card_id": "C-0042", "resident_id": "R-0042"}},
    "audience": {"queue": "card-records", "resident_id": "R-0042"},
}
ITEMS: dict[str, dict[str, Any]] = {
    "chip_rewrite_reminder": DEADLINE,
    "card_expired": {**DEADLINE, "at": "2022-06-13T15:00:00Z", "reason": "chip_rewrite_overdue"},
    "card_pickup": {**DEADLINE, "key": "card-pickup:C-0042", "policy": "card_pickup"},
    "card_pickup_renotice": {**DEADLINE, "key": "card-pickup:C-0042"},
    "application_defect": {
        "kind": "application_defect",
        "sla_due_on": "2022-06-13",
        "details": {"reason": "写真不備"},
        "notice_id": "JLIS-1",
    },
    "card_renewal_reminder": {**DEADLINE, "key": "certificate-renewal:C-0042"},
    "apology": DEADLINE,
    "staff_reminder": {**DEADLINE, "role": "queue"},
    "manager_escalation": {**DEADLINE, "stage": "breach", "due_at": "2022-05-10T14:59:59Z"},
    "manager_digest": {},
    "sequence_gap_alert": {
        "municipality_code": "141046",
        "first_missing": 124,
        "last_missing": 126,
        "missing_count": 3,
    },
    "orphaned_queue_alert": {
        "queue": "card-records",
        "reason": "last_member_left",
        "open_items": 48,
    },
    "watcher_silent_alert": {},
    "command_rejected": {
        "command_type": "jp.mynaflow.registry.verify-chip-rewrite.v1",
        "card_id": "C-0042",
        "reason": "four_eyes_same_staff",
        "message": "書換を行った職員本人は確認できません（二人確認）",
    },
    "surface_chip_mismatch": {
        "card_id": "C-0042",
        "resident_id": "R-0042",
        "surface_printed_at": "2022-03-15T01:00:00Z",
    },
    "delivery_failed": {
        "template_subject": "お詫び",
        "recipient_id": "R-0042",
        "channel": "email",
        "attempts": 6,
    },
}
EXPECTED_TEXT = {
    "chip_rewrite_reminder": "令和4年6月13日",
    "card_expired": "再交付",
    "card_renewal_reminder": "電子証明書",
    "application_defect": "写真不備",
    "manager_escalation": "4日超過",
    "sequence_gap_alert": "124〜126",
    "orphaned_queue_alert": "48 件",
    "command_rejected": "二人確認",
    "surface_chip_mismatch": "令和4年3月15日",
    "watcher_silent_alert": "10 分",
    "manager_digest": "card-records",
}


def context_for(template: str) -> dict[str, Any]:
    reader = RESIDENT if TEMPLATES[template].reader == "resident" else StaffView("記録係長")
    extra = {
        "silent_minutes": 10,
        "last_seen": "令和4年5月14日 08:50",
        "queues": [{"queue": "card-records", "open": 2, "overdue": 1, "oldest_days": 3}],
        "breached": [],
    }
    return message_context(
        ward=WARD, reader=reader, items=[ITEMS[template]], count=1, now=NOW, extra=extra
    )


def test_every_template_has_test_data() -> None:
    assert set(ITEMS) == set(TEMPLATES)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_each_template_renders_japanese_text_and_html(template: str) -> None:
    message = TemplateRenderer().render(template, context_for(template))
    assert message.subject == TEMPLATES[template].subject
    assert "様" in message.text
    assert WARD.name in message.text
    assert message.text.strip() in message.html or "<p>" in message.html
    if template in EXPECTED_TEXT:
        assert EXPECTED_TEXT[template] in message.text


@pytest.fixture(scope="module")
def writer(tmp_path_factory: pytest.TempPathFactory) -> LetterWriter:
    return LetterWriter(tmp_path_factory.mktemp("letters"), load_font(DEFAULT_FONT_PATH), WARD)


@pytest.mark.parametrize(
    "template", sorted(t for t, info in TEMPLATES.items() if info.reader == "resident")
)
def test_each_resident_letter_is_a_pdf_with_name_era_date_and_deadline(
    template: str, writer: LetterWriter
) -> None:
    message = TemplateRenderer().render(template, context_for(template))
    request = LetterRequest(
        f"{template}-1", "2022-05-14", "H-1", ("R-0042",), RESIDENT, message, NOW
    )
    written = writer.write(request)
    reader = PdfReader(written.path)
    text = "".join(page.extract_text() for page in reader.pages)
    assert "髙橋" in text
    assert "﨑子" in text
    assert "令和4年5月14日" in text  # the letter's date
    if template in ("chip_rewrite_reminder", "card_renewal_reminder"):
        assert "令和4年6月13日" in text  # the deadline
    # pypdf types a page's entries as the base PdfObject; these are dictionaries in every PDF.
    fonts = [
        font.get_object()
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()  # type: ignore[index]
    ]
    ipaex = [f for f in fonts if "IPAex" in str(f["/BaseFont"])]
    assert ipaex
    assert all("/FontFile2" in f["/FontDescriptor"] for f in ipaex), "the font is embedded"
    assert reader.pages[0].mediabox.width == pytest.approx(595.27, abs=0.1)  # A4
    assert written.manual_reason is None


def test_a_name_the_font_lacks_is_never_printed_and_is_flagged(writer: LetterWriter) -> None:
    font = load_font(DEFAULT_FONT_PATH)
    gaiji = "\U00020bb7"  # 𠮷 (tsuchi-yoshi), a classic 外字 in names, absent from IPAex
    assert missing_glyphs(font, f"佐藤{gaiji}") == ["U+20BB7"]
    strange = ResidentView(
        names=(f"{gaiji}田 花子",), address="横浜市中区1-1", postal_code="231-0001"
    )
    message = TemplateRenderer().render("apology", context_for("apology"))
    request = LetterRequest("gaiji-1", "apology-B1", "H-9", ("R-9",), strange, message, NOW)
    written = writer.write(request)
    text = PdfReader(written.path).pages[0].extract_text()
    assert "花子" not in text
    assert "＿＿" in text  # a line to write the name on, not a blank box
    assert written.manual_reason == "gaiji U+20BB7"
    rows = list(csv.DictReader((written.path.parent / "manifest.csv").open(encoding="utf-8")))
    assert [(r["file"], r["manual"], r["resident_ids"]) for r in rows] == [
        ("gaiji-1.pdf", "yes", "R-9")
    ]


def test_a_missing_letter_font_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(FontMissingError, match="fonts-ipaexfont"):
        load_font(tmp_path / "no-such-font.ttf")
