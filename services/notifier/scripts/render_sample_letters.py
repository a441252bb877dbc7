#!/usr/bin/env python3
"""Render a sample of every resident letter to PNG for docs/letters/ (needs pdftoppm).

Usage: uv run python services/notifier/scripts/render_sample_letters.py [--out docs/letters]

The letters are made by the service's own code (templates, letter writer, IPAex font) from
sample data: a fictitious resident of Naka Ward, with dates around Case 2 (moved in
2022-03-15, chip rewrite due 2022-06-13).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from notifier.adapters.letters import LetterRequest, LetterWriter, load_font
from notifier.adapters.templates import TemplateRenderer
from notifier.domain.content import ResidentView, message_context
from notifier.domain.templates_catalogue import TEMPLATES
from notifier.settings import NotifierSettings

NOW = datetime(2022, 5, 14, 0, 0, tzinfo=UTC)
READER = ResidentView(
    names=("髙橋 﨑子", "髙橋 一郎"),
    address="横浜市中区山下町1-2-3 マイナ荘101",
    postal_code="231-0023",
    name_kana=("タカハシ サキコ", "タカハシ イチロウ"),
)
CHIP = {
    "key": "chip-rewrite:C-0042",
    "policy": "chip_rewrite_90d",
    "stage": "resident_30d",
    "due_at": "2022-06-13T14:59:59.999999Z",
    "at": "2022-06-13T15:00:00Z",
    "subject": {"type": "resident_card", "ids": {"card_id": "C-0042"}},
}
ITEMS: dict[str, dict[str, Any]] = {
    "chip_rewrite_reminder": CHIP,
    "card_expired": {**CHIP, "reason": "chip_rewrite_overdue"},
    "card_pickup": {**CHIP, "key": "card-pickup:C-0042", "due_at": "2022-08-31T14:59:59Z"},
    "card_pickup_renotice": {**CHIP, "key": "card-pickup:C-0042", "due_at": "2022-10-31T14:59Z"},
    "application_defect": {"sla_due_on": "2022-06-13", "details": {"reason": "写真不備"}},
    "card_renewal_reminder": {**CHIP, "key": "certificate-renewal:C-0042"},
    "apology": {**CHIP, "subject": {"type": "notice", "ids": {"notice_id": "JLIS-2022-000731"}}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/letters"))
    parser.add_argument("--dpi", type=int, default=60)
    args = parser.parse_args()
    if shutil.which("pdftoppm") is None:
        raise SystemExit("pdftoppm not found: apt-get install poppler-utils")
    settings = NotifierSettings()
    writer = LetterWriter(
        Path(tempfile.mkdtemp()), load_font(settings.letter_font_path), settings.ward()
    )
    renderer = TemplateRenderer()
    args.out.mkdir(parents=True, exist_ok=True)
    for template, info in TEMPLATES.items():
        if info.reader != "resident":
            continue
        context = message_context(
            ward=settings.ward(), reader=READER, items=[ITEMS[template]], count=1, now=NOW
        )
        message = renderer.render(template, context)
        request = LetterRequest(
            template, "samples", "H-0042", ("R-0042", "R-0043"), READER, message, NOW
        )
        pdf = writer.write(request).path
        target = args.out / template
        subprocess.run(  # noqa: S603
            ["pdftoppm", "-png", "-singlefile", "-r", str(args.dpi), str(pdf), str(target)],  # noqa: S607
            check=True,
        )
        print(f"{target}.png")


if __name__ == "__main__":
    main()
