"""
The ``octopods`` Airflow connection, validated into :class:`ConnectionSettings`.

Both hooks read a connection through :func:`connection_settings`, so the sync and the async path
accept exactly the same fields, defaults and spellings, and refuse the same mistakes (a non-loopback
``http://`` base URL, a key that is not text, a negative timeout) with the same messages.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_octopods.exceptions import OctopodsValidationError
from airflow_provider_octopods.models import Channel

#: The connection id every component uses unless told otherwise (``OctopodsHook.default_conn_name``).
DEFAULT_CONN_ID = "octopods_default"
DEFAULT_BASE_URL = "https://app.octopods.io"
#: The versioned path every endpoint lives under; a base URL given with it is accepted.
API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
#: The extra fields an ``octopods`` connection reads (each also as ``extra__octopods__<name>``, the
#: form older connection UIs save).
EXTRA_FIELDS = ("whatsapp_api_key", "channel_api_key", "timeout", "max_retries")
_EXTRA_PREFIX = "extra__octopods__"


def key_fingerprint(key: str) -> str:
    """A short, non-reversible name for a key, safe to keep in shared maps and log lines."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ConnectionSettings:
    """
    What the provider needs from an ``octopods`` Airflow connection, validated.

    The keys are kept out of ``repr`` so that a settings object printed by accident shows nothing.

    :param scheme_assumed: The host was given without a scheme and https was assumed (said in
        connection errors: a plain-HTTP server, such as the simulator, needs ``http://`` spelled out).
    :param unknown_extras: Extra field names this provider does not read (typos, mostly): each is
        ignored, and the connection test fails naming it.
    """

    base_url: str
    whatsapp_api_key: str | None = field(default=None, repr=False)
    channel_api_key: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    conn_id: str = DEFAULT_CONN_ID
    scheme_assumed: bool = False
    unknown_extras: tuple[str, ...] = ()
    _fingerprints: dict[Channel, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Hashed once per settings load, so shared maps keyed by key never hold (or hash) the key itself.
        fingerprints = {
            channel: key_fingerprint(key) for channel in Channel if (key := self.key_for_or_none(channel))
        }
        object.__setattr__(self, "_fingerprints", fingerprints)

    def key_for(self, channel: Channel) -> str:
        """The key for ``channel``; fails before any traffic, naming the missing connection field."""
        key = self.key_for_or_none(channel)
        if not key:
            raise OctopodsValidationError(
                f"Connection '{self.conn_id}' has no `{channel.key_field}` in its extra, which "
                f"{channel.value} calls need. Add it to the connection (UI field '{channel.key_label}').",
                parameter=channel.key_field,
            )
        return key

    def fingerprint_for(self, channel: Channel) -> str:
        """The :func:`key_fingerprint` of ``channel``'s key, to key shared state by."""
        self.key_for(channel)  # a missing key is named the same way everywhere
        return self._fingerprints[channel]

    @property
    def configured_channels(self) -> list[Channel]:
        return [channel for channel in Channel if self.key_for_or_none(channel)]

    def key_for_or_none(self, channel: Channel) -> str | None:
        return self.whatsapp_api_key if channel is Channel.WHATSAPP else self.channel_api_key


def unknown_extras(extra: Mapping[str, Any]) -> tuple[str, ...]:
    """The extra field names this provider does not read, in their order."""
    return tuple(name for name in extra if str(name).removeprefix(_EXTRA_PREFIX) not in EXTRA_FIELDS)


def closest_extra(name: str) -> str | None:
    """The known extra an unknown name most likely meant: ``whatsapp_apikey`` -> ``whatsapp_api_key``."""
    import difflib

    bare = name.removeprefix(_EXTRA_PREFIX).lower()
    matches = difflib.get_close_matches(bare, EXTRA_FIELDS, n=1, cutoff=0.6)
    return matches[0] if matches else None


def describe_unknown_extras(names: tuple[str, ...]) -> str:
    """``whatsapp_apikey (did you mean whatsapp_api_key?), foo``, for messages."""
    parts = []
    for name in names:
        guess = closest_extra(name)
        parts.append(f"`{name}`" + (f" (did you mean `{guess}`?)" if guess else ""))
    return ", ".join(parts)


def _extra_value(extra: Mapping[str, Any], name: str) -> Any:
    """Read an extra field under its plain name or the ``extra__octopods__`` prefixed form."""
    for key in (name, f"extra__octopods__{name}"):
        value = extra.get(key)
        if value not in (None, ""):
            return value
    return None


def _is_loopback(hostname: str) -> bool:
    if hostname.lower() in ("localhost", "localhost.localdomain") or hostname.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def normalize_base_url(host: str | None, port: int | None = None, conn_id: str = DEFAULT_CONN_ID) -> str:
    """
    Build the API base URL from the connection's host (and port).

    The scheme is optional (https is assumed). Plain ``http://`` is refused unless the host is a
    loopback address, so keys never travel in clear text; this is what makes the bundled simulator
    usable while production traffic stays encrypted. A trailing ``/api/v1`` is tolerated.
    """
    text = (host or "").strip() or DEFAULT_BASE_URL
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise OctopodsValidationError(
            f"Connection '{conn_id}' has host {host!r}, which is not a base URL such as "
            f"'{DEFAULT_BASE_URL}'.",
            parameter="host",
        )
    if scheme == "http" and not _is_loopback(parts.hostname):
        raise OctopodsValidationError(
            f"Connection '{conn_id}' points at http://{parts.hostname}: API keys would travel "
            "unencrypted. Use https (plain http is only allowed on loopback addresses).",
            parameter="host",
        )
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{int(port)}"
    path = parts.path.rstrip("/")
    if path.endswith(API_PREFIX):
        path = path[: -len(API_PREFIX)]
    return f"{scheme}://{netloc}{path}"


def _extra_number(value: Any, name: str, conn_id: str, *, integer: bool) -> Any:
    """A number from an extra field, which a URI or the UI may give as text (``"30"``)."""
    try:
        number = int(str(value)) if integer else float(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or number < 0 or (not integer and number == 0):
        kind = "a non-negative integer" if integer else "a positive number of seconds"
        raise OctopodsValidationError(
            f"Connection '{conn_id}' has `{name}`={value!r} in its extra; expected {kind}.",
            parameter=name,
        )
    return number


def connection_settings(
    *,
    conn_id: str,
    host: str | None,
    port: int | None,
    extra: Mapping[str, Any],
) -> ConnectionSettings:
    """Validate an Airflow connection's fields into :class:`ConnectionSettings`."""
    timeout = _extra_value(extra, "timeout")
    max_retries = _extra_value(extra, "max_retries")
    whatsapp_key = _extra_value(extra, "whatsapp_api_key")
    channel_key = _extra_value(extra, "channel_api_key")
    for name, key in (("whatsapp_api_key", whatsapp_key), ("channel_api_key", channel_key)):
        if key is not None and not isinstance(key, str):
            raise OctopodsValidationError(
                f"Connection '{conn_id}' has a non-text `{name}`; API keys are strings.", parameter=name
            )
    return ConnectionSettings(
        base_url=normalize_base_url(host, port, conn_id),
        scheme_assumed="://" not in (host or "").strip() and bool((host or "").strip()),
        unknown_extras=unknown_extras(extra),
        whatsapp_api_key=whatsapp_key.strip() if whatsapp_key else None,
        channel_api_key=channel_key.strip() if channel_key else None,
        timeout=DEFAULT_TIMEOUT
        if timeout is None
        else _extra_number(timeout, "timeout", conn_id, integer=False),
        max_retries=(
            DEFAULT_MAX_RETRIES
            if max_retries is None
            else _extra_number(max_retries, "max_retries", conn_id, integer=True)
        ),
        conn_id=conn_id,
    )
