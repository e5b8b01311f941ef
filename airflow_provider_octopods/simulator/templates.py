"""WhatsApp message templates: the default set, ``message_variables`` checking and rendering.

Templates have placeholders ``{{1}}``, ``{{2}}``, ... in up to four places (header text, body,
footer, URL buttons). The docs describe three shapes for ``message_variables`` and the simulator
accepts all of them (D15 in docs/octopods-api-notes.md):

* a flat array — body values in order; refused with error 9 when the template has placeholders
  outside the body;
* an object keyed ``"1"``, ``"2"``, ... — body values by number (same restriction as the array);
* an object with per-section arrays ``header``/``body``/``footer``/``buttons`` — sections not given
  count as empty (the form seen in the wild sends only ``body``).

Anything else is a ``TYPE_MISMATCH`` (2); a count that does not fit is ``VARIABLES_SIZE`` (4).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import WhatsAppError, bad_request
from .validation import is_e164, is_http_url

if TYPE_CHECKING:
    from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{\{\s*([0-9]+)\s*\}\}")
_TAG = re.compile(r"<[^>]*>")
SECTIONS = ("header", "body", "footer", "buttons")
MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")
TEMPLATE_STATUSES = ("pending", "under_review", "needs_modification", "rejected", "accepted", "deleted")
_STATUS_LABELS = {
    "pending": "Pending",
    "under_review": "Under review",
    "needs_modification": "Needs modification",
    "rejected": "Rejected",
    "accepted": "Accepted",
    "deleted": "Deleted",
}
#: File extensions that clearly belong to one media type; a URL with another type's extension is refused.
_EXTENSIONS = {
    "IMAGE": (".jpg", ".jpeg", ".png", ".webp"),
    "VIDEO": (".mp4", ".3gp", ".3gpp"),
    "DOCUMENT": (".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".txt"),
}


def placeholder_count(text: str | None) -> int:
    """Number of variables a text takes: its highest ``{{N}}``."""
    if not text:
        return 0
    return max((int(n) for n in PLACEHOLDER.findall(text)), default=0)


def substitute(text: str, values: list[str]) -> str:
    """Replace ``{{N}}`` with the N-th value (missing values leave the placeholder)."""

    def repl(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return values[index] if 0 <= index < len(values) else match.group(0)

    return PLACEHOLDER.sub(repl, text)


def strip_html(text: str) -> str:
    """``message_content`` is the rendered body "sanitized of any HTML"."""
    return html.unescape(_TAG.sub("", text))


@dataclass(frozen=True)
class Button:
    """A template button; only URL buttons take a variable (the URL's ``{{1}}``)."""

    type: str
    text: str
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "text": self.text}
        if self.url is not None:
            data["url"] = self.url
        return data


