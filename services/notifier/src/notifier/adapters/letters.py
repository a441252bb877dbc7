"""A4 letters (PDF, reportlab) with the IPAex font embedded, and the print manifest per batch.

A character the font has no glyph for (外字) would print as a blank box, and a resident's name
printed wrongly is worse than none. Such a letter is still written, with a blank line where the
name goes, and its manifest row says `manual` with the code points, so the print room writes the
name by hand.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mynaflow.domain.time import to_jst_date
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from notifier.adapters.templates import RenderedMessage
from notifier.domain.content import ResidentView, WardInfo
from notifier.domain.era import japanese_date

FONT_NAME = "IPAexMincho"
MANIFEST_NAME = "manifest.csv"
MANIFEST_FIELDS = (
    "file",
    "batch",
    "household_id",
    "resident_ids",
    "template",
    "postal_code",
    "manual",
    "manual_reason",
    "written_at",
)
BODY_SIZE = 10.5
LINE_HEIGHT = 6.2 * mm
MARGIN = 22 * mm


class FontMissingError(RuntimeError):
    """The configured letter font is not installed: the service must not start without it."""


def load_font(path: Path) -> TTFont:
    """Register the letter font once; reportlab embeds the glyphs each PDF uses."""
    if not path.is_file():
        raise FontMissingError(
            f"letter font {path} not found: install fonts-ipaexfont or set LETTER_FONT_PATH"
        )
    font = TTFont(FONT_NAME, str(path))
    pdfmetrics.registerFont(font)
    return font


def missing_glyphs(font: TTFont, text: str) -> list[str]:
    """Characters of `text` the font cannot print (外字), as `U+XXXX`."""
    known = font.face.charToGlyph
    return sorted({f"U+{ord(c):04X}" for c in text if not c.isspace() and ord(c) not in known})


@dataclass(frozen=True)
class LetterRequest:
    file_stem: str
    batch: str
    household_id: str | None
    resident_ids: tuple[str, ...]
    reader: ResidentView
    message: RenderedMessage
    written_at: datetime


@dataclass(frozen=True)
class WrittenLetter:
    path: Path
    manual_reason: str | None


class LetterWriter:
    def __init__(self, letters_dir: Path, font: TTFont, ward: WardInfo) -> None:
        self._dir = letters_dir
        self._font = font
        self._ward = ward

    def write(self, request: LetterRequest) -> WrittenLetter:
        """Write the PDF and its manifest row (both replaced/kept if written before)."""
        folder = self._dir / request.batch
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{request.file_stem}.pdf"
        missing = missing_glyphs(self._font, "".join(request.reader.names))
        manual = f"gaiji {' '.join(missing)}" if missing else None
        path.write_bytes(self.render(request, print_name=not missing))
        self._add_to_manifest(folder, path, request, manual)
        return WrittenLetter(path, manual)

    def render(self, request: LetterRequest, *, print_name: bool = True) -> bytes:
        buffer = io.BytesIO()
        canvas = Canvas(buffer, pagesize=A4)
        canvas.setTitle(request.message.subject)
        canvas.setAuthor(self._ward.name)
        _Page(canvas, self._font, self._ward).draw(request, print_name=print_name)
        canvas.save()
        return buffer.getvalue()

    def _add_to_manifest(
        self, folder: Path, path: Path, request: LetterRequest, manual: str | None
    ) -> None:
        manifest = folder / MANIFEST_NAME
        if manifest.exists() and path.name in manifest.read_text("utf-8"):
            return  # written before (a retry after a crash): one row per letter
        is_new = not manifest.exists()
        with manifest.open("a", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=MANIFEST_FIELDS)
            if is_new:
                writer.writeheader()
            writer.writerow(
                {
                    "file": path.name,
                    "batch": request.batch,
                    "household_id": request.household_id or "",
                    "resident_ids": " ".join(request.resident_ids),
                    "template": request.message.template,
                    "postal_code": request.reader.postal_code or "",
                    "manual": "yes" if manual else "no",
                    "manual_reason": manual or "",
                    "written_at": request.written_at.isoformat(),
                }
            )


class _Page:
    """One A4 page: address block, sender block, date, title, body (wrapped by width)."""

    def __init__(self, canvas: Canvas, font: TTFont, ward: WardInfo) -> None:
        self.c = canvas
        self.font = font
        self.ward = ward
        self.width, self.height = A4

    def draw(self, request: LetterRequest, *, print_name: bool) -> None:
        self._addressee(request.reader, print_name)
        self._sender(request.written_at)
        y = self.height - 95 * mm
        self.c.setFont(FONT_NAME, 14)
        self.c.drawCentredString(self.width / 2, y, request.message.subject)
        self._body(request.message.text, y - 14 * mm)

    def _addressee(self, reader: ResidentView, print_name: bool) -> None:
        x, y = MARGIN, self.height - 25 * mm
        self.c.setFont(FONT_NAME, 11)
        if reader.postal_code:
            self.c.drawString(x, y, f"〒{reader.postal_code}")
        for line in self._wrap(reader.address, 90 * mm, 11):
            y -= 6 * mm
            self.c.drawString(x, y, line)
        if print_name and reader.name_kana:
            y -= 7 * mm
            self.c.setFont(FONT_NAME, 8)
            self.c.drawString(x + 4 * mm, y, "・".join(reader.name_kana))
        y -= 8 * mm
        self.c.setFont(FONT_NAME, 15)
        name = reader.greeting if print_name else "＿＿＿＿＿＿＿＿ 様"
        self.c.drawString(x + 4 * mm, y, name)

    def _sender(self, written_at: datetime) -> None:
        right = self.width - MARGIN
        y = self.height - 25 * mm
        self.c.setFont(FONT_NAME, 10.5)
        lines = [
            japanese_date(to_jst_date(written_at)),
            self.ward.name,
            self.ward.section,
            self.ward.address,
            f"電話 {self.ward.phone}",
        ]
        for line in lines:
            self.c.drawRightString(right, y, line)
            y -= 5.5 * mm

    def _body(self, text: str, y: float) -> None:
        self.c.setFont(FONT_NAME, BODY_SIZE)
        for line in self._wrap_text(text):
            if y < MARGIN:
                self.c.showPage()
                self.c.setFont(FONT_NAME, BODY_SIZE)
                y = self.height - MARGIN
            self.c.drawString(MARGIN, y, line)
            y -= LINE_HEIGHT

    def _wrap_text(self, text: str) -> list[str]:
        width = self.width - 2 * MARGIN
        lines: list[str] = []
        for paragraph in text.splitlines():
            lines.extend(self._wrap(paragraph, width, BODY_SIZE) or [""])
        return lines

    def _wrap(self, text: str, width: float, size: float) -> list[str]:
        """Japanese wraps anywhere: cut at the last character that still fits."""
        lines: list[str] = []
        current = ""
        for char in text:
            if pdfmetrics.stringWidth(current + char, FONT_NAME, size) > width:
                lines.append(current)
                current = ""
            current += char
        if current:
            lines.append(current)
        return lines


def manifest_summary(letters_dir: Path, batch: str) -> tuple[int, int]:
    """(letters, flagged for manual handling) listed in a batch's manifest."""
    manifest = letters_dir / batch / MANIFEST_NAME
    if not manifest.exists():
        return 0, 0
    with manifest.open(encoding="utf-8", newline="") as rows:
        listed = list(csv.DictReader(rows))
    return len(listed), sum(1 for row in listed if row["manual"] == "yes")
