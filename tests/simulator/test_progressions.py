"""Status progressions: time-driven (with seeded jitter), scripted, held/set, recipient rules."""

from __future__ import annotations

import time

import pytest

from airflow_provider_octopods.simulator import OctopodsSimulator

from .conftest import SMS_PHONE, WA_PHONE, Api, assert_error


def _statuses(api: Api, message_id: int) -> list[str]:
    return [h["status"] for h in api.admin.get_message(message_id)["history"]]


def test_whatsapp_time_driven_sent_delivered_read(api: Api) -> None:
    message_id = api.sent_id(api.send_wa())
    created = api.admin.get_message(message_id)["created_at"]
    assert api.wa_status(message_id).json()["status"] == "SENT"
    api.admin.advance_clock(1.05)
    assert api.wa_status(message_id).json()["status"] == "DELIVERED"
    api.admin.advance_clock(2.0)
    body = api.wa_status(message_id).json()
    assert body["status"] == "READ"
    history = api.admin.get_message(message_id)["history"]
    assert [h["status"] for h in history] == ["SENT", "DELIVERED", "READ"]
    # the scheduled change times, not the time they were observed (jitter is 0 in this fixture)
    assert [round(h["at"] - created, 6) for h in history] == [0.0, 1.0, 3.0]
    listed = api.listing().json()[0]["message_status"]["message_status"]
    assert listed == "READ"


def test_progression_follows_the_real_clock() -> None:
    with OctopodsSimulator(deliver_after=0.25, read_after=None, jitter=0.0) as sim:
        api = Api(sim)
        message_id = api.sent_id(api.send_wa())
        assert api.wa_status(message_id).json()["status"] == "SENT"
        time.sleep(0.35)
        assert api.wa_status(message_id).json()["status"] == "DELIVERED"
        sim.admin.advance_clock(3600)
        assert api.wa_status(message_id).json()["status"] == "DELIVERED"  # read receipts off


def test_timing_can_be_changed_for_new_messages(api: Api) -> None:
    before = api.sent_id(api.send_wa())
    api.admin.set_timing(deliver_after=10.0, read_after=-1)
    after = api.sent_id(api.send_wa())
    api.admin.advance_clock(5)
    assert api.wa_status(before).json()["status"] == "READ"
    assert api.wa_status(after).json()["status"] == "SENT"
    api.admin.advance_clock(100)
    assert api.wa_status(after).json()["status"] == "DELIVERED"
    assert api.admin.get_timing()["read_after"] is None


def _offsets(seed: int, jitter: float = 0.2) -> list[list[float]]:
    with OctopodsSimulator(seed=seed, deliver_after=2.0, read_after=5.0, jitter=jitter) as sim:
        api = Api(sim)
        ids = [api.sent_id(api.send_wa(phone=f"+1415555{n:04d}")) for n in range(1000, 1005)]
        ids.append(api.sent_id(api.send_sms()))
        result = []
        for message_id in ids:
            info = sim.admin.get_message(message_id)
            result.append([round(e["at"] - info["created_at"], 4) for e in info["schedule"]])
        return result


def test_jitter_is_deterministic_for_a_seed_and_differs_between_seeds() -> None:
    first, again, other = _offsets(5), _offsets(5), _offsets(6)
    assert first == again
    assert first != other
    for offsets in first[:5]:
        assert offsets[0] == 0.0
        assert 1.6 <= offsets[1] <= 2.4  # deliver_after 2.0 ± 20 %
        assert 3.999 <= offsets[2] - offsets[1] <= 6.001  # read_after 5.0 ± 20 %
    assert len({tuple(o) for o in first[:5]}) == 5  # every message gets its own draw


def test_same_seed_gives_same_request_ids_and_provider_ids() -> None:
    def run() -> list[object]:
        with OctopodsSimulator(seed=11) as sim:
            api = Api(sim)
            sent = api.send_wa().json()
            status = api.wa_status(sent["message_id"]).json()
            return [sent["request_id"], status["request_id"], status["channel_message_id"]]

    assert run() == run()


def test_scripted_status_one_step_per_poll(api: Api) -> None:
    message_id = api.admin.add_message(WA_PHONE, script=["SENT", "SENT", "UNKNOWN", "DELIVERED"])
    # the admin view does not consume a step
    assert api.admin.get_message(message_id)["status"] == "SENT"
    assert api.admin.get_message(message_id)["status"] == "SENT"
    seen = [api.wa_status(message_id).json()["status"] for _ in range(6)]
    assert seen == ["SENT", "SENT", "UNKNOWN", "DELIVERED", "DELIVERED", "DELIVERED"]
    assert api.listing().json()[0]["message_status"]["message_status"] == "DELIVERED"
    info = api.admin.get_message(message_id)
    assert [h["status"] for h in info["history"]] == ["SENT", "UNKNOWN", "DELIVERED"]
    times = [h["at"] for h in info["history"]]
    assert times == sorted(times)
    assert info["polls"] == 6


