"""Phone numbers where they must not appear whole: masked in shared files, redacted in logs."""

from __future__ import annotations

# ITU-T E.164 country calling codes: "1" and "7" are one digit, these are two, all others three.
_TWO_DIGIT_CODES = frozenset(
    {"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47"}
    | {"48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65"}
    | {"66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"}
)


def _country_code(digits: str) -> str:
    if digits[:1] in ("1", "7"):
        return digits[:1]
    if digits[:2] in _TWO_DIGIT_CODES:
        return digits[:2]
    return digits[:3]


def mask_phone(phone: str | None) -> str | None:
    """
    Keep the ``+``, the country calling code and the last two digits: ``+14155552671`` ->
    ``+1********71``. Enough to tell countries and spot duplicates, not enough to call anyone.
    """
    if not phone or "*" in phone:
        return phone  # nothing to mask, or masked already (a partition exported with mask_pii)
    digits = "".join(char for char in phone if char.isdigit())
    if len(digits) <= 4:
        return "*" * len(phone)
    code = _country_code(digits)
    return f"+{code}{'*' * (len(digits) - len(code) - 2)}{digits[-2:]}"


def redact_phone(phone: str) -> str:
    """
    ``+14155552671`` -> ``***2671``: what log lines show of a recipient, enough to tell two apart
    while reading a task log, and nothing to call.
    """
    return f"***{phone[-4:]}" if len(phone) > 4 else "***"
