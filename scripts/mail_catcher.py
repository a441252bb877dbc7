#!/usr/bin/env python3
"""A local SMTP catcher for `make run`: every message the notifier sends is stored as a file.

Usage: uv run python scripts/mail_catcher.py [--host 127.0.0.1] [--port 1025] [--dir .mynaflow/mail]

Each message is written to `<dir>/<UTC time>-<n>.eml` (open it with any mail reader, or read it
as text). Only the file name and the subject are printed: recipients are personal data.
Stops on SIGINT/SIGTERM. Needs aiosmtpd (a dev dependency of the workspace).
"""

from __future__ import annotations

import argparse
import itertools
import signal
import threading
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class StoreToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.counter = itertools.count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802, ARG002
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.folder / f"{stamp}-{next(self.counter):05d}.eml"
        path.write_bytes(envelope.content)
        subject = message_from_bytes(envelope.content, policy=policy.default)["Subject"]
        print(f"mail-catcher: stored {path.name}: {subject}", flush=True)
        return "250 stored"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=Path(".mynaflow/mail"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(StoreToFolder(args.dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"mail-catcher: smtp://{args.host}:{args.port} -> {args.dir}/", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