def test_a_listing_that_shows_a_scripted_message_consumes_a_step_as_a_poll_does(api: Api) -> None:
    message_id = api.admin.add_message(WA_PHONE, script=["SENT", "UNKNOWN", "DELIVERED"])
    listed = [api.listing().json()[0]["message_status"]["message_status"] for _ in range(2)]
    assert listed == ["SENT", "UNKNOWN"]
    assert api.wa_status(message_id).json()["status"] == "DELIVERED"
    info = api.admin.get_message(message_id)
    assert [h["status"] for h in info["history"]] == ["SENT", "UNKNOWN", "DELIVERED"]
    assert info["polls"] == 1  # status polls only


def test_scripted_failure_with_reason(api: Api) -> None:
    message_id = api.admin.add_message(
        WA_PHONE,
        script=["SENT", {"status": "FAILED", "failure_reason": "Template paused", "failure_code": 132015}],
    )
    assert api.wa_status(message_id).json()["status"] == "SENT"
    failed = api.wa_status(message_id).json()
    assert failed["failure_reason"] == {"code": 132015, "title": "Template paused"}


def test_hold_and_set_status(api: Api) -> None:
    message_id = api.sent_id(api.send_wa())
    api.admin.hold(message_id)
    api.admin.advance_clock(60)
    assert api.wa_status(message_id).json()["status"] == "SENT"
    api.admin.set_status(message_id, "DELIVERED")
    assert api.wa_status(message_id).json()["status"] == "DELIVERED"
    api.admin.set_status(message_id, "FAILED", failure_reason="Blocked by recipient", failure_code=131049)
    body = api.wa_status(message_id).json()
    assert body["status"] == "FAILED"
    assert body["failure_reason"] == {"code": 131049, "title": "Blocked by recipient"}
    assert _statuses(api, message_id) == ["SENT", "DELIVERED", "FAILED"]


def test_hold_a_scripted_message(api: Api) -> None:
    message_id = api.admin.add_message(WA_PHONE, script=["SENT", "DELIVERED"])
    assert api.wa_status(message_id).json()["status"] == "SENT"
    api.admin.hold(message_id)
    assert [api.wa_status(message_id).json()["status"] for _ in range(3)] == ["SENT"] * 3


def test_set_status_without_reason_gets_a_default_failure(api: Api) -> None:
    message_id = api.sent_id(api.send_wa())
    api.admin.set_status(message_id, "FAILED")
    assert api.wa_status(message_id).json()["failure_reason"] == "The message could not be delivered."


def test_admin_errors_for_unknown_message(api: Api) -> None:
    from airflow_provider_octopods.simulator import SimulatorAdminError

    with pytest.raises(SimulatorAdminError) as info:
        api.admin.set_status(999, "DELIVERED")
    assert info.value.status == 404
    with pytest.raises(SimulatorAdminError):
        api.admin.add_message(WA_PHONE, status="DONE")
    with pytest.raises(SimulatorAdminError):
        api.admin.add_message("0800", status="SENT")
    with pytest.raises(SimulatorAdminError):
        api.admin.add_message(WA_PHONE, status="SENT", script=["SENT"])


# -- recipient rules ---------------------------------------------------------------------------


def _advance_and_read(api: Api, message_id: int, channel: str, seconds: float) -> dict[str, object]:
    api.admin.advance_clock(seconds)
    get = api.wa_status if channel == "whatsapp" else api.sms_status
    return dict(get(message_id, profile="vocabulary=superset").json())


def test_rule_0470_fails_with_re_engagement_code(api: Api) -> None:
    message_id = api.sent_id(api.send_wa(phone="+14155550470"))
    assert api.wa_status(message_id).json()["status"] == "SENT"
    body = _advance_and_read(api, message_id, "whatsapp", 1.1)
    assert body["status"] == "FAILED"
    assert body["failure_reason"] == {"code": 470, "title": "Re-engagement window expired"}


def test_rule_0001_fails_at_once(api: Api) -> None:
    message_id = api.sent_id(api.send_wa(phone="+14155550001"))
    body = api.wa_status(message_id).json()
    assert body["status"] == "FAILED"
    assert body["failure_reason"] == "Recipient is not a WhatsApp user."


def test_rule_0004_is_never_read(api: Api) -> None:
    message_id = api.sent_id(api.send_wa(phone="+14155550004"))
    assert _advance_and_read(api, message_id, "whatsapp", 3600)["status"] == "DELIVERED"


def test_rule_0007_stays_sent_on_both_channels(api: Api) -> None:
    wa = api.sent_id(api.send_wa(phone="+14155550007"))
    sms = api.sent_id(api.send_sms(phone="+15550000007"))
    api.admin.advance_clock(3600)
    assert api.wa_status(wa).json()["status"] == "SENT"
    assert api.sms_status(sms).json()["status"] == "SENT"


def test_rule_0008_is_deleted_after_delivery(api: Api) -> None:
    message_id = api.sent_id(api.send_wa(phone="+14155550008"))
    assert _advance_and_read(api, message_id, "whatsapp", 1.1)["status"] == "DELIVERED"
    assert _advance_and_read(api, message_id, "whatsapp", 1.0)["status"] == "DELETED"


