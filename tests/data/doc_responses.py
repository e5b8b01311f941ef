"""
Every response body the Octopods docs print, verbatim (the invalid-JSON legacy examples included),
with what the provider must make of it. Article ids refer to docs.octopods.io (listed in
docs/octopods-api-notes.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_octopods.exceptions import (
    OctopodsApiError,
    OctopodsAuthError,
    OctopodsNotFoundError,
)


@dataclass(frozen=True)
class DocResponse:
    name: str
    endpoint: str  # whatsapp.status | sms.status | whatsapp.list | whatsapp.send | sms.send
    status: int
    body: str
    expected: Any  # dict of expected fields, a list of dicts (listing), or an exception class
    message_id: int = 1
    headers: dict[str, str] = field(default_factory=dict)


WA_STATUS_UNIFIED = """{
  "request_id": "abc123…",
  "message_id": 98765,
  "status": "DELIVERED",
  "status_message": "Your message has been delivered successfully.",
  "channel_message_id": "provider-id-here",
  "intercom_conversation_id": "",
  "intercom_conversation_part_id": "",
  "last_updated": "2026-04-24T12:34:56Z"
}"""

WA_STATUS_REFERENCE = """{
  "request_id": "b14f0e5a-3f3c-4e9c-b1d1-6d19f0c4a721",
  "message_id": 3851828,
  "status": "delivered",
  "phone_number": "+15551234567",
  "channel_message_id": "wamid.HBgNNTUxMTk3MjI3ODA2MhUCABEYE...",
  "sent_at": "2026-04-24T10:23:45Z",
  "delivered_at": "2026-04-24T10:23:48Z",
  "read_at": null,
  "failure_reason": null
}"""

SMS_STATUS_LEGACY = """{
"message_id": 42,
"status": "DELIVERED",
"status_message": "Your message has been delived successfully.",
"last_updated": "2023-07-07T11:15:46.000Z",
"request_id": "d8c0d247-cfc9-48d7-868d-e6afdadb44dc",
}"""

SMS_STATUS_REFERENCE = """{
  "request_id": "b14f0e5a-3f3c-4e9c-b1d1-6d19f0c4a721",
  "message_id": 4829174,
  "status": "delivered",
  "phone_number": "+15551234567",
  "sent_at": "2026-04-24T10:23:45Z",
  "delivered_at": "2026-04-24T10:23:49Z",
  "failure_reason": null
}"""

LISTING_ARRAY = """[
  {
    "user_phone_number": "+14155552671",
    "created_at": "2026-04-24T12:34:56Z",
    "message_content": "Hi Alex — your order is on the way!",
    "message_status": {
      "channel_message_id": 98765,
      "message_status": "DELIVERED",
      "failure_reason": ""
    }
  },
  {
    "user_phone_number": "+14155551234",
    "created_at": "2026-04-24T12:30:10Z",
    "message_content": "Your verification code is 482910.",
    "message_status": {
      "channel_message_id": 98764,
      "message_status": "FAILED",
      "failure_reason": { "code": 470, "title": "Re-engagement window expired" }
    }
  }
]"""

LISTING_OBJECT = """{
  "request_id": "5f0b9c8a-2d1e-4e9a-9c4b-3a2d1e4e9a9c",
  "messages": [
    {
      "message_id": 3851828,
      "status": "delivered",
      "phone_number": "+15551234567",
      "sent_at": "2026-04-24T10:23:45Z"
    },
    {
      "message_id": 3851827,
      "status": "failed",
      "phone_number": "+15557654321",
      "sent_at": "2026-04-24T10:19:02Z",
      "failure_reason": "Recipient is not a WhatsApp user."
    }
  ]
}"""

LISTING_DEPRECATED_KEY = """{
  "request_id": "5f0b9c8a-2d1e-4e9a-9c4b-3a2d1e4e9a9c",
  "error_code": 6,
  "error": "Deprecated API Key. Please go to your Octopods App, and get your new API Key"
}"""

SMS_SEND_LEGACY = """{
"message_id": 42,
"phone_number": "353838000000",
"request_id": "d8c0d247-cfc9-48d7-868d-e6afdadb44dc",
}"""

SMS_SEND_GUIDE = (
    """{ "request_id": "abc123…", "message_id": 98765, "channel_message_id": "provider-id-here" }"""
)

SMS_SEND_REFERENCE = """{ "request_id": "e23080fd-8b63-460e-83bd-cf5d2c1497b6", "message_id": 4829174 }"""

TEMPLATE_NOT_EXIST = """{
  "request_id": "e23080fd-8b63-460e-83bd-cf5d2c1497b6",
  "error_code": 3,
  "error": "Message Template does not exist."
}"""

SMS_STATUS_NOT_FOUND = """{
  "request_id": "b14f0e5a-3f3c-4e9c-b1d1-6d19f0c4a721",
  "error_code": 1,
  "error": "You must supply message_id in your request payload."
}"""

DOC_RESPONSES: list[DocResponse] = [
    DocResponse(
        "whatsapp-status-unified-14823959",
        "whatsapp.status",
        200,
        WA_STATUS_UNIFIED,
        {
            "message_id": 98765,
            "channel": "whatsapp",
            "status": "DELIVERED",
            "status_message": "Your message has been delivered successfully.",
            "channel_message_id": "provider-id-here",
            "failure_code": None,
            "failure_reason": None,
            "last_updated": "2026-04-24T12:34:56Z",
        },
        message_id=98765,
    ),
    DocResponse(
        "whatsapp-status-reference-14824155",
        "whatsapp.status",
        200,
        WA_STATUS_REFERENCE,
        {
            "message_id": 3851828,
            "channel": "whatsapp",
            "status": "DELIVERED",
            "status_message": None,
            "channel_message_id": "wamid.HBgNNTUxMTk3MjI3ODA2MhUCABEYE...",
            "failure_code": None,
            "failure_reason": None,
            "last_updated": "2026-04-24T10:23:48Z",
        },
        message_id=3851828,
    ),
    DocResponse(
        "sms-status-unified-14823959",
        "sms.status",
        200,
        WA_STATUS_UNIFIED,
        {
            "message_id": 98765,
            "channel": "sms",
            "status": "DELIVERED",
            "last_updated": "2026-04-24T12:34:56Z",
        },
        message_id=98765,
    ),
    DocResponse(
        "sms-status-legacy-7052907",
        "sms.status",
        200,
        SMS_STATUS_LEGACY,
        {
            "message_id": 42,
            "channel": "sms",
            "status": "DELIVERED",
            "status_message": "Your message has been delived successfully.",
            "channel_message_id": None,
            "last_updated": "2023-07-07T11:15:46Z",
        },
        message_id=42,
    ),
    DocResponse(
        "sms-status-legacy-201-ok-7052907",
        "sms.status",
        201,
        SMS_STATUS_LEGACY,
        {"message_id": 42, "status": "DELIVERED"},
        message_id=42,
    ),
    DocResponse(
        "sms-status-reference-14824165",
        "sms.status",
        200,
        SMS_STATUS_REFERENCE,
        {
            "message_id": 4829174,
            "channel": "sms",
            "status": "DELIVERED",
            "failure_reason": None,
            "last_updated": "2026-04-24T10:23:49Z",
        },
        message_id=4829174,
    ),
    DocResponse(
        "sms-status-not-found-400-14824165",
        "sms.status",
        400,
        SMS_STATUS_NOT_FOUND,
        OctopodsNotFoundError,
        message_id=4829174,
    ),
    DocResponse("whatsapp-status-404-14823959", "whatsapp.status", 404, "", OctopodsNotFoundError),
    DocResponse(
        "whatsapp-status-deprecated-key-14824171",
        "whatsapp.status",
        400,
        LISTING_DEPRECATED_KEY,
        OctopodsAuthError,
    ),
    DocResponse(
        "listing-array-14823960",
        "whatsapp.list",
        200,
        LISTING_ARRAY,
        [
            {
                "message_id": 98765,
                "channel": "whatsapp",
                "phone_number": "+14155552671",
                "created_at": "2026-04-24T12:34:56Z",
                "message_content": "Hi Alex — your order is on the way!",
                "status": "DELIVERED",
                "failure_code": None,
                "failure_reason": None,
            },
            {
                "message_id": 98764,
                "channel": "whatsapp",
                "phone_number": "+14155551234",
                "created_at": "2026-04-24T12:30:10Z",
                "message_content": "Your verification code is 482910.",
                "status": "FAILED",
                "failure_code": 470,
                "failure_reason": "Re-engagement window expired",
            },
        ],
    ),
    DocResponse(
        "listing-object-14824157",
        "whatsapp.list",
        200,
        LISTING_OBJECT,
        [
            {
                "message_id": 3851828,
                "channel": "whatsapp",
                "phone_number": "+15551234567",
                "created_at": "2026-04-24T10:23:45Z",
                "message_content": None,
                "status": "DELIVERED",
                "failure_code": None,
                "failure_reason": None,
            },
            {
                "message_id": 3851827,
                "channel": "whatsapp",
                "phone_number": "+15557654321",
                "created_at": "2026-04-24T10:19:02Z",
                "message_content": None,
                "status": "FAILED",
                "failure_code": None,
                "failure_reason": "Recipient is not a WhatsApp user.",
            },
        ],
    ),
    DocResponse(
        "listing-empty-channel-400-code-2-14823960",
        "whatsapp.list",
        400,
        '{"request_id": "5f0b9c8a-2d1e-4e9a-9c4b-3a2d1e4e9a9c", '
        '"error_code": 2, "error": "Resource Not Found"}',
        [],
    ),
    DocResponse(
        "listing-deprecated-key-14824157", "whatsapp.list", 400, LISTING_DEPRECATED_KEY, OctopodsAuthError
    ),
    DocResponse(
        "sms-send-legacy-7052907",
        "sms.send",
        201,
        SMS_SEND_LEGACY,
        {
            "message_id": 42,
            "channel": "sms",
            "request_id": "d8c0d247-cfc9-48d7-868d-e6afdadb44dc",
            "channel_message_id": None,
        },
    ),
    DocResponse(
        "sms-send-guide-14823955",
        "sms.send",
        201,
        SMS_SEND_GUIDE,
        {
            "message_id": 98765,
            "channel": "sms",
            "request_id": "abc123…",
            "channel_message_id": "provider-id-here",
        },
    ),
    DocResponse(
        "sms-send-reference-14824163",
        "sms.send",
        201,
        SMS_SEND_REFERENCE,
        {
            "message_id": 4829174,
            "channel": "sms",
            "request_id": "e23080fd-8b63-460e-83bd-cf5d2c1497b6",
            "channel_message_id": None,
        },
    ),
    DocResponse(
        "whatsapp-send-template-not-exist-14824171",
        "whatsapp.send",
        400,
        TEMPLATE_NOT_EXIST,
        OctopodsApiError,
    ),
]
