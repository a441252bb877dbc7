"""The idempotency key of a delivery: one (source event, recipient, channel) is sent once.

It is the unique key in PostgreSQL, so a redelivered event, a restart or a replay of the whole
topic finds the row and sends nothing again; an email's Message-ID is derived from it, so even a
relay that saw the message before can tell.
"""

from __future__ import annotations

import hashlib
import uuid

from mynaflow.contracts.notifier import Channel

# Fixed namespace: the same key always gives the same delivery id, on every replica.
_DELIVERY_NAMESPACE = uuid.UUID("5b0f8a52-3c1e-4d57-9f43-6a2e1c7d9b10")


def idempotency_key(event_id: str, recipient_id: str, channel: Channel) -> str:
    return f"{event_id}|{recipient_id}|{channel}"


def delivery_id_for(key: str) -> uuid.UUID:
    return uuid.uuid5(_DELIVERY_NAMESPACE, key)


def message_id_for(key: str, domain: str) -> str:
    """An RFC 5322 Message-ID from the key (hashed: the key holds a recipient id)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"
