"""Free local TCP ports for tests that start servers or need an address where nothing listens."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the probe socket is closed again).

    Another process may take it before the caller binds it; that race is accepted for tests,
    which is also why an address built from it is a fine "nothing listens here".
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
