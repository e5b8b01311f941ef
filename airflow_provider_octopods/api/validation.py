"""
Validation of every public input, before any request exists.

Each check names the offending parameter (:class:`OctopodsValidationError.parameter`) and says what
was expected, so a bad DAG argument fails at parse time or at the start of the task, never halfway
through a request. Numbers that render from Jinja templates arrive as strings; the checks accept
the forms a rendered template gives (``"42"``, ``"[101, 102]"``) where a user would expect it.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_octopods.exceptions import OctopodsValidationError
from airflow_provider_octopods.models import Channel

log = logging.getLogger(__name__)

#: The listing returns at most this many messages, and cannot page further back.
LISTING_MAX_LIMIT = 100
#: Octopods refuses longer SMS bodies (longer text is refused here too, never truncated).
SMS_MAX_LENGTH = 1600

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_SECTION_KEYS = ("header", "body", "footer", "buttons")
_TRUE_WORDS = {"true", "1", "yes", "on"}
_FALSE_WORDS = {"false", "0", "no", "off", ""}


def _invalid(parameter: str, problem: str) -> OctopodsValidationError:
    return OctopodsValidationError(f"Invalid `{parameter}`: {problem}", parameter=parameter)


def validate_channel(value: object, parameter: str = "channel") -> Channel:
    """Accept ``"whatsapp"``/``"sms"`` (any case) or a :class:`Channel`."""
    if isinstance(value, Channel):
        return value
    if isinstance(value, str):
        try:
            return Channel(value.strip().lower())
        except ValueError:
            pass
    raise _invalid(parameter, f"expected 'whatsapp' or 'sms', got {value!r}.")


def validate_message_id(value: object, parameter: str = "message_id") -> int:
    """
    Accept a positive integer, or a string of digits (what a Jinja-rendered XCom gives).

    Booleans are refused although Python counts them as integers: ``True`` is never a message id.
    """
    if isinstance(value, bool):
        raise _invalid(parameter, f"expected a positive integer message id, got {value!r}.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        number = int(value.strip())
    else:
        raise _invalid(parameter, f"expected a positive integer message id, got {value!r}.")
    if number <= 0:
        raise _invalid(parameter, f"message ids are positive integers, got {number}.")
    return number


def parse_message_ids(value: object, parameter: str = "message_id") -> tuple[list[int], bool]:
    """
    Normalise what a sensor receives into a list of ids, and whether it was a single id.

    Accepts an int, a numeric string, any iterable of those (including Airflow's lazy XCom
    sequences from mapped tasks), or the string form of a list such as ``"[101, 102]"`` or
    ``'["101", "102"]'`` (what a list XCom looks like once rendered into a template). Duplicates are
    dropped, keeping the first occurrence's position.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "(")):
            parsed = _parse_literal(text)
            if not isinstance(parsed, list | tuple):
                raise _invalid(parameter, f"could not read {value!r} as a list of message ids.")
            value = parsed
        else:
            return [validate_message_id(text, parameter)], True
    if isinstance(value, int):
        return [validate_message_id(value, parameter)], True
    if isinstance(value, Mapping | bytes) or not isinstance(value, Iterable):
        raise _invalid(parameter, f"expected a message id or a list of them, got {type(value).__name__}.")
    ids: list[int] = []
    for position, item in enumerate(value):
        number = validate_message_id(item, f"{parameter}[{position}]")
        if number not in ids:
            ids.append(number)
    if not ids:
        raise _invalid(parameter, "the list of message ids is empty.")
    return ids, False


