"""Jinja2 rendering of the Japanese templates into subject, plain text and HTML.

The HTML part is the same text, escaped, in paragraphs: one wording per message, whatever the
channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from notifier.domain.templates_catalogue import TEMPLATES


@dataclass(frozen=True)
class RenderedMessage:
    template: str
    subject: str
    text: str
    html: str


class TemplateRenderer:
    def __init__(self) -> None:
        self._text = Environment(
            loader=PackageLoader("notifier", "templates"),
            autoescape=False,  # noqa: S701 - plain text; the HTML part is escaped below
            keep_trailing_newline=True,
        )
        self._html = Environment(
            loader=PackageLoader("notifier", "templates"),
            autoescape=select_autoescape(["html.j2"]),
            undefined=StrictUndefined,
        )

    def render(self, template: str, context: Mapping[str, Any]) -> RenderedMessage:
        subject = TEMPLATES[template].subject
        text = self._text.get_template(f"{template}.txt.j2").render(**context).strip() + "\n"
        html = self._html.get_template("_message.html.j2").render(
            subject=subject, paragraphs=_paragraphs(text)
        )
        return RenderedMessage(template, subject, text, html)


def _paragraphs(text: str) -> list[list[str]]:
    blocks = [block.strip("\n") for block in text.split("\n\n")]
    return [block.splitlines() for block in blocks if block.strip()]
