"""The `letter` channel: write the PDF and its manifest row (file I/O off the event loop)."""

from __future__ import annotations

import asyncio

from notifier.adapters.letters import LetterWriter
from notifier.service_layer.ports import Outgoing, SendFailed


class LetterSender:
    def __init__(self, writer: LetterWriter) -> None:
        self.writer = writer

    async def send(self, outgoing: Outgoing) -> str | None:
        if outgoing.letter is None:
            raise SendFailed("no_letter")
        try:
            written = await asyncio.to_thread(self.writer.write, outgoing.letter)
        except OSError as error:
            raise SendFailed(f"letter_write_failed: {type(error).__name__}") from error
        return written.path.name
