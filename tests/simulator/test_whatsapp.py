"""WhatsApp endpoints over real HTTP: send (every documented error), status, listing, templates."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_octopods.simulator import SimulatorAdminError

from .conftest import WA_PHONE, Api, assert_error


def test_send_returns_201_with_ids_and_absolute_status_url(api: Api) -> None:
    first = api.send_wa()
    second = api.send_wa()
    assert first.status_code == 201
    body = first.json()
    assert set(body) == {"request_id", "message_id", "message_status_url", "phone_number"}
    assert isinstance(body["message_id"], int)
    assert second.json()["message_id"] == body["message_id"] + 1
    assert body["phone_number"] == WA_PHONE
    assert body["message_status_url"] == f"{api.base_url}/api/v1/whatsapp/messages/{body['message_id']}"
    followed = api.session.get(
        body["message_status_url"], headers={"X-Octopods-Auth": api.sim.whatsapp_api_key}
    )
    assert followed.status_code == 200
    assert followed.json()["message_id"] == body["message_id"]


def test_message_ids_are_shared_across_channels(api: Api) -> None:
    wa = api.sent_id(api.send_wa())
    sms = api.sent_id(api.send_sms())
    assert sms == wa + 1


@pytest.mark.parametrize(
    ("variables", "template", "content"),
    [
        (("Alex", "1234"), 84579, "Hi Alex, your order 1234 is on the way!"),
        ({"1": "Alex", "2": "1234"}, 84579, "Hi Alex, your order 1234 is on the way!"),
        ({"body": ["Alex", "1234"]}, 84579, "Hi Alex, your order 1234 is on the way!"),
        (
            {"header": ["Order #1234"], "body": ["Alex", "1234"], "footer": [], "buttons": ["track/1234"]},
            73112,
            "Hi Alex, your order 1234 has shipped.",
        ),
        (None, 50002, "Welcome! You will now get order updates here."),
        ({}, 50002, "Welcome! You will now get order updates here."),
        ([], 50002, "Welcome! You will now get order updates here."),
        (("<b>Sam</b>", "9 &amp; 10"), "order_shipped_v1", "Hi Sam, your order 9 & 10 is on the way!"),
    ],
)
def test_send_accepts_every_documented_variable_shape(
    api: Api, variables: object, template: object, content: str
) -> None:
    message_id = api.sent_id(api.send_wa(template=template, variables=variables))  # type: ignore[arg-type]
    listed = api.listing().json()
    assert listed[0]["message_status"]["channel_message_id"] == message_id
    assert listed[0]["message_content"] == content


@pytest.mark.parametrize(
    ("fields", "code", "text"),
    [
        ({"destination_phone": None}, 1, "Phone number is missing"),
        ({"destination_phone": "14155552671"}, 5, "Invalid Phone number"),
        ({"destination_phone": "+0123456789"}, 5, "E.164"),
        ({"destination_phone": "+1 415 555 2671"}, 5, "E.164"),
        ({"destination_phone": 14155552671}, 2, "destination_phone"),
        ({"open_intercom_conversation": "maybe"}, 2, "open_intercom_conversation"),
        ({"intercom_teammate_id": ["x"]}, 2, "intercom_teammate_id"),
    ],
)
def test_send_field_errors(api: Api, fields: dict[str, object], code: int, text: str) -> None:
    body = {"destination_phone": WA_PHONE, "message_variables": ["Alex", "1"], **fields}
    if body["destination_phone"] is None:
        del body["destination_phone"]
    response = api.post("/api/v1/whatsapp/templates/84579/messages", body)
    assert_error(response, 400, code, text)


@pytest.mark.parametrize(
    ("template", "variables", "code", "text"),
    [
        (84579, ["Alex"], 4, "must have 2 value(s)"),
        (84579, ["Alex", "1", "2"], 4, "got 3"),
        (84579, {"1": "Alex"}, 4, "keys"),
        (84579, {"body": ["Alex"]}, 4, "message_variables.body"),
        (84579, "Alex", 2, "array or an object"),
        (84579, [{"x": 1}], 2, "strings"),
        (84579, {"body": "Alex"}, 2, "must be an array"),
        (84579, {"bodyy": []}, 2, "unknown keys"),
        (73112, ["Alex", "1234"], 9, "header, footer or button"),
        (73112, {"1": "Alex", "2": "1234"}, 9, "per-section"),
        (73112, {"header": [], "body": ["Alex", "1234"], "buttons": ["t"]}, 4, "message_variables.header"),
        (84579, None, 1, "message_variables is required"),
        (99999, ["a"], 3, "Message Template does not exist."),
        (40001, ["a"], 3, "Message Template does not exist."),
        ("no_such_name", ["a"], 3, "Message Template does not exist."),
    ],
)
def test_send_template_and_variable_errors(
    api: Api, template: object, variables: object, code: int, text: str
) -> None:
    response = api.send_wa(template=template, variables=variables)  # type: ignore[arg-type]
    assert_error(response, 400, code, text)


def test_template_not_exist_text_is_exact(api: Api) -> None:
    body = assert_error(api.send_wa(template=12345), 400, 3)
    assert body["error"] == "Message Template does not exist."


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (None, 1),
        ("", 1),
        ("ftp://example.com/banner.jpg", 8),
        ("not a url", 8),
        ("https://example.com/brochure.pdf", 8),
        (123, 8),
    ],
)
def test_media_header_needs_a_valid_attachment_url(api: Api, url: object, code: int) -> None:
    fields: dict[str, Any] = {} if url is None else {"header_attachment_url": url}
    response = api.send_wa(template=61001, variables=["Alex"], **fields)
    assert_error(response, 400, code, "header_attachment_url")


def test_media_header_send_succeeds_with_url(api: Api) -> None:
    response = api.send_wa(
        template=61001, variables=["Alex"], header_attachment_url="https://cdn.example.com/b.jpg"
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("flag", [True, False, "true", "FALSE", "1", "0", 1, 0, "yes", "no", "on", "off"])
def test_open_intercom_conversation_accepts_documented_values(api: Api, flag: object) -> None:
    response = api.send_wa(
        open_intercom_conversation=flag, intercom_teammate_id=42, destination_user_name="Alex"
    )
    message_id = api.sent_id(response)
    status = api.wa_status(message_id).json()
    opened = flag in (True, "true", "1", 1, "yes", "on")
    assert (status["intercom_conversation_id"] != "") is opened
    assert (status["intercom_conversation_part_id"] != "") is opened


def test_invalid_json_body_is_type_mismatch(api: Api) -> None:
    response = api.session.post(
        api.base_url + "/api/v1/whatsapp/templates/84579/messages",
        data="{not json",
        headers={"X-Octopods-Auth": api.sim.whatsapp_api_key, "Content-Type": "application/json"},
    )
    assert_error(response, 400, 2, "JSON object")
    array_body = api.post("/api/v1/whatsapp/templates/84579/messages", ["x"])
    assert_error(array_body, 400, 2, "JSON object")


def test_trailing_slashes_and_any_host_header(api: Api) -> None:
    response = api.post(
        "/api/v1/whatsapp/templates/84579/messages/",
        {"destination_phone": WA_PHONE, "message_variables": ["A", "B"]},
        headers={"Host": "app.octopods.io"},
    )
    message_id = api.sent_id(response)
    assert (
        api.get(f"/api/v1/whatsapp/messages/{message_id}/", headers={"Host": "api.octopods.io"}).status_code
        == 200
    )
    assert api.get("/api/v1/whatsapp/messages/?limit=1").status_code == 200
    assert api.get("/api/v1/whatsapp/templates/").status_code == 200


def test_get_requests_tolerate_json_content_type(api: Api) -> None:
    message_id = api.sent_id(api.send_wa())
    response = api.wa_status(message_id, headers={"Content-Type": "application/json"})
    assert response.status_code == 200


def test_unknown_paths_and_methods_answer_json(api: Api) -> None:
    assert_error(api.get("/api/v1/vbm/messages/1"), 404, 404, "Not Found")
    response = api.session.delete(api.base_url + "/api/v1/whatsapp/messages/1")
    assert_error(response, 405, 405)
    assert "GET" in response.headers["Allow"]


# -- status ------------------------------------------------------------------------------------


def test_status_of_fresh_message_is_sent_in_unified_shape(api: Api) -> None:
    message_id = api.sent_id(api.send_wa())
    body = api.wa_status(message_id).json()
    assert list(body) == [
        "request_id",
        "message_id",
        "status",
        "status_message",
        "channel_message_id",
        "intercom_conversation_id",
        "intercom_conversation_part_id",
        "last_updated",
    ]
    assert body["status"] == "SENT"
    assert body["message_id"] == message_id
    assert body["channel_message_id"].startswith("wamid.")
    assert body["last_updated"].endswith("Z")
    assert "." not in body["last_updated"]


@pytest.mark.parametrize("raw", ["abc", "0", "-3", "1.5"])
def test_status_with_malformed_id_is_400(api: Api, raw: str) -> None:
    assert_error(api.get(f"/api/v1/whatsapp/messages/{raw}"), 400, 1, "message_id")


def test_status_of_unknown_id_is_404_by_default(api: Api) -> None:
    assert_error(api.wa_status(424242), 404, 404, "not found")


def test_status_of_sms_message_on_whatsapp_path_is_not_found(api: Api) -> None:
    sms_id = api.sent_id(api.send_sms())
    assert_error(api.wa_status(sms_id), 404, 404)


# -- listing -----------------------------------------------------------------------------------


def test_listing_is_newest_first_with_documented_fields(api: Api) -> None:
    ids = [api.sent_id(api.send_wa(phone=f"+1415555{n:04d}")) for n in (2671, 1234, 5555)]
    items = api.listing().json()
    assert [i["message_status"]["channel_message_id"] for i in items] == ids[::-1]
    assert items[0]["user_phone_number"] == "+14155555555"
    assert set(items[0]) == {"user_phone_number", "created_at", "message_content", "message_status"}
    assert set(items[0]["message_status"]) == {"channel_message_id", "message_status", "failure_reason"}
    assert items[0]["message_status"]["failure_reason"] == ""


def test_listing_limit_default_cap_and_errors(api: Api) -> None:
    ids = api.admin.add_messages(
        [{"phone": WA_PHONE, "created_at": 1_700_000_000 + n, "status": "DELIVERED"} for n in range(105)]
    )
    assert len(api.listing().json()) == 100
    assert len(api.listing("?limit=500").json()) == 100
    three = api.listing("?limit=3").json()
    assert [i["message_status"]["channel_message_id"] for i in three] == ids[::-1][:3]
    for bad in ("0", "-1", "abc", "2.5", ""):
        assert_error(api.listing(f"?limit={bad}"), 400, 1, "limit must be a positive integer")


def test_empty_listing_is_resource_not_found_by_default(api: Api) -> None:
    body = assert_error(api.listing(), 400, 2)
    assert body["error"] == "Resource Not Found"


def test_listing_only_shows_whatsapp_messages(api: Api) -> None:
    api.sent_id(api.send_sms())
    assert_error(api.listing(), 400, 2)


# -- templates ---------------------------------------------------------------------------------


def test_template_list_in_reference_format(api: Api) -> None:
    templates = api.get("/api/v1/whatsapp/templates").json()
    by_id = {t["template_id"]: t for t in templates}
    assert {84579, 84580, 73112, 61001, 50001, 50002, 40001} <= set(by_id)
    item = by_id[84579]
    assert set(item) == {
        "created_at",
        "template_id",
        "template_name",
        "template_body",
        "template_components",
        "account_phone_number",
        "template_status",
    }
    assert item["template_name"] == "order_shipped_v1"
    assert item["template_status"] == "Accepted"
    assert by_id[40001]["template_status"] == "Rejected"
    rich = {c["type"]: c for c in by_id[73112]["template_components"]}
    assert rich["HEADER"] == {"type": "HEADER", "format": "TEXT", "text": "Update: {{1}}"}
    assert rich["BUTTONS"]["buttons"][0]["url"] == "https://shop.example.com/{{1}}"
    image = {c["type"]: c for c in by_id[61001]["template_components"]}
    assert image["HEADER"] == {"type": "HEADER", "format": "IMAGE"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=rejected", {40001}),
        ("?active=false", {40001}),
        ("?status=accepted&lang=pt", {84580}),
        ("?lang=pt_BR", {84580}),
        ("?lang=en_GB", set()),
        ("?status=pending", set()),
        ("?status=ACCEPTED&active=true&lang=en", {84579, 73112, 61001, 50001, 50002, 539, 537}),
        ("?lang=en_US", {84579, 73112, 61001, 50001, 50002, 40001}),
    ],
)
def test_template_filters(api: Api, query: str, expected: set[int]) -> None:
    response = api.get("/api/v1/whatsapp/templates" + query)
    assert response.status_code == 200
    assert {t["template_id"] for t in response.json()} == expected


def test_template_filter_errors(api: Api) -> None:
    assert_error(api.get("/api/v1/whatsapp/templates?status=approved"), 400, 10, "INVALID_STATUS")
    assert_error(api.get("/api/v1/whatsapp/templates?active=maybe"), 400, 2, "active")


def test_the_docs_example_templates_are_listed_as_the_legacy_article_shows_them(api: Api) -> None:
    by_id = {
        t["template_id"]: t for t in api.get("/api/v1/whatsapp/templates", profile="timestamps=millis").json()
    }
    assert by_id[539] == {
        "created_at": "2021-09-24T14:29:32.000Z",
        "template_id": 539,
        "template_name": "account_update_1",
        "template_body": "go here: {{1}} to check your updated information.",
        "template_components": [
            {"type": "BODY", "text": "go here: {{1}} to check your updated information."}
        ],
        "account_phone_number": "+353894876742",
        "template_status": "Accepted",
    }
    assert by_id[537]["template_name"] == "appointment_1"
    assert by_id[537]["template_body"] == "Hello {{1}}, here is the appointment link: {{2}} Thank you"
    assert by_id[537]["created_at"] == "2021-09-24T14:29:32.000Z"
    # the article cuts 537 off before its number: it shows the simulator's own, like every other template
    assert by_id[537]["account_phone_number"] == by_id[84579]["account_phone_number"] == "+15551234567"
    placeholders = {t["template_id"]: t["placeholders"]["body"] for t in api.admin.templates()}
    assert (placeholders[539], placeholders[537]) == (1, 2)


@pytest.mark.parametrize(
    ("template", "variables", "content"),
    [
        (
            539,
            ["https://example.com/account"],
            "go here: https://example.com/account to check your updated information.",
        ),
        (
            "account_update_1",
            {"1": "https://example.com/a"},
            "go here: https://example.com/a to check your updated information.",
        ),
        (
            537,
            ["Alex", "https://example.com/appointments/42"],
            "Hello Alex, here is the appointment link: https://example.com/appointments/42 Thank you",
        ),
        (
            537,
            {"body": ["Sam", "https://example.com/b"]},
            "Hello Sam, here is the appointment link: https://example.com/b Thank you",
        ),
    ],
)
def test_the_docs_example_templates_send_with_the_documented_variables(
    api: Api, template: int | str, variables: object, content: str
) -> None:
    message_id = api.sent_id(api.send_wa(template=template, variables=variables))
    assert api.admin.get_message(message_id)["content"] == content
    assert api.listing().json()[0]["message_content"] == content


@pytest.mark.parametrize(
    ("template", "variables", "code"), [(539, ["a", "b"], 4), (537, ["Alex"], 4), (537, None, 1)]
)
def test_the_docs_example_templates_check_their_variables(
    api: Api, template: int, variables: object, code: int
) -> None:
    assert_error(api.send_wa(template=template, variables=variables), 400, code)


def test_a_template_may_carry_its_own_account_number(api: Api) -> None:
    api.admin.add_template(
        {"template_id": 778, "name": "other_waba_v1", "body": "Hi", "account_phone_number": "+447700900123"}
    )
    assert api.get("/api/v1/whatsapp/templates/778").json()["account_phone_number"] == "+447700900123"
    with pytest.raises(SimulatorAdminError, match="account_phone_number"):
        api.admin.add_template(
            {"template_id": 779, "name": "bad_v1", "body": "Hi", "account_phone_number": "12"}
        )


def test_template_detail(api: Api) -> None:
    assert api.get("/api/v1/whatsapp/templates/73112").json()["template_name"] == "order_update_rich_v1"
    assert api.get("/api/v1/whatsapp/templates/welcome_v1").json()["template_id"] == 50002
    assert_error(api.get("/api/v1/whatsapp/templates/1"), 400, 3, "Message Template does not exist.")


def test_templates_are_configurable(api: Api) -> None:
    api.admin.add_template(
        {"template_id": 777, "name": "custom_v1", "body": "Code {{1}} for {{2}} at {{3}}", "lang": "es_MX"}
    )
    assert_error(api.send_wa(template=777, variables=["a", "b"]), 400, 4)
    message_id = api.sent_id(api.send_wa(template=777, variables=["a", "b", "c"]))
    assert api.admin.get_message(message_id)["content"] == "Code a for b at c"
    assert {t["template_id"] for t in api.get("/api/v1/whatsapp/templates?lang=es").json()} == {777}