@dataclass(frozen=True)
class Template:
    """A WhatsApp template as the newer reference (14824161) lists it."""

    template_id: int
    name: str
    body: str
    lang: str = "en_US"
    status: str = "accepted"
    active: bool = True
    header_format: str | None = None
    header_text: str | None = None
    footer: str | None = None
    buttons: tuple[Button, ...] = ()
    created_at: str = "2026-02-10T15:42:00Z"
    #: The WhatsApp number the template belongs to, when the docs show one for it; otherwise the
    #: listing shows the simulator's ``account_phone_number`` (one number per WABA).
    account_phone_number: str | None = None
    counts: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.status not in TEMPLATE_STATUSES:
            raise ValueError(f"template status must be one of {', '.join(TEMPLATE_STATUSES)}")
        if self.header_format is not None and self.header_format not in ("TEXT", *MEDIA_FORMATS):
            raise ValueError("header format must be TEXT, IMAGE, VIDEO or DOCUMENT")
        if self.account_phone_number is not None and not is_e164(self.account_phone_number):
            raise ValueError("a template's account_phone_number must be an E.164 number")
        counts = {
            "header": placeholder_count(self.header_text) if self.header_format == "TEXT" else 0,
            "body": placeholder_count(self.body),
            "footer": placeholder_count(self.footer),
            "buttons": sum(placeholder_count(b.url) for b in self.buttons),
        }
        object.__setattr__(self, "counts", counts)

    @property
    def media_header(self) -> str | None:
        """``IMAGE``/``VIDEO``/``DOCUMENT`` when the header needs ``header_attachment_url``."""
        return self.header_format if self.header_format in MEDIA_FORMATS else None

    @property
    def has_non_body_placeholders(self) -> bool:
        return any(self.counts[s] for s in ("header", "footer", "buttons"))

    @property
    def sendable(self) -> bool:
        """Only Accepted (and active) templates can be sent."""
        return self.status == "accepted" and self.active

    def components(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if self.header_format == "TEXT":
            items.append({"type": "HEADER", "format": "TEXT", "text": self.header_text or ""})
        elif self.header_format is not None:
            items.append({"type": "HEADER", "format": self.header_format})
        items.append({"type": "BODY", "text": self.body})
        if self.footer is not None:
            items.append({"type": "FOOTER", "text": self.footer})
        if self.buttons:
            items.append({"type": "BUTTONS", "buttons": [b.to_dict() for b in self.buttons]})
        return items

    def to_api(self, *, created_at: str, account_phone_number: str) -> dict[str, Any]:
        """One item of ``GET /whatsapp/templates`` in the newer reference format.

        ``account_phone_number`` is the server's number, used unless the template has its own.
        """
        return {
            "created_at": created_at,
            "template_id": self.template_id,
            "template_name": self.name,
            "template_body": self.body,
            "template_components": self.components(),
            "account_phone_number": self.account_phone_number or account_phone_number,
            "template_status": _STATUS_LABELS[self.status],
        }

    def to_dict(self) -> dict[str, Any]:
        """The admin/config form, accepted back by :meth:`from_dict`."""
        return {
            "template_id": self.template_id,
            "name": self.name,
            "lang": self.lang,
            "status": self.status,
            "active": self.active,
            "header_format": self.header_format,
            "header_text": self.header_text,
            "body": self.body,
            "footer": self.footer,
            "buttons": [b.to_dict() for b in self.buttons],
            "created_at": self.created_at,
            "account_phone_number": self.account_phone_number,
            "placeholders": dict(self.counts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Template:
        try:
            template_id = int(data["template_id"])
            name = str(data.get("name") or data.get("template_name"))
            body = str(data.get("body") or data.get("template_body"))
        except (KeyError, TypeError, ValueError):
            raise ValueError("a template needs template_id (integer), name and body") from None
        if not name or name == "None" or not body or body == "None":
            raise ValueError("a template needs template_id (integer), name and body")
        header_format = data.get("header_format")
        account_phone = data.get("account_phone_number")
        buttons = tuple(
            Button(type=str(b.get("type", "URL")).upper(), text=str(b.get("text", "")), url=b.get("url"))
            for b in data.get("buttons") or []
        )
        return cls(
            template_id=template_id,
            name=name,
            body=body,
            lang=str(data.get("lang", "en_US")),
            status=str(data.get("status", "accepted")).lower(),
            active=bool(data.get("active", True)),
            header_format=None if header_format is None else str(header_format).upper(),
            header_text=data.get("header_text"),
            footer=data.get("footer"),
            buttons=buttons,
            created_at=str(data.get("created_at", "2026-02-10T15:42:00Z")),
            account_phone_number=None if account_phone is None else str(account_phone),
        )


def default_templates() -> list[Template]:
    """The shipped template set (documented in docs/simulator.md; keep ids and placeholders stable)."""
    return [
        Template(84579, "order_shipped_v1", "Hi {{1}}, your order {{2}} is on the way!"),
        Template(84580, "pedido_enviado_v1", "Olá {{1}}, o seu pedido {{2}} está a caminho!", lang="pt_BR"),
        Template(
            73112,
            "order_update_rich_v1",
            "Hi {{1}}, your order {{2}} has shipped.",
            header_format="TEXT",
            header_text="Update: {{1}}",
            footer="Reply STOP to unsubscribe.",
            buttons=(Button("URL", "Track your order", "https://shop.example.com/{{1}}"),),
            created_at="2026-01-20T09:00:00Z",
        ),
        Template(
            61001,
            "weekly_offers_image_v1",
            "Hi {{1}}, this week's offers are here!",
            header_format="IMAGE",
            created_at="2026-01-12T08:30:00Z",
        ),
        Template(
            50001,
            "verification_code_v1",
            "Your verification code is {{1}}.",
            created_at="2026-01-05T10:00:00Z",
        ),
        Template(
            50002,
            "welcome_v1",
            "Welcome! You will now get order updates here.",
            created_at="2026-01-02T12:00:00Z",
        ),
        Template(
            40001,
            "spring_sale_v0",
            "Hi {{1}}, our spring sale starts now!",
            status="rejected",
            active=False,
            created_at="2025-03-01T09:00:00Z",
        ),
        # The two templates of the legacy templates article (3989695), so the documentation's own
        # examples run unchanged. That article uses ISO 639-1 codes, hence ``en`` rather than
        # ``en_US``; only 539's account number survives in it (537's item is cut off).
        Template(
            539,
            "account_update_1",
            "go here: {{1}} to check your updated information.",
            lang="en",
            created_at="2021-09-24T14:29:32.000Z",
            account_phone_number="+353894876742",
        ),
        Template(
            537,
            "appointment_1",
            "Hello {{1}}, here is the appointment link: {{2}} Thank you",
            lang="en",
            created_at="2021-09-24T14:29:32.000Z",
        ),
    ]


def _as_value(item: object, where: str) -> str:
    if isinstance(item, bool) or not isinstance(item, str | int | float):
        raise bad_request(WhatsAppError.TYPE_MISMATCH, f"{where} values must be strings; got {item!r}.")
    return str(item)


def _check_count(template: Template, section: str, values: list[str]) -> None:
    expected = template.counts[section]
    if len(values) != expected:
        raise bad_request(
            WhatsAppError.VARIABLES_SIZE,
            f"message_variables.{section} must have {expected} value(s) for template {template.template_id} "
            f"({template.name}); got {len(values)}.",
        )


def resolve_variables(template: Template, raw: object, present: bool) -> dict[str, list[str]]:
    """Check ``message_variables`` against the template; returns the values per section.

    Raises the WhatsApp-family :class:`~.errors.ApiError` the docs give for each mistake.
    """
    sections: dict[str, list[str]] = {s: [] for s in SECTIONS}
    total = sum(template.counts.values())
    if not present or raw is None:
        if total:
            raise bad_request(
                WhatsAppError.ARGUMENT_MISSING,
                f"message_variables is required: template {template.template_id} ({template.name}) "
                f"has {total} placeholder(s).",
            )
        return sections
    if isinstance(raw, list):
        if template.has_non_body_placeholders:
            raise bad_request(
                WhatsAppError.VARIABLES_STRUCTURE,
                f"Template {template.template_id} has header, footer or button placeholders: send "
                "message_variables as an object of arrays: "
                '{"header": [...], "body": [...], "footer": [...], "buttons": [...]}.',
            )
        sections["body"] = [_as_value(v, "message_variables") for v in raw]
        _check_count(template, "body", sections["body"])
        return sections
    if not isinstance(raw, dict):
        raise bad_request(
            WhatsAppError.TYPE_MISMATCH, "message_variables must be an array or an object of arrays."
        )
    keys = set(raw)
    if keys and all(isinstance(k, str) and k.isdigit() for k in keys):
        if template.has_non_body_placeholders:
            raise bad_request(
                WhatsAppError.VARIABLES_STRUCTURE,
                f"Template {template.template_id} has header, footer or button placeholders: use the "
                "per-section object form of message_variables.",
            )
        expected = {str(i) for i in range(1, template.counts["body"] + 1)}
        if keys != expected:
            raise bad_request(
                WhatsAppError.VARIABLES_SIZE,
                f"message_variables must have the keys {sorted(expected, key=int)} for template "
                f"{template.template_id}; got {sorted(keys, key=int)}.",
            )
        sections["body"] = [_as_value(raw[str(i)], "message_variables") for i in range(1, len(expected) + 1)]
        return sections
    unknown = keys - set(SECTIONS)
    if unknown:
        raise bad_request(
            WhatsAppError.TYPE_MISMATCH,
            f"message_variables has unknown keys {sorted(map(str, unknown))}: "
            "use header, body, footer, buttons "
            'or "1", "2", ...',
        )
    for section in SECTIONS:
        value = raw.get(section, [])
        if value is None:
            value = []
        if not isinstance(value, list):
            raise bad_request(WhatsAppError.TYPE_MISMATCH, f"message_variables.{section} must be an array.")
        sections[section] = [_as_value(v, f"message_variables.{section}") for v in value]
        _check_count(template, section, sections[section])
    return sections


def check_header_attachment(template: Template, raw: object, present: bool) -> str | None:
    """``header_attachment_url``: required for media headers (1), a public http(s) URL of that type (8)."""
    media = template.media_header
    if media is None:
        return raw if isinstance(raw, str) else None
    if not present or raw is None or (isinstance(raw, str) and not raw.strip()):
        raise bad_request(
            WhatsAppError.ARGUMENT_MISSING,
            f"header_attachment_url is required: template {template.template_id} has a {media} header.",
        )
    if not isinstance(raw, str) or not is_http_url(raw.strip()):
        raise bad_request(
            WhatsAppError.INVALID_HEADER,
            "header_attachment_url must be a public http(s) URL of the header media.",
        )
    path = urlsplit(raw.strip()).path.lower()
    for other, extensions in _EXTENSIONS.items():
        if other != media and path.endswith(extensions):
            raise bad_request(
                WhatsAppError.INVALID_HEADER,
                f"header_attachment_url points at a {other.lower()} but template {template.template_id} "
                f"has a {media} header.",
            )
    return raw.strip()


def render_body(template: Template, sections: dict[str, list[str]]) -> str:
    """The listing's ``message_content``: the body with its values, HTML stripped."""
    return strip_html(substitute(template.body, sections["body"]))


def find_template(templates: Mapping[int, Template], ref: str) -> Template | None:
    """Path ``template_id``: the numeric id, or (D16) the template name."""
    text = ref.strip()
    if text.isdigit():
        return templates.get(int(text))
    for template in templates.values():
        if template.name == text:
            return template
    return None


def lang_matches(template_lang: str, wanted: str) -> bool:
    """``lang`` filter: a broad code (``en``) matches itself and its regional variants (``en_US``)."""
    wanted = wanted.strip().replace("-", "_")
    if "_" in wanted:
        return template_lang.lower() == wanted.lower()
    return template_lang.lower() == wanted.lower() or template_lang.lower().startswith(wanted.lower() + "_")


__all__ = [
    "Button",
    "Template",
    "check_header_attachment",
    "default_templates",
    "find_template",
    "lang_matches",
    "render_body",
    "resolve_variables",
]
