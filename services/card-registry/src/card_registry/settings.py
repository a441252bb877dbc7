"""Settings of card-registry: the common variables and its own (docs/card-registry.md)."""

from __future__ import annotations

from mynaflow.settings import MynaflowSettings
from pydantic import Field, SecretStr


class CardRegistrySettings(MynaflowSettings):
    """Read from the environment at start-up (`HTTP_PORT` overrides the port)."""

    http_port: int = 8082
    # Queue of move-in cases and card pickup: the `audience.queue` of their deadlines.
    card_queue: str = "card-counter"
    # A command naming something not seen yet is parked this long, then rejected.
    unknown_wait_s: float = Field(default=60.0, gt=0)
    # How often parked commands are judged again (expired ones are rejected then).
    pending_sweep_s: float = Field(default=5.0, gt=0)
    card_pickup_notice_days: int = Field(default=90, ge=1)
    card_pickup_re_notice_days: int = Field(default=60, ge=1)
    card_destroy_after_application_days: int = Field(default=365, ge=1)
    # Bearer token the read endpoints require when HTTP_HOST is not a loopback address.
    read_token: SecretStr | None = None
