"""The web app in headless Chromium (Debian's, through Playwright): sign in, upload the houstondatavis
Slack export, watch the progress bar finish, read the verdict and the stage mix, sign out.

Screenshots go to the test's temporary folder (or ``COVALUE_SCREENSHOTS`` when set, to look at them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import covalue
from covalue.store import Store
from covalue.store import accounts as acc
from covalue.testing import live_server

pytestmark = pytest.mark.browser
PASSWORD = "browser test password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on an empty workspace with one admin, served by uvicorn in a thread."""
    from covalue.web.app import create_app

    path = tmp_path_factory.mktemp("browser") / "ws"
    covalue.init(path).close()
    store = Store.open(path)
    with store.session() as db:
        acc.add_user(db, "lead@example.org", "admin", password=PASSWORD)
    store.dispose()
    with live_server(create_app(path)) as base:
        yield base


def test_sign_in_upload_watch_progress_see_verdict_sign_out(
    server: str, browser: object, shared_data: Path, shots: Path
) -> None:
    export = shared_data / "slack" / "houstondatavis-slack-export.zip"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(server + "/")
    assert page.url.endswith("/login?next=%2F") or "/login" in page.url
    page.fill("input[name=email]", "lead@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.screenshot(path=str(shots / "1-sign-in.png"))
    page.click("button[type=submit]")
    page.wait_for_url(server + "/")
    assert "no community data yet" in page.inner_text("main")
    page.screenshot(path=str(shots / "2-empty-portfolio.png"))

    page.click("nav.main >> text=Data")
    page.wait_for_url(server + "/data")
    page.set_input_files("input[type=file]", str(export))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/data/jobs/*")
    bar = page.locator("#job-progress")
    assert bar.count() == 1
    seen = {int(bar.get_attribute("value") or 0)}
    page.screenshot(path=str(shots / "3-progress.png"))
    deadline = time.monotonic() + 120
    while page.locator(".verdict").count() == 0:
        assert time.monotonic() < deadline, "the upload did not finish"
        if page.locator("#job-progress").count():
            seen.add(int(page.locator("#job-progress").get_attribute("value") or 0))
        time.sleep(0.2)
    page.wait_for_selector(".chart[data-rendered='1']", timeout=30_000)
    assert int(page.locator("#job-progress").get_attribute("value")) == 100
    assert max(seen) <= 100 and min(seen) < 100  # the bar was seen before the end
    assert page.inner_text("#job-state") == "Finished"
    assert page.inner_text("#job-rejects") == "0"
    verdict = page.inner_text(".verdict")
    assert "houstondatavis" in verdict and "did something the others could see" in verdict
    mix = page.locator("figure.chart-box").first
    assert "Of 20 members who did something others could see" in mix.inner_text()
    assert page.locator("#chart-houstondatavis-mix-now .main-svg").count() >= 1
    page.screenshot(path=str(shots / "4-done.png"), full_page=True)

    page.click("text=Open houstondatavis")
    page.wait_for_url(server + "/c/houstondatavis")
    page.wait_for_selector(".chart[data-rendered='1']")
    assert page.locator("#verdict").inner_text() == verdict
    page.screenshot(path=str(shots / "5-overview.png"), full_page=True)
    for tab in ("Journey", "Health", "People", "Content"):
        page.click(f"nav.tabs >> text={tab}")
        page.wait_for_load_state("load")
        assert page.locator("nav.tabs a[aria-current=page]").inner_text() == tab
        if page.locator(".chart").count():
            page.wait_for_selector(".chart[data-rendered='1']")
        page.screenshot(path=str(shots / f"6-{tab.lower()}.png"), full_page=True)

    page.click("text=Sign out")
    page.wait_for_url("**/login")
    assert page.locator("input[name=password]").count() == 1
    page.goto(server + "/c/houstondatavis")
    assert "/login" in page.url  # signed out for real
    assert not errors, errors
    page.close()
