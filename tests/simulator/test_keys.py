"""Keys: 401s, deprecated keys per family, the same-key rule, cross-family use, rotation."""

from __future__ import annotations

from .conftest import Api, assert_error

DEPRECATED_WA = "Deprecated API Key. Please go to your Octopods App, and get your new API Key"


def test_missing_and_unknown_keys_are_401_with_envelope(api: Api) -> None:
    for path in ("/api/v1/whatsapp/messages", "/api/v1/whatsapp/templates", "/api/v1/sms/messages/1"):
        assert_error(api.get(path, key=None), 401, 401, "X-Octopods-Auth")
        assert_error(api.get(path, key="not-a-key"), 401, 401, "not valid")
    assert_error(api.send_wa(key=None), 401, 401)
    assert_error(api.send_sms(key="Bearer " + api.sim.channel_api_key), 401, 401)


def test_cross_family_keys_are_401(api: Api) -> None:
    assert_error(api.send_sms(key=api.sim.whatsapp_api_key), 401, 401, "channel API key")
    assert_error(api.send_wa(key=api.sim.channel_api_key), 401, 401, "WhatsApp Business API key")
    assert_error(api.listing(key=api.sim.channel_api_key), 401, 401)


def test_keys_are_configurable() -> None:
    from airflow_provider_octopods.simulator import OctopodsSimulator

    with OctopodsSimulator(whatsapp_api_key="wa-123", channel_api_key="ch-456") as sim:
        assert (sim.whatsapp_api_key, sim.channel_api_key) == ("wa-123", "ch-456")
        api = Api(sim)
        assert api.send_wa(key="wa-123").status_code == 201
        assert api.send_sms(key="ch-456").status_code == 201
        assert_error(api.send_wa(key="sim-whatsapp-key-0"), 401, 401)


def test_default_keys_are_derived_from_the_seed() -> None:
    from airflow_provider_octopods.simulator import OctopodsSimulator

    with OctopodsSimulator(seed=42) as sim:
        assert sim.whatsapp_api_key == "sim-whatsapp-key-42"
        assert sim.channel_api_key == "sim-channel-key-42"


def test_rotation_deprecates_old_key_with_family_codes(api: Api) -> None:
    wa_id = api.sent_id(api.send_wa())
    sms_id = api.sent_id(api.send_sms())
    old_wa, old_ch = api.sim.whatsapp_api_key, api.sim.channel_api_key
    new_wa = api.admin.rotate_key("whatsapp")
    new_ch = api.admin.rotate_key("channel")
    assert new_wa != old_wa
    assert new_ch != old_ch
    assert api.sim.whatsapp_api_key == new_wa
    assert api.sim.channel_api_key == new_ch
    body = assert_error(api.listing(key=old_wa), 400, 6)
    assert body["error"] == DEPRECATED_WA
    assert_error(api.wa_status(wa_id, key=old_wa), 400, 6, "Deprecated API Key")
    assert_error(api.send_wa(key=old_wa), 400, 6)
    assert_error(api.sms_status(sms_id, key=old_ch), 400, 5, "Deprecated API Key")
    assert_error(api.send_sms(key=old_ch), 400, 5)
    # the deprecated key of one family on the other family's endpoints is still a plain 401
    assert_error(api.send_sms(key=old_wa), 401, 401)
    # the replacement key belongs to the same channel: it reads the old messages
    assert api.wa_status(wa_id, key=new_wa).status_code == 200
    assert api.sms_status(sms_id, key=new_ch).status_code == 200


def test_deprecate_without_replacement(api: Api) -> None:
    key = api.admin.add_key("whatsapp")
    api.admin.deprecate_key(key)
    assert_error(api.listing(key=key), 400, 6)


def test_same_key_rule_other_key_sees_nothing(api: Api) -> None:
    other_wa = api.admin.add_key("whatsapp")
    other_ch = api.admin.add_key("channel", "my-own-sms-key")
    assert other_ch == "my-own-sms-key"
    wa_id = api.sent_id(api.send_wa())
    sms_id = api.sent_id(api.send_sms())
    assert_error(api.wa_status(wa_id, key=other_wa), 404, 404)
    assert_error(api.sms_status(sms_id, key=other_ch), 404, 404)
    assert_error(api.listing(key=other_wa), 400, 2, "Resource Not Found")
    mine = api.sent_id(api.send_wa(key=other_wa))
    assert [i["message_status"]["channel_message_id"] for i in api.listing(key=other_wa).json()] == [mine]
    assert [i["message_status"]["channel_message_id"] for i in api.listing().json()] == [wa_id]
    assert_error(api.wa_status(mine), 404, 404)


def test_added_key_can_share_an_owner(api: Api) -> None:
    shared = api.admin.add_key("whatsapp", same_owner_as=api.sim.whatsapp_api_key)
    wa_id = api.sent_id(api.send_wa())
    assert api.wa_status(wa_id, key=shared).status_code == 200


def test_admin_lists_keys_with_fingerprints(api: Api) -> None:
    keys = api.admin.keys()
    assert {k["family"] for k in keys} == {"whatsapp", "channel"}
    assert all(k["fingerprint"].startswith("key#") and k["key"] not in k["fingerprint"] for k in keys)
