"""Small parsers for request values whose rules the Octopods docs spell out.

Kept apart from the handlers so the rules (E.164, boolean-ish flags, ``limit``) are stated once.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

#: ``+`` then 7 to 15 digits, the first not 0: E.164 as the docs and the provider's design state it.
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})

LIST_LIMIT_DEFAULT = 100
LIST_LIMIT_MAX = 100


def is_e164(value: str) -> bool:
    """True for a phone number in E.164 form (``+14155552671``)."""
    return bool(E164.match(value))


def parse_boolish(value: object) -> bool:
    """``open_intercom_conversation``: true/false/1/0/yes/no/on/off, as strings or JSON values.

    Raises ``ValueError`` for anything else, so the handler can answer with its family's code.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError(f"expected one of true, false, 1, 0, yes, no, on, off; got {value!r}")


def parse_limit(raw: str | None) -> int:
    """The listing's ``limit``: default 100, values over 100 capped (not rejected), <= 0 refused."""
    if raw is None:
        return LIST_LIMIT_DEFAULT
    text = raw.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(f"limit must be a positive integer (1 to {LIST_LIMIT_MAX}); got {raw!r}")
    value = int(text)
    if value <= 0:
        raise ValueError(f"limit must be a positive integer (1 to {LIST_LIMIT_MAX}); got {raw!r}")
    return min(value, LIST_LIMIT_MAX)


def parse_message_id(raw: str) -> int | None:
    """A path ``message_id``: a positive decimal integer, else ``None`` (the caller answers 400)."""
    text = raw.strip()
    if not text.isdigit() or not text.isascii():
        return None
    value = int(text)
    return value if value > 0 else None


def is_http_url(value: str) -> bool:
    """An absolute ``http``/``https`` URL with a host: what ``header_attachment_url`` must be."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
