"""Documentation profiles: every option value, per server (admin API) and per request (header)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_provider_octopods.simulator import OctopodsSimulator

from .conftest import WA_PHONE, Api, assert_error

SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MISSING = object()


def _seed(api: Api) -> dict[str, int]:
    """One WhatsApp message per interesting state, plus SMS ones."""
    admin = api.admin
    return {
        "delivered": admin.add_message(WA_PHONE, status="DELIVERED", created_at="2026-04-24T12:30:00Z"),
        "failed_code": admin.add_message(
            WA_PHONE,
            status="FAILED",
            failure_reason="Re-engagement window expired",
            failure_code=470,
            created_at="2026-04-24T12:31:00Z",
        ),
        "failed_text": admin.add_message(
            WA_PHONE,
            status="FAILED",
            failure_reason="Recipient is not a WhatsApp user.",
            created_at="2026-04-24T12:32:00Z",
        ),
        "sms_undelivered": admin.add_message(
            "+15550000002",
            channel="sms",
            status="UNDELIVERED",
            failure_reason="Unreachable",
            failure_code=30003,
        ),
        "sms_queued": admin.add_message("+15550000010", channel="sms", status="QUEUED"),
    }


def _failure(body: dict[str, Any]) -> object:
    return body.get("failure_reason", MISSING)


def test_default_profile_is_the_two_articles(api: Api) -> None:
    assert api.admin.get_profile() == {
        "status_shape": "unified",
        "listing_shape": "array",
        "status_case": "upper",
        "failure_reason": "doc",
        "not_found": "404",
        "timestamps": "seconds",
        "empty_listing": "error",
        "retry_at_format": "iso",
        "retry_after_format": "seconds",
        "sms_send_shape": "guide",
        "vocabulary": "doc",
    }


def test_status_shape_unified_doc_failure_encoding(api: Api) -> None:
    ids = _seed(api)
    delivered = api.wa_status(ids["delivered"]).json()
    assert "failure_reason" not in delivered
    assert delivered["status_message"] == "Your message has been delivered successfully."
    failed = api.wa_status(ids["failed_code"]).json()
    assert failed["status"] == "FAILED"
    assert failed["failure_reason"] == {"code": 470, "title": "Re-engagement window expired"}
    assert list(failed)[-1] == "last_updated"
    assert api.wa_status(ids["failed_text"]).json()["failure_reason"] == "Recipient is not a WhatsApp user."
    sms = api.sms_status(ids["sms_undelivered"]).json()
    assert sms["status"] == "FAILED"  # six-value vocabulary of the unified article
    assert sms["failure_reason"] == {"code": 30003, "title": "Unreachable"}


def test_status_shape_reference(api: Api) -> None:
    ids = _seed(api)
    api.admin.set_profile(status_shape="reference")
    delivered = api.wa_status(ids["delivered"]).json()
    assert list(delivered) == [
        "request_id",
        "message_id",
        "status",
        "phone_number",
        "channel_message_id",
        "sent_at",
        "delivered_at",
        "read_at",
        "failure_reason",
    ]
    assert delivered["status"] == "DELIVERED"
    assert delivered["phone_number"] == WA_PHONE
    assert delivered["delivered_at"] == "2026-04-24T12:30:00Z"
    assert delivered["sent_at"] == "2026-04-24T12:30:00Z"
    assert delivered["read_at"] is None
    assert delivered["failure_reason"] is None
    assert api.wa_status(ids["failed_code"]).json()["failure_reason"] == "Re-engagement window expired"
    sms = api.sms_status(ids["sms_undelivered"]).json()
    assert "read_at" not in sms
    assert "channel_message_id" not in sms
    assert sms["status"] == "UNDELIVERED"
    assert sms["failure_reason"] == "Unreachable"
    assert api.sms_status(ids["sms_queued"]).json()["status"] == "QUEUED"


def test_status_shape_legacy(api: Api) -> None:
    ids = _seed(api)
    body = api.sms_status(ids["sms_queued"], profile="status_shape=legacy").json()
    assert list(body) == ["message_id", "status", "status_message", "last_updated", "request_id"]
    assert body["status"] == "SENT"
    assert MILLIS.match(body["last_updated"])
    failed = api.wa_status(ids["failed_code"], profile="status_shape=legacy").json()
    assert failed["failure_reason"] == "Re-engagement window expired"


@pytest.mark.parametrize(("case", "expected"), [("upper", "DELIVERED"), ("lower", "delivered")])
def test_status_case(api: Api, case: str, expected: str) -> None:
    ids = _seed(api)
    profile = f"status_case={case}"
    assert api.wa_status(ids["delivered"], profile=profile).json()["status"] == expected
    listing = api.listing(profile=profile).json()
    assert {i["message_status"]["message_status"] for i in listing} == {
        expected,
        "FAILED" if case == "upper" else "failed",
    }
    objects = api.listing(profile=profile + ",listing_shape=object").json()
    assert objects["messages"][-1]["status"] == expected


def test_vocabulary_superset_passes_every_state_through(api: Api) -> None:
    ids = _seed(api)
    assert (
        api.sms_status(ids["sms_undelivered"], profile="vocabulary=superset").json()["status"]
        == "UNDELIVERED"
    )
    assert api.sms_status(ids["sms_queued"], profile="vocabulary=superset").json()["status"] == "QUEUED"


def test_listing_shape_array_doc_failures(api: Api) -> None:
    ids = _seed(api)
    items = {i["message_status"]["channel_message_id"]: i["message_status"] for i in api.listing().json()}
    assert items[ids["delivered"]]["failure_reason"] == ""
    assert items[ids["failed_code"]]["failure_reason"] == {
        "code": 470,
        "title": "Re-engagement window expired",
    }
    assert items[ids["failed_text"]]["failure_reason"] == "Recipient is not a WhatsApp user."


def test_listing_shape_object(api: Api) -> None:
    ids = _seed(api)
    api.admin.set_profile(listing_shape="object", status_case="lower")
    body = api.listing().json()
    assert list(body) == ["request_id", "messages"]
    items = {i["message_id"]: i for i in body["messages"]}
    assert [i["message_id"] for i in body["messages"]] == [
        ids["failed_text"],
        ids["failed_code"],
        ids["delivered"],
    ]
    assert list(items[ids["delivered"]]) == ["message_id", "status", "phone_number", "sent_at"]
    assert items[ids["delivered"]]["sent_at"] == "2026-04-24T12:30:00Z"
    assert items[ids["failed_code"]]["status"] == "failed"
    assert items[ids["failed_code"]]["failure_reason"] == "Re-engagement window expired"


FORCED = [
    # (option, delivered value, failed-with-code value)
    ("object", MISSING, {"code": 470, "title": "Re-engagement window expired"}),
    ("string", MISSING, "Re-engagement window expired"),
    ("null", None, {"code": 470, "title": "Re-engagement window expired"}),
    ("empty", "", {"code": 470, "title": "Re-engagement window expired"}),
    ("absent", MISSING, {"code": 470, "title": "Re-engagement window expired"}),
    ("object+null", None, {"code": 470, "title": "Re-engagement window expired"}),
    ("string+empty", "", "Re-engagement window expired"),
]


@pytest.mark.parametrize(("option", "ok", "failed"), FORCED)
def test_failure_reason_forced_on_unified_status(api: Api, option: str, ok: object, failed: object) -> None:
    ids = _seed(api)
    profile = f"failure_reason={option}"
    assert _failure(api.wa_status(ids["delivered"], profile=profile).json()) == ok
    assert _failure(api.wa_status(ids["failed_code"], profile=profile).json()) == failed


def test_failure_reason_forced_consistently_across_shapes(api: Api) -> None:
    ids = _seed(api)
    for shape in ("status_shape=unified", "status_shape=reference", "status_shape=legacy"):
        profile = shape + ",failure_reason=object+null"
        assert _failure(api.wa_status(ids["delivered"], profile=profile).json()) is None
        assert _failure(api.wa_status(ids["failed_text"], profile=profile).json()) == {
            "code": None,
            "title": "Recipient is not a WhatsApp user.",
        }
    for listing in ("listing_shape=array", "listing_shape=object"):
        body = api.listing(profile=listing + ",failure_reason=string+absent").json()
        items = body if isinstance(body, list) else body["messages"]
        failures = [_failure(i.get("message_status", i)) for i in items]
        assert failures == [
            "Recipient is not a WhatsApp user.",
            "Re-engagement window expired",
            MISSING,
        ]


def test_failure_reason_doc_on_reference_and_object_listing(api: Api) -> None:
    ids = _seed(api)
    ref = api.wa_status(ids["failed_code"], profile="preset=reference").json()
    assert ref["failure_reason"] == "Re-engagement window expired"
    assert api.wa_status(ids["delivered"], profile="preset=reference").json()["failure_reason"] is None


def test_not_found_400_for_whatsapp(api: Api) -> None:
    assert_error(api.wa_status(55555, profile="not_found=400"), 400, 1, "not found")
    api.admin.set_profile(not_found="400")
    assert_error(api.wa_status(55555), 400, 1, "not found")


def test_timestamps_seconds_and_millis(api: Api) -> None:
    message_id = api.admin.add_message(WA_PHONE, status="READ", created_at="2026-04-24T12:34:56.789Z")
    assert api.listing().json()[0]["created_at"] == "2026-04-24T12:34:56Z"
    assert api.listing(profile="timestamps=millis").json()[0]["created_at"] == "2026-04-24T12:34:56.789Z"
    assert SECONDS.match(api.wa_status(message_id).json()["last_updated"])
    ref = api.wa_status(message_id, profile="preset=reference,timestamps=millis").json()
    assert ref["read_at"] == "2026-04-24T12:34:56.789Z"
    templates = api.get("/api/v1/whatsapp/templates", profile="timestamps=millis").json()
    assert all(MILLIS.match(t["created_at"]) for t in templates)


def test_empty_listing_variants(api: Api) -> None:
    assert_error(api.listing(), 400, 2, "Resource Not Found")
    assert api.listing(profile="empty_listing=empty").json() == []
    body = api.listing(profile="empty_listing=empty,listing_shape=object").json()
    assert body["messages"] == []
    assert "request_id" in body


def test_presets(api: Api) -> None:
    ids = _seed(api)
    ref = api.listing(profile="preset=reference").json()
    assert ref["messages"][0]["status"] == "failed"
    legacy = api.wa_status(ids["delivered"], profile="preset=legacy").json()
    assert next(iter(legacy)) == "message_id"


def test_header_overrides_server_profile_only_for_that_request(api: Api) -> None:
    ids = _seed(api)
    api.admin.set_profile(status_case="lower")
    assert api.wa_status(ids["delivered"]).json()["status"] == "delivered"
    assert api.wa_status(ids["delivered"], profile="status_case=upper").json()["status"] == "DELIVERED"
    assert api.wa_status(ids["delivered"]).json()["status"] == "delivered"
    api.admin.set_profile(replace=True)
    assert api.wa_status(ids["delivered"]).json()["status"] == "DELIVERED"


@pytest.mark.parametrize(
    "header",
    ["status_shape=weird", "nonsense=1", "status_case", "failure_reason=object+string", "preset=nope"],
)
def test_invalid_profile_header_is_400(api: Api, header: str) -> None:
    assert_error(api.listing(profile=header), 400, 1, "X-Octopods-Sim-Profile")


def test_admin_rejects_invalid_profile(api: Api) -> None:
    from airflow_provider_octopods.simulator import SimulatorAdminError

    with pytest.raises(SimulatorAdminError) as info:
        api.admin.set_profile(listing_shape="table")
    assert info.value.status == 400
    assert api.admin.get_profile()["listing_shape"] == "array"


def test_profile_at_start_from_string() -> None:
    with OctopodsSimulator(profile="preset=reference,timestamps=millis") as sim:
        assert sim.admin.get_profile()["status_shape"] == "reference"
        assert sim.admin.get_profile()["timestamps"] == "millis"