def _parse_literal(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def validate_phone(value: object, parameter: str = "destination_phone") -> str:
    """E.164: ``+``, then 7 to 15 digits, the first not 0. Octopods rejects anything else."""
    if not isinstance(value, str) or not _E164.fullmatch(value):
        raise _invalid(
            parameter,
            "expected an E.164 phone number such as '+14155552671': a '+', the country code, then the "
            f"number, 7 to 15 digits in all, no spaces; got {value!r}.{_phone_hint(value)}",
        )
    return value


def _phone_hint(value: object) -> str:
    """
    What to change, where it can be told without guessing: separators can go, and ``00`` is the
    international prefix that ``+`` replaces. Digits without either carry no country code that can be
    seen (``4155552671`` is a US number, but ``+4155552671`` would be a Swiss one), so only the need
    for a country code is named.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    text = str(value).strip()
    digits = re.sub(r"[^0-9]", "", text)
    if not 7 <= len(digits) <= 17:
        return ""
    if text.startswith("+") and _E164.fullmatch(f"+{digits}"):
        return f" Without the separators: '+{digits}'."
    if text.startswith("00") and _E164.fullmatch(f"+{digits[2:]}"):
        return f" '00' is the international prefix, which E.164 writes as '+': '+{digits[2:]}'."
    return (
        " Without a '+' the country code cannot be told: write '+', the recipient's country code, then "
        "the number without its national leading 0 (the US is '+1', the UK '+44', ...)."
    )


def validate_phones(value: object, parameter: str = "destination_phones") -> list[str]:
    """One E.164 number or a non-empty list of them (a comma-separated string is also accepted)."""
    if isinstance(value, str):
        items: list[object] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, Iterable) and not isinstance(value, Mapping | bytes):
        items = list(value)
    else:
        raise _invalid(parameter, f"expected a phone number or a list of them, got {value!r}.")
    if not items:
        raise _invalid(parameter, "no phone number given.")
    return [validate_phone(item, f"{parameter}[{position}]") for position, item in enumerate(items)]


def validate_sms_body(value: object, parameter: str = "body") -> str:
    """Non-blank text of at most 1,600 characters (the API's limit; longer text is not truncated)."""
    if not isinstance(value, str):
        raise _invalid(parameter, f"expected text, got {type(value).__name__}.")
    if not value.strip():
        raise _invalid(parameter, "the SMS body is empty; Octopods refuses blank messages.")
    if len(value) > SMS_MAX_LENGTH:
        raise _invalid(
            parameter,
            f"the SMS body has {len(value)} characters; Octopods accepts at most {SMS_MAX_LENGTH}.",
        )
    return value


def validate_limit(value: object, parameter: str = "limit") -> int:
    """1 to 100; larger values are capped to 100 with a warning, as the API itself caps them."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _invalid(parameter, f"expected an integer from 1 to {LISTING_MAX_LIMIT}, got {value!r}.")
    try:
        number = int(value)
    except ValueError:
        raise _invalid(
            parameter, f"expected an integer from 1 to {LISTING_MAX_LIMIT}, got {value!r}."
        ) from None
    if number < 1:
        raise _invalid(parameter, f"expected an integer from 1 to {LISTING_MAX_LIMIT}, got {number}.")
    if number > LISTING_MAX_LIMIT:
        log.warning(
            "The Octopods listing returns at most %d messages; limit=%d is capped to %d.",
            LISTING_MAX_LIMIT,
            number,
            LISTING_MAX_LIMIT,
        )
        return LISTING_MAX_LIMIT
    return number


def validate_template_id(value: object, parameter: str = "template_id") -> str:
    """The Octopods template id: numeric in most docs, name-like in one guide; kept opaque."""
    if isinstance(value, bool):
        raise _invalid(parameter, f"expected a template id, got {value!r}.")
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.strip() and not any(char.isspace() for char in value.strip()):
        return value.strip()
    raise _invalid(parameter, f"expected the Octopods template id (e.g. 84579), got {value!r}.")


def validate_flag(value: object, parameter: str) -> bool:
    """The API's boolean-ish flags: a bool, or true/false/1/0/yes/no/on/off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise _invalid(parameter, f"expected true or false, got {value!r}.")


def validate_optional_text(value: object, parameter: str) -> str | None:
    """None, or a non-blank string (numbers are accepted and sent as text)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise _invalid(parameter, f"expected a non-empty string, got {value!r}.")


def validate_url(value: object, parameter: str) -> str | None:
    """None, or an absolute http(s) URL (Octopods fetches header media from it)."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = urlsplit(value.strip())
        if parts.scheme in ("http", "https") and parts.netloc:
            return value.strip()
    raise _invalid(parameter, f"expected an absolute http(s) URL, got {value!r}.")


def _variable_value(value: object, parameter: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _invalid(parameter, f"template variables are text (or numbers), got {value!r}.")


def _variable_list(value: object, parameter: str) -> list[str]:
    if not isinstance(value, list | tuple):
        raise _invalid(parameter, f"expected a list of values, got {type(value).__name__}.")
    return [_variable_value(item, f"{parameter}[{position}]") for position, item in enumerate(value)]


def validate_message_variables(
    value: object, parameter: str = "message_variables"
) -> list[str] | dict[str, Any] | None:
    """
    Accept every documented form of ``message_variables`` and return it ready to send.

    * a flat list, in placeholder order (body-only templates): ``["Alex", "1234"]``;
    * an object keyed by placeholder number: ``{"1": "Alex", "2": "1234"}`` (numbers 1..n, no gaps);
    * an object of per-section lists: ``{"header": [...], "body": [...], "footer": [...],
      "buttons": [...]}`` (needed when the template has non-body placeholders).

    The string form of any of these (a rendered template) is read as JSON or a Python literal.
    Numbers become text; anything nested deeper, booleans or None are refused.
    """
    if value is None:
        return None
    if isinstance(value, str):
        parsed = _parse_literal(value.strip())
        if not isinstance(parsed, list | tuple | dict):
            raise _invalid(parameter, f"could not read {value!r} as a list or an object of variables.")
        value = parsed
    if isinstance(value, list | tuple):
        return _variable_list(value, parameter)
    if not isinstance(value, Mapping):
        raise _invalid(parameter, f"expected a list or an object, got {type(value).__name__}.")
    keys = [str(key) for key in value]
    if keys and all(key in _SECTION_KEYS for key in keys):
        return {key: _variable_list(value[key], f"{parameter}[{key!r}]") for key in value}
    if keys and all(key.isdigit() for key in keys):
        numbers = sorted(int(key) for key in keys)
        if numbers != list(range(1, len(numbers) + 1)):
            raise _invalid(
                parameter,
                f"numbered placeholders must be '1'..'{len(numbers)}' without gaps, got {sorted(keys)}.",
            )
        return {
            str(key): _variable_value(value[key], f"{parameter}[{str(key)!r}]")  # type: ignore[index]
            for key in sorted(value, key=lambda k: int(str(k)))
        }
    raise _invalid(
        parameter,
        "an object must be keyed either by placeholder number ('1', '2', ...) or by section "
        f"({', '.join(_SECTION_KEYS)}), got keys {keys}.",
    )


def validate_seconds(value: object, parameter: str, *, minimum: float = 0.0, inclusive: bool = True) -> float:
    """
    A finite number of seconds (or epoch seconds) at or above ``minimum`` (above it, with
    ``inclusive=False``). Booleans and strings are refused: a flag or a text is never a duration.
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        number = float(value)
        if number > minimum or (inclusive and number == minimum):
            return number
    bound = f"at least {minimum:g}" if inclusive else f"more than {minimum:g}"
    raise _invalid(parameter, f"expected a number of seconds, {bound}, got {value!r}.")


def validate_count(value: object, parameter: str, *, minimum: int = 0, what: str = "a count") -> int:
    """An integer at or above ``minimum`` (booleans refused: ``True`` is not a count)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    raise _invalid(parameter, f"expected {what} ({minimum} or more), got {value!r}.")


def validate_conn_id(value: object, parameter: str = "octopods_conn_id") -> str:
    """An Airflow connection id: non-blank text (whether it exists is only known when it is read)."""
    if not isinstance(value, str) or not value.strip():
        raise _invalid(parameter, f"expected a connection id, got {value!r}.")
    return value
