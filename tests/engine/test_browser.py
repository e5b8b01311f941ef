"""The Octopods connection form in Airflow 3's UI, in a real (headless) Chromium.

Airflow 3 builds its connection form only from the provider metadata (``conn-fields`` and
``ui-field-behaviour`` in ``get_provider_info``). This test signs in to the api-server started for
the real-engine test, opens Admin > Connections > Add Connection, picks the "Octopods" type and
checks the relabelled host ("Base URL", with its placeholder) and both key fields (password inputs),
fills them in, saves, and reads the connection back through the REST API: the keys are stored under
their plain names. Screenshots go to ``artifacts/browser/``:

- ``connection-form-standard-fields.png``: the form with the "Standard Fields" section open (Base URL);
- ``connection-form-extra-fields.png``: the "Extra Fields" section open (the two API keys, ...);
- ``connection-form.png``: both side by side (the form's sections open one at a time).

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright; Playwright's own browser
download is never used.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.engine.airflow_engine import airflow_major, log

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

    from tests.engine.airflow_engine import AirflowEngine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.engine,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        airflow_major() < 3,
        reason="Airflow 2's connection form is a Flask-AppBuilder page built from the hook's form "
        "widgets; the browser check covers Airflow 3's UI, built from conn-fields",
    ),
]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CONN_ID = "octopods_ui_check"
WHATSAPP_VALUE = "ui-whatsapp-key-0001"
CHANNEL_VALUE = "ui-channel-key-0001"


@pytest.fixture(scope="module")
def chromium(system_packages: None) -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.skip(
            "Debian's chromium is missing and scripts/engine/ensure-system-packages.sh could not install it"
        )
    return path


def field(dialog: Locator, label: str) -> Locator:
    """The input of the field labelled ``label`` (the UI does not tie every label to its input)."""
    group = dialog.get_by_role("group").filter(has=dialog.page.locator("label", has_text=label))
    return group.locator("input, textarea").first


def test_octopods_connection_form(airflow_engine: AirflowEngine, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    engine = airflow_engine
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    standard_png = SCREENSHOTS / "connection-form-standard-fields.png"
    extra_png = SCREENSHOTS / "connection-form-extra-fields.png"
    combined_png = SCREENSHOTS / "connection-form.png"
    for stale in SCREENSHOTS.glob("*.png"):
        stale.unlink()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.set_default_timeout(60_000)
        try:
            log(f"Chromium {browser.version}: signing in to {engine.base_url}")
            page.goto(f"{engine.base_url}/connections")
            page.get_by_label("Username").fill(engine.ADMIN)
            page.get_by_label("Password").fill(engine.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/connections")

            page.get_by_role("button", name="Add Connection").click()
            dialog = page.get_by_role("dialog")
            expect(dialog.get_by_role("heading", name="Add Connection")).to_be_visible()
            dialog.get_by_label("Connection ID").fill(CONN_ID)
            conn_type = dialog.get_by_role("combobox", name="Connection Type")
            conn_type.click()
            conn_type.fill("Octopods")
            page.get_by_role("option", name="Octopods", exact=True).click()

            # "Standard Fields": the host, relabelled "Base URL", with the provider's placeholder.
            expect(dialog.locator("label", has_text="Base URL")).to_be_visible()
            base_url = field(dialog, "Base URL")
            expect(base_url).to_have_attribute("placeholder", "https://app.octopods.io")
            for hidden in ("Login", "Password", "Port", "Schema"):
                expect(dialog.locator("label", has_text=re.compile(rf"^\s*{hidden}\s*$"))).to_have_count(0)
            base_url.fill("https://app.octopods.io")
            _settle(page)
            page.screenshot(path=str(standard_png), full_page=True)

            # "Extra Fields": the two keys, as password inputs, and the client settings.
            dialog.get_by_role("button", name="Extra Fields", exact=True).click()
            for label in ("WhatsApp API key", "Channel API key", "Request timeout (seconds)", "Max retries"):
                expect(dialog.locator("label", has_text=label)).to_be_visible()
            whatsapp = field(dialog, "WhatsApp API key")
            channel = field(dialog, "Channel API key")
            expect(whatsapp).to_have_attribute("type", "password")
            expect(channel).to_have_attribute("type", "password")
            whatsapp.fill(WHATSAPP_VALUE)
            channel.fill(CHANNEL_VALUE)
            _settle(page)
            page.screenshot(path=str(extra_png), full_page=True)
            log("the form shows: Base URL, WhatsApp API key, Channel API key (password inputs)")

            panels = [("Standard Fields", standard_png), ("Extra Fields", extra_png)]
            _side_by_side(browser, panels, combined_png)

            dialog.get_by_role("button", name="Save").click()
            expect(page.get_by_role("dialog")).to_have_count(0)
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "failure.png"), full_page=True)
            log(f"browser check failed; page {page.url}; screenshot {SCREENSHOTS / 'failure.png'}")
            raise
        finally:
            browser.close()

    # What the form saved: the host as typed, the keys under their plain names in extra.
    saved = engine.get(f"/connections/{CONN_ID}")
    try:
        assert saved["conn_type"] == "octopods"
        assert saved["host"] == "https://app.octopods.io"
        extra = json.loads(saved["extra"] or "{}")
        assert set(extra) >= {"whatsapp_api_key", "channel_api_key"}, extra
        # The REST API masks the keys (their names contain "api_key"); never echoes them.
        assert WHATSAPP_VALUE not in json.dumps(saved)
        assert CHANNEL_VALUE not in json.dumps(saved)
        # The values themselves, as a task would read them (the CLI does not mask).
        [stored] = json.loads(engine.airflow_cli("connections", "get", CONN_ID, "-o", "json"))
        assert stored["extra_dejson"]["whatsapp_api_key"] == WHATSAPP_VALUE
        assert stored["extra_dejson"]["channel_api_key"] == CHANNEL_VALUE
        log(f"saved connection {CONN_ID}: conn_type={saved['conn_type']} host={saved['host']} extra={extra}")
    finally:
        engine.request("DELETE", f"/connections/{CONN_ID}")
    log(f"screenshots: {combined_png}, {standard_png.name}, {extra_png.name}")


def _settle(page: Page) -> None:
    """Let the accordion animation finish before a screenshot."""
    page.wait_for_timeout(600)


def _side_by_side(browser: Browser, panels: list[tuple[str, Path]], target: Path) -> None:
    """One PNG with the screenshots next to each other, rendered by the same browser."""
    cells = "".join(
        f"<figure><figcaption>{caption}</figcaption>"
        f'<img src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"></figure>'
        for caption, path in panels
    )
    composer = browser.new_page()
    composer.set_viewport_size({"width": 1320 * len(panels), "height": 1200})
    composer.set_content(
        "<html><head><style>body{margin:0;display:flex;gap:20px;background:#dde;font:20px sans-serif}"
        "figure{margin:10px} img{display:block;border:1px solid #889}</style></head>"
        f"<body>{cells}</body></html>"
    )
    composer.screenshot(path=str(target), full_page=True)
    composer.close()
