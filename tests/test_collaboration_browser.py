"""The coaching loop in headless Chromium (Debian's, through Playwright) on the synthetic organisation:
fill the Collaboration canvas, start an experiment with members, complete it, write a story linked to
it, re-run the analysis, see the participants at Innovate and the story in the report.

Screenshots go to the test's temporary folder (or ``COVALUE_SCREENSHOTS`` when set, to look at them).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from covalue.testing import live_server, synthetic_site

pytestmark = pytest.mark.browser
PASSWORD = "browser test password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The app on the analysed synthetic organisation with one manager of ``healthy``, served by
    uvicorn in a thread (as in test_web_browser.py); yields the base URL and the app."""

    from covalue.web.app import create_app

    path = synthetic_site(tmp_path_factory.mktemp("collab-browser") / "ws", "lead@example.org", PASSWORD)
    app = create_app(path)
    with live_server(app) as base:
        yield base, app


def test_canvas_experiment_story_reanalysis_report(
    server: tuple[str, Any], browser: Any, shots: Path, tmp_path: Path
) -> None:
    base, app = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(base + "/login")
    page.fill("input[name=email]", "lead@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/**")

    # 1. the canvas: a strategic goal, a community goal serving it, an opportunity, a confirmed champion
    page.goto(base + "/c/healthy")
    page.click("nav.tabs >> text=Canvas")
    page.wait_for_url(base + "/c/healthy/canvas")
    assert page.locator("nav.tabs a[aria-current=page]").inner_text() == "Canvas"
    goals = page.locator("#goals")
    assert goals.locator(".cc-questions li").count() >= 1  # coaching questions for this stage and shape
    assert "members took part" in goals.locator(".cc-evidence").inner_text()
    goals.locator("select[name=kind]").select_option("strategic")
    goals.locator("textarea[name=text]").last.fill("Cut the time new hires need to become productive")
    goals.locator("form.cc-add button[type=submit]").click()
    page.wait_for_url("**/canvas?period=*")
    goals = page.locator("#goals")
    goals.locator("form.cc-add select[name=kind]").select_option("goal")
    goals.locator("form.cc-add textarea[name=text]").fill("Every newcomer gets a first answer within a day")
    goals.locator("form.cc-add select[name=link]").select_option(
        label="Cut the time new hires need to become productive"
    )
    goals.locator("form.cc-add button[type=submit]").click()
    page.wait_for_url("**/canvas?period=*")
    goal_entry = page.locator("#goals .cc-entry[data-kind=goal]")
    assert goal_entry.count() == 1
    assert "Cut the time" in goal_entry.locator("select[name=link] option:checked").inner_text()
    opp = page.locator("#opportunities form.cc-add")
    opp.locator("textarea[name=text]").fill(
        "Pair each newcomer with a buddy who answers their first questions"
    )
    opp.locator("button[type=submit]").click()
    page.wait_for_url("**/canvas?period=*")
    roles = page.locator("#roles")
    roles.locator(".suggestion button").first.click()
    page.wait_for_url("**/canvas?period=*")
    assert page.locator("#roles .cc-entry[data-kind=leader]").count() == 1
    assert "confirmed" in page.locator("#roles .cc-entry[data-kind=leader]").inner_text()
    page.screenshot(path=str(shots / "cc-1-canvas.png"), full_page=True)

    # 2. an experiment with three members now at Solve
    page.click("nav.cc-sub >> text=Experiments")
    page.wait_for_url(base + "/c/healthy/experiments")
    page.fill("#x-title", "Buddies for newcomers")
    page.fill("#x-hyp", "a buddy gets newcomers to their first answer within a day")
    page.select_option("#x-target", "solve")
    page.select_option("#x-entry", label="Pair each newcomer with a buddy who answers their first questions")
    # a new experiment starts today; this one is logged for the month the data covers, in one space
    assert page.input_value("#x-start") == date.today().isoformat()
    page.fill("#x-start", "2025-12-01")
    page.fill("#x-end", "2025-12-31")
    page.select_option("#x-space", label="questions (forum)")
    page.fill("#x-measures", "time to first response for newcomers")
    solvers = page.eval_on_selector_all(
        "#x-people option",
        "os => os.filter(o => o.textContent.trim().endsWith('Solve')).slice(0, 3).map(o => o.value)",
    )
    assert len(solvers) == 3
    page.select_option("#x-people", solvers)
    page.screenshot(path=str(shots / "cc-2-new-experiment.png"), full_page=True)
    page.click("#new-experiment button[type=submit]")
    page.wait_for_url("**/experiments#exp-*")
    card = page.locator("article.cc-card").first
    assert "running" in card.locator(".cc-status").inner_text()
    assert sorted(
        card.locator(".participants li").evaluate_all("ls => ls.map(l => l.dataset.member)")
    ) == sorted(solvers)
    assert card.locator(".stage-now").all_inner_texts() == ["Solve"] * 3
    assert "questions" in card.locator(".exp-space").inner_text()
    took = card.locator(".participants li").evaluate_all("ls => ls.map(l => l.dataset.tookPart)")
    assert len(took) == 3 and set(took) <= {"contributed", "listed"}
    assert card.locator(".took-part").all_inner_texts() == took  # said in words next to the stage

    # 3. complete it with its outcome
    card.locator("textarea[name=outcome]").fill("9 of 10 newcomers had an answer within a day")
    card.locator("textarea[name=lesson]").fill("buddies need a short guide")
    card.locator("button[value=complete]").click()
    page.wait_for_url("**/experiments#exp-*")
    card = page.locator("article.cc-card").first
    assert "completed" in card.locator(".cc-status").inner_text()

    # 4. its value story
    card.locator("text=Write its value story").click()
    page.wait_for_url("**/stories?experiment=*")
    assert page.locator("#s-exp option:checked").inner_text() == "Buddies for newcomers"
    page.fill("#s-title", "Buddies cut the first wait")
    page.fill("#s-immediate", "newcomers got answers on their first day")
    page.fill("#s-applied", "two teams made the buddy guide part of onboarding")
    page.select_option("#s-goal", label="Every newcomer gets a first answer within a day")
    page.click("#new-story button[type=submit]")
    page.wait_for_url("**/stories#story-*")
    story = page.locator("article.story").first
    assert "Buddies cut the first wait" in story.inner_text()
    assert "from the experiment “Buddies for newcomers”" in story.inner_text()
    row = page.locator("table.matrix tbody tr").first
    assert row.locator("td.hit").count() == 2  # immediate and applied
    page.screenshot(path=str(shots / "cc-3-stories.png"), full_page=True)

    # 5. re-run the analysis: the participants are at Innovate now
    page.click("nav.cc-sub >> text=Experiments")
    page.click("#rerun")
    page.wait_for_url("**/experiments?analysed=1", timeout=120_000)
    assert page.locator("#analysed").count() == 1
    card = page.locator("article.cc-card").first
    assert card.locator(".stage-now").all_inner_texts() == ["Innovate"] * 3
    page.screenshot(path=str(shots / "cc-4-innovate.png"), full_page=True)

    page.click("nav.cc-sub >> text=Re-measure")
    assert "not what it caused" in page.inner_text("main")
    groups = page.locator("table.groups").first
    assert "Everyone else" in groups.inner_text()
    assert groups.locator("tbody tr").first.get_attribute("data-measure") == "ttfr"  # what it watches, first
    page.screenshot(path=str(shots / "cc-5-remeasure.png"), full_page=True)
    page.click("nav.cc-sub >> text=Sponsor page")
    assert "Buddies cut the first wait" in page.inner_text("main")
    page.screenshot(path=str(shots / "cc-6-sponsor.png"), full_page=True)

    # 6. the report, built from the served workspace, carries the story
    from covalue.report.build import build

    site = app.state.site
    out = tmp_path / "report.html"
    with site.lock:
        build(site.ws, out, community="healthy")
    page.goto(out.as_uri())
    text = page.inner_text("body")
    assert "Buddies cut the first wait" in text and "Buddies for newcomers" in text
    page.screenshot(path=str(shots / "cc-7-report.png"), full_page=True)
    assert not errors, errors
    page.close()
