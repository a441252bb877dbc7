"""The Kafka broker factory: one `KafkaBroker` per service, with safe delivery defaults.

How FastStream 0.7.8 acknowledges, decodes and stops, and why these defaults are what they are,
is written down in `docs/platform.md` ("FastStream 0.7.8: what the platform relies on").
Subscribers are made with `mynaflow.messaging.reliable_consume.reliable_subscriber`.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from mynaflow.messaging.codec import decode_json_bodies, parse_tolerating_bad_headers
from mynaflow.settings import MynaflowSettings

__all__ = ["graceful_timeout_s", "kafka_security", "make_broker"]


def kafka_security(settings: MynaflowSettings) -> BaseSecurity | None:
    """FastStream's security object for the settings' TLS/SASL choice (None for PLAINTEXT)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    use_ssl = protocol in ("SSL", "SASL_SSL")
    ssl_context = (
        create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
        )
        if use_ssl
        else None
    )
    if protocol == "SSL":
        return BaseSecurity(ssl_context=ssl_context, use_ssl=True)
    username = settings.kafka_sasl_username or ""
    password = (
        settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    )
    sasl_classes: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }
    sasl_class = sasl_classes[settings.kafka_sasl_mechanism or "PLAIN"]
    return sasl_class(username, password, ssl_context=ssl_context, use_ssl=use_ssl)


def graceful_timeout_s(settings: MynaflowSettings) -> float:
    """How long stopping waits for in-flight handlers: the grace period minus time to flush."""
    return max(settings.shutdown_grace_s - 2.5, 1.0)


def make_broker(settings: MynaflowSettings, *, service: str, **options: Any) -> KafkaBroker:
    """A `KafkaBroker` for `service`: client id, TLS/SASL from settings, JSON/CloudEvents decoding.

    Topics are never created implicitly (`ensure_topics` does it at start-up). Extra keyword
    arguments go to `KafkaBroker` unchanged.
    """
    defaults: dict[str, Any] = {
        "client_id": f"{settings.topic_prefix}{service}",
        "security": kafka_security(settings),
        "decoder": decode_json_bodies,
        "parser": parse_tolerating_bad_headers,
        "allow_auto_create_topics": False,
        "graceful_timeout": graceful_timeout_s(settings),
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "acks": "all",
        "enable_idempotence": True,
        "logger": logging.getLogger(f"mynaflow.faststream.{service}"),
        # "Received"/"Processed" for every message is too much at INFO under load.
        "log_level": logging.DEBUG,
    }
    return KafkaBroker(settings.kafka_bootstrap_servers, **(defaults | options))