def test_rule_0009_unknown_window_then_delivered(api: Api) -> None:
    message_id = api.sent_id(api.send_wa(phone="+14155550009"))
    assert api.wa_status(message_id).json()["status"] == "UNKNOWN"
    assert _advance_and_read(api, message_id, "whatsapp", 11.5)["status"] == "UNKNOWN"
    assert _advance_and_read(api, message_id, "whatsapp", 1.0)["status"] == "DELIVERED"
    ref = api.wa_status(message_id, profile="preset=reference").json()
    assert ref["sent_at"] is not None
    assert ref["delivered_at"] is not None


def test_rule_sms_0002_undelivered_with_carrier_reason(api: Api) -> None:
    message_id = api.sent_id(api.send_sms(phone="+15550000002"))
    body = _advance_and_read(api, message_id, "sms", 1.6)
    assert body["status"] == "UNDELIVERED"
    assert body["failure_reason"] == {"code": 30003, "title": "Unreachable destination handset"}
    ref = api.sms_status(message_id, profile="preset=reference").json()
    assert ref["status"] == "undelivered"
    assert ref["failure_reason"] == "Unreachable destination handset"


def test_rule_sms_0003_fails(api: Api) -> None:
    message_id = api.sent_id(api.send_sms(phone="+15550000003"))
    body = _advance_and_read(api, message_id, "sms", 0.6)
    assert body["status"] == "FAILED"
    assert body["failure_reason"] == {"code": 30006, "title": "Landline or unreachable carrier"}


def test_rules_are_channel_specific(api: Api) -> None:
    sms = api.sent_id(api.send_sms(phone="+15550000470"))  # a WhatsApp-only rule
    assert _advance_and_read(api, sms, "sms", 10)["status"] == "DELIVERED"


def test_custom_rules_first_match_wins(api: Api) -> None:
    api.admin.add_rule(
        {
            "exact": "+14155550470",
            "channel": "whatsapp",
            "steps": [{"status": "SENT"}, {"status": "READ", "after": 0.5}],
        }
    )
    exact = api.sent_id(api.send_wa(phone="+14155550470"))
    suffix = api.sent_id(api.send_wa(phone="+14155560470"))
    api.admin.advance_clock(2)
    assert api.wa_status(exact).json()["status"] == "READ"
    assert api.wa_status(suffix).json()["status"] == "FAILED"
    info = api.admin.get_message(exact)
    assert info["rule"] == "+14155550470"
    api.admin.set_rules([])
    plain = api.sent_id(api.send_wa(phone="+14155550001"))
    assert api.wa_status(plain).json()["status"] == "SENT"


def test_seeded_messages_follow_rules_from_their_created_at(api: Api) -> None:
    now = api.admin.clock()["now"]
    old = api.admin.add_message(WA_PHONE, created_at=now - 3600, content="Old news")
    failed_old = api.admin.add_message("+14155550470", created_at=now - 3600)
    assert api.wa_status(old).json()["status"] == "READ"
    assert api.wa_status(failed_old).json()["status"] == "FAILED"
    assert api.listing().json()[-1]["message_content"] == "Old news"


def test_seeded_history_with_precise_times(api: Api) -> None:
    message_id = api.admin.add_message(
        WA_PHONE,
        created_at="2026-04-24T12:34:56Z",
        content="Hi Alex — your order is on the way!",
        history=[
            {"status": "SENT", "at": "2026-04-24T12:34:56Z"},
            {"status": "DELIVERED", "at": "2026-04-24T12:35:01Z"},
        ],
    )
    item = api.listing().json()[0]
    assert item == {
        "user_phone_number": WA_PHONE,
        "created_at": "2026-04-24T12:34:56Z",
        "message_content": "Hi Alex — your order is on the way!",
        "message_status": {
            "channel_message_id": message_id,
            "message_status": "DELIVERED",
            "failure_reason": "",
        },
    }
    assert api.wa_status(message_id).json()["last_updated"] == "2026-04-24T12:35:01Z"


def test_bulk_seeding_and_owner_by_key(api: Api) -> None:
    other = api.admin.add_key("whatsapp")
    ids = api.admin.add_messages(
        [
            {"phone": WA_PHONE, "status": "DELIVERED", "created_at": "2026-04-24T10:00:00Z"},
            {"phone": WA_PHONE, "status": "SENT", "key": other},
            {"phone": SMS_PHONE, "channel": "sms", "status": "DELIVERED"},
        ]
    )
    assert len(ids) == 3
    assert [i["message_status"]["channel_message_id"] for i in api.listing().json()] == [ids[0]]
    assert [i["message_status"]["channel_message_id"] for i in api.listing(key=other).json()] == [ids[1]]
    assert api.sms_status(ids[2]).json()["status"] == "DELIVERED"
    assert_error(api.wa_status(ids[2]), 404, 404)


def test_sms_listing_content_is_the_body(api: Api) -> None:
    message_id = api.sent_id(api.send_sms(text="Hello <i>there</i>"))
    assert api.admin.get_message(message_id)["content"] == "Hello <i>there</i>"
