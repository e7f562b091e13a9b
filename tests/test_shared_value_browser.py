"""The Shared Value canvas in headless Chromium (Debian's, through Playwright): a manager opens a survey,
three anonymous members answer through the token link, the manager adds two organisation goals,
confirms a suggested match, records a decision, and finds it in `covalue report`.

Screenshots go to the test's temporary folder (or ``COVALUE_SCREENSHOTS`` when set, to look at them).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import covalue
from covalue.testing import live_server, synthetic_site

pytestmark = pytest.mark.browser
PASSWORD = "browser test password"
ANSWERS = [
    ("Worked examples of data pipelines we can reuse in the field", "Nobody answers my questions", "2"),
    ("Meet other analysts who build dashboards for customers", "", "3"),
    ("Examples of data pipelines and code reviews from experienced peers", "I work alone", ""),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """The app on the synthetic organisation, with a manager of ``healthy``, served by uvicorn."""
    from covalue.web.app import create_app

    path = synthetic_site(tmp_path_factory.mktemp("svb") / "ws", "manager@example.org", PASSWORD)
    app = create_app(path)
    with live_server(app) as base:
        yield base, app


def test_survey_goals_match_decision_report(
    served: tuple[str, object], browser: object, shots: Path, tmp_path: Path
) -> None:
    server, app = served
    manager = browser.new_context(viewport={"width": 1280, "height": 900})
    page = manager.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(server + "/login")
    page.fill("input[name=email]", "manager@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server + "/")
    page.goto(server + "/c/healthy")
    page.click("nav.tabs >> text=Shared value")
    page.wait_for_url(server + "/c/healthy/shared-value")
    assert "Collect member needs" in page.inner_text("#sv-advice")

    # 1. open a survey and read its link
    page.fill("#sv-survey-form input[name=title]", "What do you need from the healthy community?")
    page.click("#sv-survey-form button[type=submit]")
    page.wait_for_url("**/shared-value#sv-surveys")
    link = page.inner_text(".sv-survey .sv-link").strip()
    assert re.fullmatch(re.escape(server) + r"/s/[A-Za-z0-9_-]{40,}", link)
    page.screenshot(path=str(shots / "sv-1-survey-open.png"), full_page=True)

    # 2. three anonymous members answer (each in a fresh browser context: no cookies, no account)
    for i, (need, challenge, rating) in enumerate(ANSWERS):
        member = browser.new_context()
        p = member.new_page()
        p.goto(link)
        assert p.locator("nav.main").count() == 0  # nothing of the app is reachable from here
        p.fill("textarea[name=need]", need)
        if challenge:
            p.fill("textarea[name=challenges]", challenge)
        if rating:
            p.select_option("select[name=rating]", rating)
        if i == 0:
            p.screenshot(path=str(shots / "sv-2-member-form.png"), full_page=True)
        p.click("#sv-answer button[type=submit]")
        p.wait_for_selector("#sv-thanks")
        p.goto(server + "/c/healthy/shared-value")
        assert "/login" in p.url  # the survey visitor cannot read the canvas
        member.close()

    # 3. two organisation goals
    page.reload()
    assert page.locator(".sv-survey b").first.inner_text() == "3"
    goals = [
        ("Field engineers adopt the standard data pipelines", "adoption", "effectiveness"),
        ("Analysts in different regions stop working in isolation", "isolation", "velocity"),
    ]
    for text, kind, driver in goals:
        page.fill("#sv-goal-form textarea[name=text]", text)
        page.select_option("#sv-goal-form select[name=kind]", kind)
        page.select_option("#sv-goal-form select[name=driver]", driver)
        page.click("#sv-goal-form button[type=submit]")
        page.wait_for_load_state("load")
    assert page.locator("#sv-org-only li").count() == 2
    page.screenshot(path=str(shots / "sv-3-goals.png"), full_page=True)

    # 4. confirm the suggested match of the pipelines need with the pipelines goal
    row = page.locator("tr.sv-suggestion", has_text="Worked examples of data pipelines").filter(
        has_text="standard data pipelines"
    )
    assert "pipelines" in row.locator("td").nth(3).inner_text()
    row.locator("button[value=confirmed]").click()
    page.wait_for_load_state("load")
    sweet = page.inner_text("#sv-sweet-spot")
    assert "Field engineers adopt the standard data pipelines" in sweet and "Worked examples" in sweet
    # one of three voices in the sweet spot: a small overlap, and the two paths are offered
    assert "overlap is small" in page.inner_text("#sv-advice")
    assert "Shift the purpose" in page.inner_text("#sv-decide") and "Realign membership" in page.inner_text(
        "#sv-decide"
    )
    page.screenshot(path=str(shots / "sv-4-matched.png"), full_page=True)

    # 5. record the decision
    page.select_option("#sv-decision-form select[name=path]", "realign_membership")
    page.fill(
        "#sv-decision-form textarea[name=rationale]", "Invite field engineers; the sponsor keeps the goal."
    )
    page.click("#sv-decision-form button[type=submit]")
    page.wait_for_load_state("load")
    decision = page.inner_text("#sv-decision")
    assert "Realign membership" in decision and "manager@example.org" in decision
    page.screenshot(path=str(shots / "sv-5-decision.png"), full_page=True)
    assert not errors, errors
    manager.close()

    # 6. the decision is in `covalue report` (built on a consistent copy of the served workspace)
    from covalue.canvas import shared_value_export  # noqa: F401  (registers the report section)
    from covalue.report.build import build

    site = app.state.site
    copy = tmp_path / "ws"
    with site.lock:
        site.ws.raw.execute("CHECKPOINT")
        shutil.copytree(site.ws_path, copy, ignore=shutil.ignore_patterns("store.sqlite*"))
    with site.store.engine.connect() as con:
        con.exec_driver_sql(f"VACUUM INTO '{copy / 'store.sqlite'}'")
    ws = covalue.open(copy)
    try:
        out = build(ws, tmp_path / "report.html", community="healthy")
    finally:
        ws.close()
    report = browser.new_page(viewport={"width": 1280, "height": 900})
    report.goto(out.path.as_uri())
    section = report.locator("#c-healthy-shared-value")
    assert section.count() == 1
    text = section.inner_text()
    assert "Invite field engineers; the sponsor keeps the goal." in text and "Realign membership" in text
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(shots / "sv-6-report.png"))
    report.close()
