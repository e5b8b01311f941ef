"""Traffic from other senders on the same WhatsApp key, and messages that exist only from their created_at.

Traffic is laid out up front; the tests move through it with the admin clock. Where a test needs
exact counts at a moment, the messages sit half a spacing away from the moments it looks at, so
the few milliseconds of real time a request takes never move a message across the boundary.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from typing import Any

import pytest

from airflow_provider_octopods.simulator import OctopodsSimulator, SimulatorAdminError
from airflow_provider_octopods.simulator.rules import default_rules
from airflow_provider_octopods.simulator.state import Message, MessageStore, Mode
from airflow_provider_octopods.simulator.statuses import Channel
from airflow_provider_octopods.simulator.traffic import (
    generated_phones,
    parse_start,
    parse_traffic_option,
    rate_count,
    strictly_increasing,
)
from airflow_provider_octopods.simulator.validation import is_e164

from .conftest import WA_PHONE, Api, assert_error

DAY = 86400.0
START = 1_700_000_000.0  # a fixed moment in the past: every message is already visible


def _listed_ids(api: Api, query: str = "") -> list[int]:
    return [item["message_status"]["channel_message_id"] for item in api.listing(query).json()]


def _traffic(api: Api) -> list[dict[str, Any]]:
    return [m for m in api.admin.messages() if m["source"] == "traffic"]


# -- appearing with the clock ------------------------------------------------------------------


def test_traffic_appears_as_the_clock_advances(api: Api) -> None:
    # one message every 10 s, the first 5 s from now: message i is created at now + 5 + 10 i
    added = api.admin.add_traffic(count=30, duration=300, start="now+5")
    ids = added["message_ids"]
    assert added["count"] == 30
    assert ids == list(range(added["first_id"], added["last_id"] + 1))
    assert added["last_created_at"] - added["first_created_at"] == pytest.approx(290)
    assert added["visible"] == 0
    assert added["owner"] == api.admin.keys()[0]["owner"]
    assert_error(api.listing(), 400, 2)  # nothing created yet: the empty listing
    for seconds, visible in ((10, 1), (10, 2), (100, 12), (500, 30)):
        api.admin.advance_clock(seconds)
        assert _listed_ids(api) == ids[:visible][::-1]
    first = api.wa_status(ids[0]).json()
    assert first["status"] == "READ"  # its own progression ran from its own created_at


def test_a_message_not_created_yet_is_not_found(api: Api) -> None:
    later = api.admin.add_traffic(count=1, start="now+100")["first_id"]
    assert_error(api.wa_status(later), 404, 404, "not found")
    assert_error(api.wa_status(later, profile="not_found=400"), 400, 1)
    assert_error(api.listing(), 400, 2)
    seen = api.admin.get_message(later)  # the admin API sees what is laid out
    assert seen["visible"] is False
    assert seen["source"] == "traffic"
    assert str(later) not in api.admin.stats()["messages"]
    assert api.wa_status(later).status_code == 404  # asking does not create it
    api.admin.advance_clock(100.5)
    assert api.wa_status(later).json()["status"] == "SENT"
    assert api.admin.get_message(later)["visible"] is True
    assert _listed_ids(api) == [later]


def test_seeded_messages_with_a_future_created_at_wait_too(api: Api) -> None:
    now = api.admin.clock()["now"]
    past = api.admin.add_message(WA_PHONE, created_at=now - 3600)
    future = api.admin.add_message(WA_PHONE, created_at=now + 60)
    sent = api.sent_id(api.send_wa())
    assert api.wa_status(past).json()["status"] == "READ"
    assert api.wa_status(sent).json()["status"] == "SENT"
    assert_error(api.wa_status(future), 404, 404)
    assert _listed_ids(api) == [sent, past]
    api.admin.advance_clock(61)
    assert _listed_ids(api) == [future, sent, past]


def test_the_listing_holds_the_newest_100_at_each_moment(api: Api) -> None:
    added = api.admin.add_traffic(count=300, duration=3000, start="now+5")
    ids = added["message_ids"]
    api.admin.advance_clock(10)
    own = api.sent_id(api.send_wa())  # created between traffic messages 0 and 1
    api.admin.advance_clock(490)
    # 50 traffic messages: 49 newer than the client's own, one older
    assert _listed_ids(api) == [*ids[1:50][::-1], own, ids[0]]
    assert _listed_ids(api, "?limit=3") == ids[47:50][::-1]
    api.admin.advance_clock(700)
    listed = _listed_ids(api)
    assert listed == ids[20:120][::-1]  # 120 traffic messages: the client's own has rolled off
    assert own not in listed
    assert api.wa_status(own).status_code == 200  # still readable by id
    api.admin.advance_clock(5000)
    assert _listed_ids(api) == ids[200:][::-1]


def test_created_at_is_strictly_increasing_and_ids_follow_it(api: Api) -> None:
    bursts = [{"offset": 0, "duration": 10, "count": 50}]
    api.admin.add_traffic(count=50, duration=10, start=START, bursts=bursts)
    by_id = sorted(_traffic(api), key=lambda m: m["message_id"])
    times = [m["created_at"] for m in by_id]
    assert len(times) == 100
    # the base and the burst coincide every 0.2 s: each pair is a microsecond apart, in id order
    assert all(a < b for a, b in itertools.pairwise(times))
    assert times[:4] == [START, START + 1e-6, START + 0.2, pytest.approx(START + 0.2 + 1e-6, abs=1e-7)]


# -- layout ------------------------------------------------------------------------------------


def test_bursts_lay_out_the_right_counts_in_the_right_windows(api: Api) -> None:
    # "2,000 over a day with a burst of 400 in one hour": 1,600 evenly spread, plus 400 in hour 10
    added = api.admin.add_traffic(
        count=1600,
        duration=DAY,
        start=START,
        bursts=[{"offset": 36000, "duration": 3600, "count": 400}],
    )
    assert added["count"] == 2000
    assert "message_ids" not in added  # large batches report the id range
    assert (added["first_id"], added["last_id"]) == (100001, 102000)
    assert added["windows"] == [
        {"start": START, "end": START + DAY, "count": 1600},
        {"start": START + 36000, "end": START + 39600, "count": 400},
    ]
    hours = Counter(int((m["created_at"] - START) // 3600) for m in _traffic(api))
    assert sum(hours.values()) == 2000
    assert set(hours) == set(range(24))
    # the base is one message every 54 s: 66 or 67 an hour
    assert hours[10] - 400 in (66, 67)
    assert all(hours[h] in (66, 67) for h in range(24) if h != 10)


def test_bursts_by_rate_and_by_absolute_start(api: Api) -> None:
    added = api.admin.add_traffic(
        bursts=[
            {"start": START + 100, "duration": 600, "rate": 0.1},
            {"start": "2023-11-14T22:30:00Z", "period": 60, "count": 6},
        ]
    )
    assert [w["count"] for w in added["windows"]] == [60, 6]
    times = sorted(m["created_at"] for m in _traffic(api))
    assert times[:60] == [START + 100 + 10 * i for i in range(60)]
    assert times[60:] == [START + 1000 + 10 * i for i in range(6)]  # 22:30:00, 1,000 s after START


def test_rate_spreads_one_message_every_1_over_rate_seconds(api: Api) -> None:
    added = api.admin.add_traffic(rate=0.5, duration=60, start=START)
    times = sorted(m["created_at"] for m in _traffic(api))
    assert added["count"] == 30
    assert times == [START + 2 * i for i in range(30)]


def test_random_spacing_is_seeded(sim: OctopodsSimulator) -> None:
    layouts = []
    for _ in range(2):
        sim.admin.reset()
        sim.admin.add_traffic(count=200, duration=1000, start=START, spacing="random", seed="s1")
        layouts.append(sorted(m["created_at"] for m in sim.admin.messages()))
    assert layouts[0] == layouts[1]
    assert all(START <= t < START + 1000 for t in layouts[0])
    assert layouts[0] != [START + 5 * i for i in range(200)]
    sim.admin.add_traffic(count=200, duration=1000, start=START + 1000, spacing="random", seed="s2")
    assert len(sim.admin.messages()) == 400


def test_start_defaults_to_now_and_accepts_relative_and_iso_times(api: Api) -> None:
    now = api.admin.clock()["now"]
    assert api.admin.add_traffic(count=1)["first_created_at"] == pytest.approx(now, abs=5)
    assert api.admin.add_traffic(count=1, start="now-3600")["first_created_at"] == pytest.approx(
        now - 3600, abs=5
    )
    iso = api.admin.add_traffic(count=1, start="2023-11-14T22:13:20Z")
    assert iso["first_created_at"] == START
    assert iso["first_created_at_iso"] == "2023-11-14T22:13:20.000Z"


# -- phones, content, progression, owner -------------------------------------------------------


def test_generated_phones_are_distinct_and_follow_the_default_progression(api: Api) -> None:
    api.admin.add_traffic(count=600, duration=600, start=START)
    api.admin.add_traffic(count=10, duration=10, start=START + 600)
    traffic = _traffic(api)
    phones = [m["phone_number"] for m in traffic]
    assert len(set(phones)) == 610
    assert all(p.startswith("+1999") and is_e164(p) for p in phones)
    assert {m["rule"] for m in traffic} == {"default"}  # …0001, …0470 and the other rule numbers skipped
    assert {m["status"] for m in traffic} == {"READ"}


def test_given_phones_and_prefix(api: Api) -> None:
    api.admin.add_traffic(count=4, duration=4, start=START, phones=["+14155550470", "+14155550004"])
    phones = [m["phone_number"] for m in _traffic(api)]
    assert phones == ["+14155550470", "+14155550004"] * 2
    assert [m["status"] for m in _traffic(api)] == ["FAILED", "DELIVERED"] * 2  # given numbers meet the rules
    api.admin.add_traffic(count=2, duration=2, start=START + 10, phone_prefix="+4477")
    # 0001 and 0004 end WhatsApp rules and are skipped; 0002 and 0003 are SMS-only rules
    assert [m["phone_number"] for m in _traffic(api)][4:] == ["+44770000002", "+44770000003"]


def test_content_is_rendered_from_a_template(api: Api) -> None:
    api.admin.add_traffic(count=2, duration=2, start=START)
    api.admin.add_traffic(count=1, start=START + 10, template_id=537)
    api.admin.add_traffic(
        count=1, start=START + 20, template_id="account_update_1", message_variables=["https://x.example"]
    )
    api.admin.add_traffic(count=1, start=START + 30, content="Order 7 shipped")
    contents = [(m["template_id"], m["content"]) for m in _traffic(api)]
    assert contents == [
        (84579, "Hi traffic 1, your order traffic 1 is on the way!"),
        (84579, "Hi traffic 2, your order traffic 2 is on the way!"),
        (537, "Hello traffic 1, here is the appointment link: traffic 1 Thank you"),
        (539, "go here: https://x.example to check your updated information."),
        (None, "Order 7 shipped"),
    ]
    assert api.listing().json()[0]["message_content"] == "Order 7 shipped"


def test_progression_fields_as_for_seeded_messages(api: Api) -> None:
    now = api.admin.clock()["now"]
    fixed = api.admin.add_traffic(count=2, duration=20, start=now - 100, status="DELIVERED")
    steps = api.admin.add_traffic(
        count=2, duration=20, start="now+0.5", steps=[{"status": "SENT"}, {"status": "FAILED", "after": 5}]
    )
    default = api.admin.add_traffic(count=1, start=now - 100, phones=["+14155550470"], progression="default")
    assert {api.wa_status(i).json()["status"] for i in fixed["message_ids"]} == {"DELIVERED"}
    assert api.wa_status(default["first_id"]).json()["status"] == "READ"
    api.admin.advance_clock(1)
    assert api.wa_status(steps["first_id"]).json()["status"] == "SENT"
    api.admin.advance_clock(5)
    assert api.wa_status(steps["first_id"]).json()["status"] == "FAILED"
    assert_error(api.wa_status(steps["last_id"]), 404, 404)  # created at +10.5 s
    api.admin.advance_clock(5)
    assert api.wa_status(steps["last_id"]).json()["status"] == "SENT"  # its steps run from +10.5 s


def test_traffic_on_another_key_and_after_rotation(api: Api) -> None:
    other = api.admin.add_key("whatsapp")
    added = api.admin.add_traffic(count=3, duration=3, start=START, key=other)
    assert_error(api.listing(), 400, 2)  # not the primary key's owner
    listed = [i["message_status"]["channel_message_id"] for i in api.listing(key=other).json()]
    assert listed == added["message_ids"][::-1]
    mine = api.admin.add_traffic(count=1, start=START)["first_id"]
    new_key = api.admin.rotate_key("whatsapp")
    assert api.wa_status(mine, key=new_key).status_code == 200  # same owner after rotation
    assert_error(api.wa_status(mine, key=other), 404, 404)


def test_stats_count_traffic_apart_from_the_clients_sends(api: Api) -> None:
    api.sent_id(api.send_wa())
    api.admin.add_message(WA_PHONE, status="SENT")
    added = api.admin.add_traffic(count=10, duration=100, start="now-45")  # 5 created, 5 to come
    stats = api.admin.stats()
    assert stats["sends_by_channel"] == {"whatsapp": 1}
    assert stats["messages_by_source"] == {"api": 1, "admin": 1, "traffic": 5}
    assert stats["scheduled_by_source"] == {"traffic": 5}
    sources = Counter(m["source"] for m in stats["messages"].values())
    assert sources == {"api": 1, "admin": 1, "traffic": 5}
    assert str(added["last_id"]) not in stats["messages"]
    api.admin.reset_stats()
    api.admin.advance_clock(100)
    light = api.admin.stats(messages=False)
    assert "messages" not in light
    assert light["messages_by_source"] == {"api": 1, "admin": 1, "traffic": 10}
    assert light["scheduled_by_source"] == {}


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({}, "give count or rate"),
        ({"count": 5, "rate": 1}, "count or rate, not both"),
        ({"count": -1}, "count must be a whole number"),
        ({"count": 1.5}, "count must be a whole number"),
        ({"count": True}, "count must be a whole number"),
        ({"count": 0}, "adds no messages"),
        ({"rate": 0}, "rate must be greater than 0"),
        ({"rate": "fast"}, "rate must be a number"),
        ({"count": 5, "duration": 0}, "duration must be greater than 0"),
        ({"count": 5, "duration": 5, "period": 5}, "duration or period"),
        ({"count": 5, "start": "yesterday"}, "start must be ISO 8601"),
        ({"count": 5, "start": 1e20}, "window between 1970 and the end of 9999"),
        ({"count": 5, "duration": 1e15}, "window between 1970 and the end of 9999"),
        ({"bursts": [{"start": -5, "duration": 5, "count": 1}]}, "bursts[0].start and duration must put"),
        ({"count": 5, "bursts": {"count": 1}}, "bursts must be a list"),
        ({"bursts": [{"count": 5}]}, "bursts[0].duration (seconds) is required"),
        ({"bursts": [{"duration": 5}]}, "bursts[0].count or rate is required"),
        ({"bursts": [{"duration": 5, "count": 1, "start": "now", "offset": 1}]}, "not both"),
        ({"bursts": [{"duration": 5, "count": 1, "size": 3}]}, "bursts[0] has unknown fields: size"),
        ({"bursts": ["400"]}, "bursts[0] must be an object"),
        ({"count": 5, "phones": []}, "phones must be a non-empty list"),
        ({"count": 5, "phones": ["4155552671"]}, "E.164"),
        ({"count": 5, "phone_prefix": "1999"}, "phone_prefix must be"),
        ({"count": 5, "phone_prefix": "+1234567890"}, "phone_prefix must be"),
        ({"count": 5, "template_id": 40001}, "not Accepted and active"),
        ({"count": 5, "template_id": 1}, "does not exist"),
        ({"count": 5, "message_variables": ["just one"]}, "message_variables"),
        ({"count": 5, "key": "no-such-key"}, "no such API key"),
        ({"count": 5, "key": "sim-channel-key-7"}, "must be a WhatsApp key"),
        ({"count": 5, "key": "sim-whatsapp-key-7", "owner": "x"}, "key or owner"),
        ({"count": 5, "status": "SENT", "steps": ["SENT"]}, "at most one"),
        ({"count": 5, "status": "LOST"}, "unknown status"),
        ({"count": 5, "progression": "sometimes"}, "progression is"),
        ({"count": 5, "history": [{"status": "SENT", "at": 0}]}, "unknown traffic fields: history"),
        ({"count": 5, "channel": "sms"}, "unknown traffic fields: channel"),
        ({"count": 5, "spacing": "poisson"}, "spacing is"),
        ({"rate": 1000, "duration": 30 * DAY}, "one call adds at most 1000000"),
        ([{"count": 5}], "must be a JSON object"),
    ],
)
def test_invalid_traffic_is_a_400_that_changes_nothing(api: Api, body: object, text: str) -> None:
    response = api.session.post(api.sim.admin_url + "/traffic", json=body, timeout=10)
    assert response.status_code == 400, response.text
    assert text in response.json()["error"]
    assert api.admin.messages() == []
    assert api.sent_id(api.send_wa()) == 100001  # no id was taken


def test_client_raises_with_the_message(api: Api) -> None:
    with pytest.raises(SimulatorAdminError, match="give count or rate") as info:
        api.admin.add_traffic(duration=60)
    assert info.value.status == 400


def test_start_up_traffic_is_laid_out_again_on_reset() -> None:
    traffic: list[Any] = ["1,10,now-20", {"count": 2, "duration": 20, "start": "now+10", "status": "SENT"}]
    with OctopodsSimulator(seed=3, traffic=traffic) as sim:
        first = sim.admin.stats(messages=False)
        assert (first["messages_by_source"], first["scheduled_by_source"]) == (
            {"traffic": 10},
            {"traffic": 2},
        )
        sim.admin.advance_clock(100)
        sim.admin.add_traffic(count=1)
        sim.admin.reset()
        again = sim.admin.stats(messages=False)
        assert (again["messages_by_source"], again["scheduled_by_source"]) == (
            {"traffic": 10},
            {"traffic": 2},
        )
        assert [m["message_id"] for m in sim.admin.messages()] == list(range(100001, 100013))


def test_reset_removes_traffic(api: Api) -> None:
    api.admin.add_traffic(count=5, start="now+60")
    api.admin.reset()
    assert api.admin.messages() == []
    assert api.admin.add_traffic(count=1, start=START)["message_ids"] == [100001]
    assert api.admin.messages()[0]["phone_number"] == "+19990000002"  # the number sequence restarts


# -- pure pieces -------------------------------------------------------------------------------


def test_rate_count_ignores_float_noise() -> None:
    assert rate_count(0.1, 30) == 3
    assert rate_count(0.35, 10) == 4
    assert rate_count(2, 10) == 20
    assert rate_count(1, 0.5) == 1


def test_strictly_increasing() -> None:
    assert strictly_increasing([3.0, 1.0, 1.0, 1.0, 2.0]) == pytest.approx(
        [1.0, 1.000001, 1.000002, 2.0, 3.0]
    )
    assert strictly_increasing([1.0, 1.0000005, 1.0]) == pytest.approx([1.0, 1.000001, 1.000002])


def test_parse_start() -> None:
    assert parse_start(None, 100.0) == 100.0
    assert parse_start("now", 100.0) == 100.0
    assert parse_start("now-30", 100.0) == 70.0
    assert parse_start("NOW + 1.5", 100.0) == 101.5
    assert parse_start(5, 100.0) == 5.0
    assert parse_start("2023-11-14T22:13:20Z", 0.0) == START
    with pytest.raises(ValueError, match="start must be"):
        parse_start("soon", 0.0)


def test_generated_phones_skip_rule_numbers() -> None:
    rules = default_rules()

    def claimed(phone: str) -> bool:
        return any(rule.matches(Channel.WHATSAPP, phone) for rule in rules)

    phones, following = generated_phones("+1999", 1, 5, claimed)
    # WhatsApp rules end in 0001, 0004, 0007, 0008, 0009 and 0470; 0002 and 0003 are SMS rules
    assert phones == ["+19990000002", "+19990000003", "+19990000005", "+19990000006", "+19990000010"]
    assert following == 11
    with pytest.raises(ValueError, match="ran out"):
        generated_phones("+1999", 9_999_999, 2, claimed)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.5", {"rate": 0.5}),
        ("2,600", {"rate": 2.0, "duration": 600.0}),
        ("2,600,now-600", {"rate": 2.0, "duration": 600.0, "start": "now-600"}),
        ("1,60,1700000000", {"rate": 1.0, "duration": 60.0, "start": 1_700_000_000.0}),
        (
            "count=1600,duration=86400,start=2023-11-14T22:13:20Z,burst=400:36000:3600,burst=0.5/s:0:60",
            {
                "count": 1600,
                "duration": 86400.0,
                "start": "2023-11-14T22:13:20Z",
                "bursts": [
                    {"offset": 36000.0, "duration": 3600.0, "count": 400},
                    {"offset": 0.0, "duration": 60.0, "rate": 0.5},
                ],
            },
        ),
        (
            "1,template=537,phone_prefix=+4477,spacing=random,seed=3,progression=default,status=SENT,key=k",
            {
                "rate": 1.0,
                "template_id": "537",
                "phone_prefix": "+4477",
                "spacing": "random",
                "seed": "3",
                "progression": "default",
                "status": "SENT",
                "key": "k",
            },
        ),
        ('{"count": 3, "phones": ["+14155552671"]}', {"count": 3, "phones": ["+14155552671"]}),
    ],
)
def test_parse_traffic_option(text: str, expected: dict[str, Any]) -> None:
    assert parse_traffic_option(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast", "rate must be a number"),
        ("1,2,3,4", "at most RATE,DURATION,START"),
        ("1,,2", "empty item"),
        ("1,colour=red", "unknown item 'colour'"),
        ("count=many", "count must be a number"),
        ("1,burst=400:3600", "burst is COUNT:OFFSET:DURATION"),
    ],
)
def test_parse_traffic_option_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_traffic_option(text)


def _message(message_id: int, created_at: float, owner: str = "waba-1") -> Message:
    return Message(message_id, Channel.WHATSAPP, owner, WA_PHONE, "", created_at, "wamid.x", Mode.FIXED)


def test_store_keeps_each_owner_sorted_by_created_at_then_id() -> None:
    store = MessageStore(1)
    shuffled = [_message(i, float(t)) for i, t in enumerate([5, 1, 3, 3, 9, 0, 7], start=1)]
    random.Random(1).shuffle(shuffled)
    for message in shuffled[:4]:
        store.add(message)
    store.add_many(sorted(shuffled[4:], key=lambda m: (m.created_at, m.message_id)))
    store.add(_message(8, 4.0, owner="waba-2"))
    newest = store.newest("waba-1", Channel.WHATSAPP, 100, now=100.0)
    assert [(m.created_at, m.message_id) for m in newest] == [
        (9.0, 5),
        (7.0, 7),
        (5.0, 1),
        (3.0, 4),
        (3.0, 3),
        (1.0, 2),
        (0.0, 6),
    ]
    assert [m.message_id for m in store.newest("waba-1", Channel.WHATSAPP, 2, now=5.0)] == [1, 4]
    assert store.newest("waba-1", Channel.WHATSAPP, 2, now=-1.0) == []
    assert [m.message_id for m in store.newest("waba-1", Channel.WHATSAPP, 100, now=3.0)] == [4, 3, 2, 6]
    assert store.find(5, Channel.WHATSAPP, "waba-1", now=8.9) is None
    assert store.find(5, Channel.WHATSAPP, "waba-1", now=9.0) is not None
    assert store.find(8, Channel.WHATSAPP, "waba-1", now=9.0) is None
