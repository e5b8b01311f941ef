"""The API keys every test uses: distinctive strings, so a leak anywhere is easy to find."""

from __future__ import annotations

import json
from typing import Any

WHATSAPP_KEY = "wa-test-key-7c1f0e2d9b"
CHANNEL_KEY = "ch-test-key-93ab2d51ee"
TEST_KEYS = (WHATSAPP_KEY, CHANNEL_KEY)


def connection_json(base_url: str, **extra: Any) -> str:
    """The JSON form of an ``octopods`` connection for ``AIRFLOW_CONN_<ID>``."""
    extra.setdefault("max_retries", 3)
    extra.setdefault("timeout", 5)
    return json.dumps({"conn_type": "octopods", "host": base_url, "extra": extra})


def assert_no_key(*texts: object) -> None:
    """Fail if any text (log output, exception, file content, ...) contains a test key."""
    for text in texts:
        rendered = text if isinstance(text, str) else repr(text)
        for key in TEST_KEYS:
            assert key not in rendered, f"an API key leaked into: {rendered[:200]!r}"
