"""The relay's Kafka headers, read from the text of an outbox row's `headers` column: parsed once
per distinct text, and always the row's own."""

from __future__ import annotations

import json

from mynaflow.messaging.outbox import _KafkaHeadersCache


def test_rows_with_the_same_headers_share_one_encoded_list() -> None:
    headers_of = _KafkaHeadersCache()
    text = json.dumps({"content-type": "application/cloudevents+json"})
    first = headers_of(text)
    assert first == [("content-type", b"application/cloudevents+json")]
    assert headers_of(text) is first


def test_each_text_gets_its_own_headers_even_past_the_cache_size() -> None:
    headers_of = _KafkaHeadersCache()
    texts = {n: json.dumps({"origin": f"row-{n}", "ü": "é"}) for n in range(200)}
    for n, text in [*texts.items(), *texts.items()]:
        assert headers_of(text) == [("origin", f"row-{n}".encode()), ("ü", "é".encode())]
