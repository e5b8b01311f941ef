"""Documentation profiles: which of the disagreeing public docs the server imitates.

The Octopods articles disagree on response shapes, status casing, how ``failure_reason`` looks,
404 vs 400 for unknown ids, timestamp precision and what an empty listing returns (D2-D11, D27,
D29 in docs/octopods-api-notes.md). A :class:`Profile` picks one answer for each; the default
reproduces the two articles the project started from (14823959 status, 14823960 listing). A
profile is set per server (CLI flags, admin API) and can be overridden per request with the header
``X-Octopods-Sim-Profile: key=value,key=value``, so one server can serve every variant at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

PROFILE_HEADER = "X-Octopods-Sim-Profile"

#: Allowed values per option (``failure_reason`` is checked separately: it combines two tokens).
CHOICES: dict[str, tuple[str, ...]] = {
    "status_shape": ("unified", "reference", "legacy"),
    "listing_shape": ("array", "object"),
    "status_case": ("upper", "lower"),
    "not_found": ("404", "400"),
    "timestamps": ("seconds", "millis"),
    "empty_listing": ("error", "empty"),
    "retry_at_format": ("iso", "epoch"),
    "retry_after_format": ("seconds", "http_date"),
    "sms_send_shape": ("guide", "legacy"),
    "vocabulary": ("doc", "superset"),
}
FAILURE_FORMS = ("object", "string")
NO_FAILURE_FORMS = ("null", "empty", "absent")

#: Named bundles: ``preset=reference`` is the endpoint-reference articles (14824155/57/65).
PRESETS: dict[str, dict[str, str]] = {
    "default": {},
    "reference": {"status_shape": "reference", "listing_shape": "object", "status_case": "lower"},
    "legacy": {
        "status_shape": "legacy",
        "listing_shape": "array",
        "status_case": "upper",
        "timestamps": "millis",
    },
}


def _check_failure_reason(value: str) -> str:
    text = value.strip().lower()
    if text == "doc":
        return text
    tokens = [t for t in text.split("+") if t]
    failed = [t for t in tokens if t in FAILURE_FORMS]
    ok = [t for t in tokens if t in NO_FAILURE_FORMS]
    if not tokens or len(failed) > 1 or len(ok) > 1 or len(failed) + len(ok) != len(tokens):
        raise ValueError(
            f"failure_reason must be 'doc', one of {', '.join(FAILURE_FORMS + NO_FAILURE_FORMS)}, "
            f"or two joined by '+' (e.g. 'object+null'); got {value!r}"
        )
    return "+".join(failed + ok)


@dataclass(frozen=True)
class Profile:
    """One choice per documented disagreement. Defaults = articles 14823959 and 14823960."""

    status_shape: str = "unified"
    listing_shape: str = "array"
    status_case: str = "upper"
    failure_reason: str = "doc"
    not_found: str = "404"
    timestamps: str = "seconds"
    empty_listing: str = "error"
    retry_at_format: str = "iso"
    retry_after_format: str = "seconds"
    sms_send_shape: str = "guide"
    vocabulary: str = "doc"

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        _check_failure_reason(self.failure_reason)

    @property
    def millis(self) -> bool:
        return self.timestamps == "millis"

    @property
    def failure_form(self) -> str | None:
        """Forced encoding of a failure (``object``/``string``), or ``None`` for the article's."""
        return next((t for t in self.failure_reason.split("+") if t in FAILURE_FORMS), None)

    @property
    def no_failure_form(self) -> str | None:
        """Forced encoding of "no failure" (``null``/``empty``/``absent``), or ``None`` for the article's."""
        return next((t for t in self.failure_reason.split("+") if t in NO_FAILURE_FORMS), None)

    def with_options(self, options: Mapping[str, object]) -> Profile:
        """A copy with some options changed; ``preset`` is applied first, then the rest. Validates."""
        changes: dict[str, str] = {}
        preset = options.get("preset")
        if preset is not None:
            if str(preset) not in PRESETS:
                raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
            changes.update(PRESETS[str(preset)])
        for key, value in options.items():
            if key == "preset":
                continue
            name = key.strip().lower().replace("-", "_")
            if name not in CHOICES and name != "failure_reason":
                known = ", ".join([*CHOICES, "failure_reason", "preset"])
                raise ValueError(f"unknown profile option {key!r}; known options: {known}")
            if value is None:
                raise ValueError(f"profile option {key!r} needs a value")
            text = str(value).strip().lower()
            changes[name] = _check_failure_reason(text) if name == "failure_reason" else text
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def from_options(cls, options: Mapping[str, object] | str | None) -> Profile:
        if options is None:
            return cls()
        if isinstance(options, str):
            return cls().with_options(parse_profile_text(options))
        return cls().with_options(options)


def parse_profile_text(text: str) -> dict[str, Any]:
    """``"status_shape=reference, listing_shape=object"`` → dict (``;`` also separates)."""
    options: dict[str, Any] = {}
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ValueError(f"profile options are key=value pairs; got {part!r}")
        key, value = part.split("=", 1)
        options[key.strip()] = value.strip()
    return options
