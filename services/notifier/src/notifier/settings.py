"""Settings of notifier: the common variables, with this service's defaults."""

from __future__ import annotations

from mynaflow.settings import MynaflowSettings


class NotifierSettings(MynaflowSettings):
    """Read from the environment at start-up (`HTTP_PORT` overrides the port)."""

    http_port: int = 8084
