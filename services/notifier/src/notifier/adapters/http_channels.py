"""SMS (through the configured gateway) and webhooks: JSON POSTs with httpx.

The body carries the message and an idempotency id (hashed key) the receiver can dedupe on. A
2xx answer is a success; anything else, or no answer, is a failure to retry.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from notifier.service_layer.ports import Outgoing, SendFailed


def _idempotency_id(outgoing: Outgoing) -> str:
    return hashlib.sha256(outgoing.message.message_key.encode("utf-8")).hexdigest()[:32]


class JsonPostSender:
    """POSTs `body(outgoing)` to `url(outgoing)`; one client shared across sends."""

    def __init__(self, client: httpx.AsyncClient, *, kind: str, gateway: str | None = None) -> None:
        self.client = client
        self.kind = kind
        # SMS: one gateway URL for every message; webhooks: the address is the URL.
        self.gateway = gateway

    def body(self, outgoing: Outgoing) -> dict[str, Any]:
        message = outgoing.message
        common = {
            "idempotency_id": _idempotency_id(outgoing),
            "template": message.template,
            "subject": outgoing.rendered.subject,
            "text": outgoing.rendered.text,
        }
        if self.kind == "sms":
            return {**common, "to": outgoing.address}
        return {**common, "recipient_id": message.recipient_id}

    def url(self, outgoing: Outgoing) -> str:
        if outgoing.address is None:
            raise SendFailed("no_address")
        return outgoing.address

    async def send(self, outgoing: Outgoing) -> str | None:
        url = self.gateway or self.url(outgoing)
        try:
            response = await self.client.post(url, json=self.body(outgoing))
        except httpx.HTTPError as error:
            raise SendFailed(f"{self.kind}_unreachable: {type(error).__name__}") from error
        if not response.is_success:
            raise SendFailed(f"{self.kind}_http_{response.status_code}")
        return None


def sms_sender(client: httpx.AsyncClient, gateway_url: str) -> JsonPostSender:
    """SMS: the gateway URL is fixed; the phone number travels in the body (`to`)."""
    return JsonPostSender(client, kind="sms", gateway=gateway_url)


def webhook_sender(client: httpx.AsyncClient) -> JsonPostSender:
    """Webhooks: the address *is* the URL (the staff member's, or the ward's default)."""
    return JsonPostSender(client, kind="webhook")
