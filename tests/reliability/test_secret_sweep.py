"""The suite-wide secret sweep itself: a test that leaks a key anywhere must fail."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

#: A key only the inner run knows, so this test's own sweep does not flag the inner run's report.
INNER_KEY = "inner-sweep-key-5d0c9a"

CONFTEST = f'''
import tests.conftest as base
from tests.conftest import *  # noqa: F403
from tests.conftest import secret_sweep  # noqa: F401

base.TEST_KEYS = ("{INNER_KEY}",)
'''

LEAKY_TESTS = f'''
import logging
from airflow_provider_octopods.exceptions import OctopodsError

WHATSAPP_KEY = "{INNER_KEY}"

def test_logs_a_key():
    logging.getLogger("leaky").warning("using key %s", WHATSAPP_KEY)

def test_prints_a_key():
    print("key:", WHATSAPP_KEY)

def test_raises_with_a_key_and_catches_it():
    try:
        raise OctopodsError("bad key " + WHATSAPP_KEY)
    except OctopodsError:
        pass

def test_writes_a_key(tmp_path):
    (tmp_path / "export.jsonl").write_text(WHATSAPP_KEY)

def test_clean(tmp_path):
    (tmp_path / "export.jsonl").write_text("no secrets here")
    logging.getLogger("clean").warning("nothing to see")
'''


@pytest.mark.slow
def test_every_leak_is_caught(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-q",
        f"--rootdir={pytester.path}",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    result.assert_outcomes(passed=5, errors=4)
    output = result.stdout.str()
    for where in ("log records", "captured output", "exception texts", "file export.jsonl"):
        assert re.search(rf"an API key leaked into: [^\n]*{where}", output), where


@pytest.fixture(autouse=True)
def _importable_tests_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}{':' + sys.path[0] if sys.path else ''}")
