"""Pure pieces: validation rules, timestamps, profile parsing, token buckets, template checks."""

from __future__ import annotations

import pytest

from airflow_provider_octopods.simulator.clock import (
    Clock,
    format_timestamp,
    format_timestamp_ceil,
    parse_timestamp,
)
from airflow_provider_octopods.simulator.config import SimulatorConfig
from airflow_provider_octopods.simulator.errors import ApiError
from airflow_provider_octopods.simulator.profiles import Profile, parse_profile_text
from airflow_provider_octopods.simulator.ratelimit import RateLimit, RateLimiter
from airflow_provider_octopods.simulator.rules import RecipientRule, Step, Timing, steps_for
from airflow_provider_octopods.simulator.statuses import Channel, Status
from airflow_provider_octopods.simulator.templates import Template, lang_matches, resolve_variables
from airflow_provider_octopods.simulator.validation import is_e164, parse_boolish, parse_limit


@pytest.mark.parametrize(
    ("phone", "valid"),
    [
        ("+14155552671", True),
        ("+353838000000", True),
        ("+1234567", True),
        ("+123456", False),
        ("+1234567890123456", False),
        ("+0123456789", False),
        ("14155552671", False),
        ("+1415555267a", False),
    ],
)
def test_e164(phone: str, valid: bool) -> None:
    assert is_e164(phone) is valid


def test_boolish() -> None:
    assert [parse_boolish(v) for v in (True, "YES", " on ", 1, "0", "off", False)] == [
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    bad: object
    for bad in ("2", 2, None, "y", []):
        with pytest.raises(ValueError):
            parse_boolish(bad)


def test_limit() -> None:
    assert parse_limit(None) == 100
    assert parse_limit("25") == 25
    assert parse_limit("100") == 100
    assert parse_limit("101") == 100
    for bad in ("0", "-5", "x", "", "1e3"):
        with pytest.raises(ValueError):
            parse_limit(bad)


def test_timestamps() -> None:
    assert format_timestamp(1777034096.9, millis=False) == "2026-04-24T12:34:56Z"
    assert format_timestamp(1777034096.9, millis=True) == "2026-04-24T12:34:56.900Z"
    assert format_timestamp_ceil(1777034096.1, millis=False) == "2026-04-24T12:34:57Z"
    assert format_timestamp_ceil(1777034096.0, millis=False) == "2026-04-24T12:34:56Z"
    assert parse_timestamp("2026-04-24T12:34:56Z") == 1777034096.0
    assert parse_timestamp("2026-04-24T14:34:56.500+02:00") == 1777034096.5
    assert parse_timestamp("2026-04-24T12:34:56") == 1777034096.0
    assert parse_timestamp(5) == 5.0
    with pytest.raises(ValueError):
        parse_timestamp(True)


def test_clock_only_moves_forward() -> None:
    clock = Clock()
    before = clock.now()
    assert clock.advance(100) >= before + 100
    with pytest.raises(ValueError):
        clock.advance(-1)
    clock.reset()
    assert clock.offset == 0


def test_profile_parsing() -> None:
    assert parse_profile_text("a=1, b = 2;c=3") == {"a": "1", "b": "2", "c": "3"}
    profile = Profile().with_options(
        {"preset": "reference", "status_case": "upper", "failure_reason": "null+object"}
    )
    assert (profile.status_shape, profile.listing_shape, profile.status_case) == (
        "reference",
        "object",
        "upper",
    )
    assert profile.failure_reason == "object+null"
    assert (profile.failure_form, profile.no_failure_form) == ("object", "null")
    with pytest.raises(ValueError):
        Profile(status_shape="fancy")
    with pytest.raises(ValueError):
        Profile().with_options({"failure_reason": "doc+null"})


def test_token_bucket() -> None:
    limiter = RateLimiter(RateLimit.of(2, 2))
    assert [limiter.check("k", 100.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]
    assert limiter.check("k", 100.25) == pytest.approx(0.25)
    assert limiter.check("k", 100.5) == 0.0
    assert limiter.check("other", 100.5) == 0.0
    assert RateLimit.of(2.5).burst == 3
    with pytest.raises(ValueError):
        RateLimit(0, 1)


def test_timing_resolution_and_rules() -> None:
    timing = Timing(deliver_after=2, read_after=None, unknown_window=7)
    assert timing.resolve("deliver") == 2
    assert timing.resolve("read") is None
    assert timing.resolve("unknown") == 7
    assert timing.resolve(1.5) == 1.5
    rule = RecipientRule.from_dict(
        {"suffix": "42", "channel": "sms", "steps": ["SENT", {"status": "FAILED", "after": "queue"}]}
    )
    steps, name = steps_for([rule], Channel.SMS, "+15550000042")
    assert name == "*42"
    assert steps[1] == Step(Status.FAILED, "queue")
    assert steps_for([rule], Channel.WHATSAPP, "+15550000042")[1] == "default"
    with pytest.raises(ValueError):
        RecipientRule.from_dict({"steps": ["SENT"]})
    with pytest.raises(ValueError):
        Step.from_value({"status": "SENT", "after": "later"})


def test_template_counts_and_variables() -> None:
    template = Template(1, "t_v1", "A {{1}} {{2}}", header_format="TEXT", header_text="H {{1}}", footer="F")
    assert template.counts == {"header": 1, "body": 2, "footer": 0, "buttons": 0}
    assert resolve_variables(template, {"header": ["h"], "body": ["a", 2]}, True)["body"] == ["a", "2"]
    with pytest.raises(ApiError) as info:
        resolve_variables(template, ["a", "b"], True)
    assert info.value.error_code == 9
    assert lang_matches("en_US", "en")
    assert lang_matches("en", "en")
    assert not lang_matches("en_US", "en_GB")
    assert lang_matches("zh_CN", "zh")
    assert not lang_matches("es", "en")


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        SimulatorConfig(jitter=1.5)
    with pytest.raises(ValueError):
        SimulatorConfig(deliver_after=-1)
    with pytest.raises(ValueError):
        SimulatorConfig(faults=["explode"])
    assert SimulatorConfig(read_after=-1).read_after is None
    assert SimulatorConfig(rate_limit=0).rate() is None
    assert (
        SimulatorConfig(templates=[{"template_id": 3, "name": "x_v1", "body": "b"}])
        .initial_templates()[0]
        .name
        == "x_v1"
    )
