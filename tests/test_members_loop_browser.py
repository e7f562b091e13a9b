"""Members in the loop in headless Chromium (Debian's, through Playwright) on the synthetic
organisation: the manager picks an experiment's participant by searching, a member opens their
community's work from their journey, asks to join and suggests an opportunity, and the manager sees
both. Screenshots go to the test's folder (or ``COVALUE_SCREENSHOTS``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from covalue import journey
from covalue.testing import live_server, synthetic_site

pytestmark = pytest.mark.browser
PASSWORD = "browser test password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    import covalue
    from covalue.store import Store
    from covalue.store import accounts as acc
    from covalue.web.app import create_app

    path = synthetic_site(tmp_path_factory.mktemp("loop-browser") / "ws", "lead@example.org", PASSWORD)
    ws = covalue.open(path)
    ms = journey.derived(ws, "member_stages")
    mid = (
        ms.filter((ms.community_id == "healthy") & (ms.stage == "solve"))
        .order_by("member_id")
        .select("member_id")
        .limit(1)
        .to_pyarrow()
        .to_pylist()[0]["member_id"]
    )
    ws.close()
    st = Store.open(path)
    with st.session() as db:
        acc.add_user(
            db, "member@example.org", "member", community="healthy", password=PASSWORD, member_id=mid
        )
    st.dispose()
    with live_server(create_app(path)) as base:
        yield base, mid


def _sign_in(page: Any, base: str, email: str) -> None:
    page.context.clear_cookies()
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_member_joins_and_suggests_the_manager_sees_it(
    server: tuple[str, str], browser: Any, shots: Path
) -> None:
    base, mid = server
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    _sign_in(page, base, "lead@example.org")
    page.goto(base + "/c/healthy/experiments")
    page.fill("#x-title", "Friday office hours")
    # a participant is found by typing part of their label, not by Ctrl-clicking a long list
    page.fill("#x-people-search", mid[2:8])
    page.wait_for_selector("#x-people-hits button.pick")
    page.click("#x-people-hits button.pick >> nth=0")
    chosen = page.eval_on_selector_all("#x-people option:checked", "os => os.map(o => o.value)")
    assert chosen == [mid]
    page.screenshot(path=str(shots / "loop-1-participant-picked.png"), full_page=True)
    page.click("#new-experiment button[type=submit]")
    page.wait_for_url("**/experiments#exp-*")

    _sign_in(page, base, "member@example.org")
    page.goto(base + "/me")
    assert page.locator("ul.evidence-items li").count() > 0  # the items behind the stage
    page.click("a[href='/me/c/healthy']")
    page.wait_for_url(base + "/me/c/healthy")
    assert "Friday office hours" in page.inner_text("#experiments")
    # already on the list through the manager: no button; so the member suggests an opportunity
    assert "You take part" in page.inner_text("#experiments")
    page.fill("#op-text", "A monthly show-and-tell of dashboards")
    page.click("#suggest button[type=submit]")
    page.wait_for_url("**/me/c/healthy?notice=suggested")
    assert "with the community team" in page.inner_text("main")
    page.screenshot(path=str(shots / "loop-2-member-work.png"), full_page=True)

    _sign_in(page, base, "lead@example.org")
    page.goto(base + "/c/healthy/canvas")
    assert "A monthly show-and-tell of dashboards" in page.inner_text("#member-suggestions")
    assert not errors, errors
