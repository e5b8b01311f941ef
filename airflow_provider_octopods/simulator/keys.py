"""API keys of the simulated account: two families, owners, rotation and deprecation.

The docs define a WhatsApp Business API key (one per WhatsApp Business Account, used on
``/api/v1/whatsapp/*``) and a channel API key (one per channel, used on ``/api/v1/sms/*``). Each key
belongs to an *owner* (the WABA or the SMS channel). A message belongs to the owner of the key that
sent it, which gives the documented same-key rule: reading or listing it with a key of another
owner finds nothing. Rotating a key keeps the owner (the new key reads the old messages, as the
channel is the same); the old key becomes *deprecated* and is answered with the family's
``DEPRECATED_API_KEY`` code. An added key gets a new owner unless one is named.

Key values are never logged: :func:`fingerprint` gives a short, stable stand-in for logs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum


class KeyFamily(StrEnum):
    """Which endpoints a key opens: ``whatsapp`` → ``/whatsapp/*``, ``channel`` → ``/sms/*``."""

    WHATSAPP = "whatsapp"
    CHANNEL = "channel"

    @classmethod
    def parse(cls, value: str) -> KeyFamily:
        """Accept the family names plus the obvious aliases ``wa`` and ``sms``."""
        lowered = value.strip().lower()
        aliases = {"wa": cls.WHATSAPP, "sms": cls.CHANNEL}
        if lowered in aliases:
            return aliases[lowered]
        try:
            return cls(lowered)
        except ValueError:
            raise ValueError(f"unknown key family {value!r}: use 'whatsapp' or 'channel'") from None


@dataclass
class ApiKey:
    """One key: its value, family, owning WABA/channel and whether it was rotated away."""

    value: str
    family: KeyFamily
    owner: str
    deprecated: bool = False
    primary: bool = False

    def describe(self) -> dict[str, object]:
        """Admin view (the admin API is loopback-only test tooling, so it shows the value)."""
        return {
            "key": self.value,
            "family": self.family.value,
            "owner": self.owner,
            "deprecated": self.deprecated,
            "primary": self.primary,
            "fingerprint": fingerprint(self.value),
        }


def fingerprint(value: str) -> str:
    """A short, stable, non-reversible stand-in for a key in logs (``key#1a2b3c4d``)."""
    return "key#" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]


def default_key(family: KeyFamily, seed: int) -> str:
    """The readable default key of a family for a seed, e.g. ``sim-whatsapp-key-0``."""
    return f"sim-{family.value}-key-{seed}"


class KeyRing:
    """All keys of the simulated workspace, looked up by value."""

    def __init__(self, *, seed: int, whatsapp_key: str | None, channel_key: str | None) -> None:
        self._seed = seed
        self._keys: dict[str, ApiKey] = {}
        self._counter = 0
        self._owner_counter = {KeyFamily.WHATSAPP: 0, KeyFamily.CHANNEL: 0}
        for family, value in ((KeyFamily.WHATSAPP, whatsapp_key), (KeyFamily.CHANNEL, channel_key)):
            key = ApiKey(
                value=value or default_key(family, seed),
                family=family,
                owner=self._new_owner(family),
                primary=True,
            )
            self._store(key)

    def _new_owner(self, family: KeyFamily) -> str:
        self._owner_counter[family] += 1
        prefix = "waba" if family is KeyFamily.WHATSAPP else "sms-channel"
        return f"{prefix}-{self._owner_counter[family]}"

    def _generate(self, family: KeyFamily) -> str:
        """A fresh key value, deterministic for the seed and the number of keys made so far."""
        while True:
            self._counter += 1
            digest = hashlib.sha256(f"{self._seed}:{family.value}:{self._counter}".encode()).hexdigest()
            value = f"sim-{family.value}-key-{self._seed}-{digest[:12]}"
            if value not in self._keys:
                return value

    def _store(self, key: ApiKey) -> None:
        if not key.value or key.value != key.value.strip():
            raise ValueError("an API key must be a non-empty string without surrounding spaces")
        if key.value in self._keys:
            raise ValueError("that API key already exists")
        self._keys[key.value] = key

    def lookup(self, value: str) -> ApiKey | None:
        """The key with this exact value, deprecated or not; ``None`` if unknown."""
        return self._keys.get(value)

    def primary(self, family: KeyFamily) -> ApiKey:
        """The family's current primary key (what the CLI line and the fixture hand out)."""
        for key in list(self._keys.values()):  # a snapshot: other threads read this during rotations
            if key.family is family and key.primary:
                return key
        raise LookupError(f"no primary {family.value} key")  # pragma: no cover - invariant

    def all(self) -> list[ApiKey]:
        """Every key in creation order."""
        return list(self._keys.values())

    def add(self, family: KeyFamily, value: str | None = None, owner: str | None = None) -> ApiKey:
        """Another valid key; a new owner (its own messages) unless ``owner`` names an existing one."""
        key = ApiKey(
            value=value or self._generate(family), family=family, owner=owner or self._new_owner(family)
        )
        self._store(key)
        return key

    def rotate(
        self, family: KeyFamily, key: str | None = None, new_value: str | None = None
    ) -> tuple[ApiKey, ApiKey]:
        """Deprecate ``key`` (default: the family's primary) and issue its replacement for the same owner.

        Returns ``(new, old)``. The replacement becomes primary if the old key was.
        """
        old = self.primary(family) if key is None else self._keys.get(key)
        if old is None or old.family is not family:
            raise LookupError(f"no {family.value} key to rotate")
        new = ApiKey(
            value=new_value or self._generate(family), family=family, owner=old.owner, primary=old.primary
        )
        self._store(new)
        old.deprecated = True
        old.primary = False
        return new, old

    def deprecate(self, value: str) -> ApiKey:
        """Mark a key as rotated/revoked without issuing a replacement."""
        key = self._keys.get(value)
        if key is None:
            raise LookupError("no such API key")
        key.deprecated = True
        return key
