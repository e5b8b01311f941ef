"""
The hook against the bundled simulator, over every documentation profile: both status field sets
(and the legacy one), both listing shapes, both casings, every failure_reason encoding, 404 or 400
for unknown ids, both timestamp precisions, both empty-listing answers, both 429 retry formats.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest

from airflow_provider_octopods.exceptions import (
    OctopodsApiError,
    OctopodsAuthError,
    OctopodsNotFoundError,
    OctopodsValidationError,
)
from airflow_provider_octopods.hooks.octopods import OctopodsHook
from airflow_provider_octopods.models import DeliveryStatus

if TYPE_CHECKING:
    from airflow_provider_octopods.testing import SimulatorHandle

pytestmark = pytest.mark.octopods_simulator(read_after=None)

FAILURE_ENCODINGS = ["doc", "object", "string", "null", "empty", "absent", "object+null", "string+empty"]


def seed(simulator: SimulatorHandle) -> dict[str, int]:
    """One message per interesting state, on both channels."""
    return {
        "wa_delivered": simulator.add_message("+14155552671", status="DELIVERED", content="Hi Alex"),
        "wa_read": simulator.add_message("+14155552672", status="READ"),
        "wa_failed": simulator.add_message(
            "+14155552673", status="FAILED", failure_code=470, failure_reason="Re-engagement window expired"
        ),
        "wa_sent": simulator.add_message("+14155552674", status="SENT"),
        "sms_delivered": simulator.add_message("+14155552675", channel="sms", status="DELIVERED"),
        "sms_undelivered": simulator.add_message(
            "+14155552676",
            channel="sms",
            status="UNDELIVERED",
            failure_code=30003,
            failure_reason="Unreachable destination handset",
        ),
    }


PROFILES = [
    {"status_shape": shape, "status_case": case, "failure_reason": failure}
    for shape, case, failure in itertools.product(
        ("unified", "reference", "legacy"), ("upper", "lower"), FAILURE_ENCODINGS
    )
]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: "-".join(p.values()))
def test_status_in_every_profile(simulator: SimulatorHandle, profile: dict[str, str]) -> None:
    simulator.set_profile(**profile)
    ids = seed(simulator)
    hook = OctopodsHook()
    expected = {
        "wa_delivered": ("whatsapp", DeliveryStatus.DELIVERED),
        "wa_read": ("whatsapp", DeliveryStatus.READ),
        "wa_failed": ("whatsapp", DeliveryStatus.FAILED),
        "wa_sent": ("whatsapp", DeliveryStatus.SENT),
        "sms_delivered": ("sms", DeliveryStatus.DELIVERED),
        # the unified and legacy vocabularies have no UNDELIVERED: the docs' own words say FAILED
        "sms_undelivered": (
            "sms",
            DeliveryStatus.UNDELIVERED if profile["status_shape"] == "reference" else DeliveryStatus.FAILED,
        ),
    }
    for name, (channel, status) in expected.items():
        result = hook.get_message_status(ids[name], channel)
        assert (result.message_id, result.channel, result.status) == (ids[name], channel, status), name
        if status.is_failure:
            truth = simulator.get_message(ids[name])
            encoding = profile["failure_reason"].split("+")[0]
            if encoding not in ("null", "empty", "absent"):
                assert result.failure_reason == truth["failure_reason"], name
            if encoding == "object" or (encoding == "doc" and profile["status_shape"] == "unified"):
                assert result.failure_code == truth["failure_code"], name
        else:
            assert (result.failure_code, result.failure_reason) == (None, None), name
        if not (status.is_failure and profile["status_shape"] == "reference"):  # no failed_at in that shape
            assert result.last_updated is not None, name


@pytest.mark.parametrize("listing_shape", ["array", "object"])
@pytest.mark.parametrize("status_case", ["upper", "lower"])
@pytest.mark.parametrize("timestamps", ["seconds", "millis"])
@pytest.mark.parametrize("failure_reason", FAILURE_ENCODINGS)
def test_listing_in_every_profile(
    simulator: SimulatorHandle, listing_shape: str, status_case: str, timestamps: str, failure_reason: str
) -> None:
    simulator.set_profile(
        listing_shape=listing_shape,
        status_case=status_case,
        timestamps=timestamps,
        failure_reason=failure_reason,
    )
    ids = seed(simulator)
    listed = OctopodsHook().list_sent_messages()
    whatsapp_ids = [ids[name] for name in ("wa_sent", "wa_failed", "wa_read", "wa_delivered")]
    assert [message.message_id for message in listed] == whatsapp_ids  # newest first, WhatsApp only
    by_id = {message.message_id: message for message in listed}
    assert by_id[ids["wa_delivered"]].status is DeliveryStatus.DELIVERED
    assert by_id[ids["wa_delivered"]].phone_number == "+14155552671"
    assert by_id[ids["wa_delivered"]].message_content == ("Hi Alex" if listing_shape == "array" else None)
    failed = by_id[ids["wa_failed"]]
    assert failed.status is DeliveryStatus.FAILED
    if failure_reason.split("+")[0] not in ("null", "empty", "absent"):
        assert failed.failure_reason == "Re-engagement window expired"
    for message in listed:
        truth = simulator.get_message(message.message_id)
        assert message.created_at is not None
        assert abs(message.created_at.timestamp() - truth["created_at"]) < 1.0


def test_limit_is_sent_and_capped(simulator: SimulatorHandle) -> None:
    for n in range(5):
        simulator.add_message(f"+1415555{n:04d}9", status="DELIVERED")
    hook = OctopodsHook()
    assert len(hook.list_sent_messages(limit=3)) == 3
    assert len(hook.list_sent_messages(limit=250)) == 5  # capped to 100 with a warning


@pytest.mark.parametrize("empty_listing", ["error", "empty"])
@pytest.mark.parametrize("listing_shape", ["array", "object"])
def test_empty_channel(simulator: SimulatorHandle, empty_listing: str, listing_shape: str) -> None:
    simulator.set_profile(empty_listing=empty_listing, listing_shape=listing_shape)
    assert OctopodsHook().list_sent_messages() == []


@pytest.mark.parametrize("not_found", ["404", "400"])
@pytest.mark.parametrize("channel", ["whatsapp", "sms"])
def test_unknown_ids(simulator: SimulatorHandle, not_found: str, channel: str) -> None:
    simulator.set_profile(not_found=not_found)
    with pytest.raises(OctopodsNotFoundError) as caught:
        OctopodsHook().get_message_status(424242, channel)
    assert caught.value.status_code == int(not_found)


@pytest.mark.parametrize("channel", ["whatsapp", "sms"])
def test_same_key_rule(simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, channel: str) -> None:
    message_id = simulator.add_message("+14155552671", channel=channel, status="DELIVERED")
    family = "whatsapp" if channel == "whatsapp" else "channel"
    other = simulator.add_key(family)  # a valid key of another WABA / channel
    simulator.use_as_airflow_connection(monkeypatch)
    import json
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_OCTOPODS_DEFAULT"])
    conn["extra"][f"{family}_api_key"] = other
    monkeypatch.setenv("AIRFLOW_CONN_OCTOPODS_DEFAULT", json.dumps(conn))
    with pytest.raises(OctopodsNotFoundError, match="the key the message was sent with"):
        OctopodsHook().get_message_status(message_id, channel)


@pytest.mark.parametrize(("family", "channel", "code"), [("whatsapp", "whatsapp", 6), ("channel", "sms", 5)])
def test_deprecated_and_unknown_keys(
    simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, family: str, channel: str, code: int
) -> None:
    message_id = simulator.add_message("+14155552671", channel=channel, status="DELIVERED")
    simulator.rotate_key(family)  # the connection still holds the old key
    with pytest.raises(OctopodsAuthError) as caught:
        OctopodsHook().get_message_status(message_id, channel)
    assert (caught.value.status_code, caught.value.error_code) == (400, code)
    simulator.use_as_airflow_connection(monkeypatch)  # the current keys again
    assert OctopodsHook().get_message_status(message_id, channel).status is DeliveryStatus.DELIVERED
    import json
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_OCTOPODS_DEFAULT"])
    conn["extra"][f"{family}_api_key"] = "never-issued-key-000"
    monkeypatch.setenv("AIRFLOW_CONN_OCTOPODS_DEFAULT", json.dumps(conn))
    with pytest.raises(OctopodsAuthError) as caught:
        OctopodsHook().get_message_status(message_id, channel)
    assert caught.value.status_code == 401


@pytest.mark.parametrize("retry_at_format", ["iso", "epoch"])
@pytest.mark.parametrize("retry_after_format", ["seconds", "http_date"])
def test_429_retry_hints_in_every_format(
    simulator: SimulatorHandle, retry_at_format: str, retry_after_format: str
) -> None:
    simulator.set_profile(retry_at_format=retry_at_format, retry_after_format=retry_after_format)
    message_id = simulator.add_message("+14155552671", status="DELIVERED")
    simulator.set_rate_limit(1.0, burst=1)
    hook = OctopodsHook()
    for _ in range(3):  # the second and third wait out a 429
        assert hook.get_message_status(message_id).status is DeliveryStatus.DELIVERED
    assert simulator.stats(messages=False)["rate_limited"] >= 1


@pytest.mark.parametrize("sms_send_shape", ["guide", "legacy"])
def test_sends_and_their_validation_errors(simulator: SimulatorHandle, sms_send_shape: str) -> None:
    simulator.set_profile(sms_send_shape=sms_send_shape)
    hook = OctopodsHook()
    sent = hook.send_sms("+14155552671", "Your order shipped")
    assert simulator.get_message(sent.message_id)["channel"] == "sms"
    wa = hook.send_whatsapp_template(84579, "+14155552671", {"1": "Alex", "2": "#1234"})
    assert simulator.get_message(wa.message_id)["content"] == "Hi Alex, your order #1234 is on the way!"
    with pytest.raises(OctopodsApiError) as caught:
        hook.send_whatsapp_template(40001, "+14155552671", ["x"])  # a rejected template
    assert (caught.value.status_code, caught.value.error_code) == (400, 3)
    with pytest.raises(OctopodsApiError) as caught:
        hook.send_whatsapp_template(84579, "+14155552671", ["only one"])  # wrong variable count
    assert caught.value.error_code == 4
    with pytest.raises(OctopodsValidationError):
        hook.send_sms("+14155552671", "")  # refused before the simulator would answer error 2
    assert simulator.stats(messages=False)["sends_by_recipient"] == {"+14155552671": 2}


def test_test_connection_against_the_simulator(simulator: SimulatorHandle) -> None:
    ok, message = OctopodsHook().test_connection()
    assert ok, message
    assert "WhatsApp API key: works" in message
    assert "Channel API key: works" in message


def test_faults_are_survived(simulator: SimulatorHandle) -> None:
    message_id = simulator.add_message("+14155552671", status="DELIVERED")
    hook = OctopodsHook()
    for kind in ("status", "html", "malformed", "drop"):
        simulator.inject_fault(kind, count=2)
        assert hook.get_message_status(message_id).status is DeliveryStatus.DELIVERED, kind
    assert simulator.stats(messages=False)["faults_injected"] == {
        "status": 2,
        "html": 2,
        "malformed": 2,
        "drop": 2,
    }
