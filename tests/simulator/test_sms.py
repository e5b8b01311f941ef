"""SMS endpoints over real HTTP: send (every documented error), status shapes, progression."""

from __future__ import annotations

import pytest

from .conftest import SMS_PHONE, Api, assert_error


def test_sms_send_returns_guide_shape(api: Api) -> None:
    response = api.send_sms(
        destination_user_name="Alex", open_intercom_conversation="on", intercom_teammate_id="7"
    )
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["request_id", "message_id", "channel_message_id"]
    assert body["channel_message_id"].startswith("SM")
    assert len(body["channel_message_id"]) == 34


def test_sms_send_legacy_shape_has_phone_without_plus(api: Api) -> None:
    body = api.send_sms(profile="sms_send_shape=legacy").json()
    assert list(body) == ["message_id", "phone_number", "request_id"]
    assert body["phone_number"] == SMS_PHONE.lstrip("+")


@pytest.mark.parametrize(
    ("phone", "text", "code", "message"),
    [
        (None, "hi", 1, "Phone number is missing"),
        ("", "hi", 1, "Phone number is missing"),
        ("15551234567", "hi", 3, "Invalid Phone number"),
        (15551234567, "hi", 3, "Invalid Phone number"),
        (SMS_PHONE, None, 2, "empty"),
        (SMS_PHONE, "   ", 2, "empty"),
        (SMS_PHONE, "", 2, "empty"),
        (SMS_PHONE, {"text": "hi"}, 2, "string"),
        (SMS_PHONE, "x" * 1601, 4, "1601 characters long; the maximum is 1600"),
    ],
)
def test_sms_send_errors(api: Api, phone: object, text: object, code: int, message: str) -> None:
    body: dict[str, object] = {}
    if phone is not None:
        body["destination_phone"] = phone
    if text is not None:
        body["body"] = text
    assert_error(api.post("/api/v1/sms/messages", body), 400, code, message)


def test_sms_body_of_exactly_1600_characters_is_accepted(api: Api) -> None:
    assert api.send_sms(text="y" * 1600).status_code == 201


def test_sms_flag_error_and_bad_json(api: Api) -> None:
    assert_error(api.send_sms(open_intercom_conversation="sometimes"), 400, 1, "open_intercom_conversation")
    response = api.session.post(
        api.base_url + "/api/v1/sms/messages",
        data="nope",
        headers={"X-Octopods-Auth": api.sim.channel_api_key},
    )
    assert_error(response, 400, 1, "JSON object")


def test_sms_status_unified_maps_queued_to_sent(api: Api) -> None:
    message_id = api.sent_id(api.send_sms())
    body = api.sms_status(message_id).json()
    assert body["status"] == "SENT"
    assert body["status_message"]
    assert body["channel_message_id"].startswith("SM")


def test_sms_status_reference_shape_shows_queued(api: Api) -> None:
    message_id = api.sent_id(api.send_sms())
    body = api.sms_status(message_id, profile="preset=reference").json()
    assert list(body) == [
        "request_id",
        "message_id",
        "status",
        "phone_number",
        "sent_at",
        "delivered_at",
        "failure_reason",
    ]
    assert body["status"] == "queued"
    assert body["sent_at"] is None
    assert body["delivered_at"] is None
    assert body["failure_reason"] is None


def test_sms_time_driven_progression(api: Api) -> None:
    message_id = api.sent_id(api.send_sms())
    api.admin.advance_clock(0.6)
    assert api.sms_status(message_id, profile="preset=reference").json()["status"] == "sent"
    api.admin.advance_clock(1.0)
    body = api.sms_status(message_id, profile="preset=reference").json()
    assert body["status"] == "delivered"
    assert body["sent_at"] is not None
    assert body["delivered_at"] is not None
    history = api.admin.get_message(message_id)["history"]
    assert [h["status"] for h in history] == ["QUEUED", "SENT", "DELIVERED"]
    assert history[1]["at"] - history[0]["at"] == pytest.approx(0.5, abs=1e-6)
    assert history[2]["at"] - history[1]["at"] == pytest.approx(1.0, abs=1e-6)


def test_sms_not_found_variants(api: Api) -> None:
    assert_error(api.sms_status(999999), 404, 404, "not found")
    body = assert_error(api.sms_status(999999, profile="not_found=400"), 400, 1)
    assert body["error"] == "You must supply message_id in your request payload."
    assert_error(api.get("/api/v1/sms/messages/abc"), 400, 1, "You must supply message_id")


def test_sms_has_no_listing(api: Api) -> None:
    assert_error(api.get("/api/v1/sms/messages"), 405, 405)
