"""Each role signs in on the Beer + houstondatavis + NCAR Zulip workspace and lands on the value
headline of the communities it may see, with the CLI's numbers (``covalue health --json``), and is
refused what it may not open. A period picked on a community's overview moves every figure there: the
headline figures, the stage figures, the stage mix and the stage checks with their change, all checked
against the workspace."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import covalue
from covalue import journey
from covalue.cli import app as cli_app

pytestmark = pytest.mark.browser

EXPORTS = (
    "stackexchange/beer.stackexchange.com.7z",
    "slack/houstondatavis-slack-export.zip",
    "zulip/ncar-zulip-archive.tar.gz",
)
PASSWORD = "roles test password 7"
BEER, HDV, NCAR = "beer-stackexchange-com", "houstondatavis", "ncar-zulip-archive"
ALL = {BEER, HDV, NCAR}
#: role -> (community it is given, None for all; the communities its first screen shows)
ROLES: dict[str, tuple[str | None, set[str]]] = {
    "admin": (None, ALL),
    "manager": (HDV, {HDV}),
    "champion": (NCAR, {NCAR}),
    "sponsor": (None, ALL),
    "member": (BEER, {BEER}),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[dict[str, Any]]:
    """One analysed workspace of the three exports, an account per role (the member linked to a Beer
    member active in the latest window), the CLI's figures and the app served on it."""
    from covalue.store import Store
    from covalue.store import accounts as acc
    from covalue.testing import live_server
    from covalue.web.app import create_app

    exports = [shared_data / e for e in EXPORTS]
    if not all(e.exists() for e in exports):
        pytest.skip("the three real exports are missing")
    path = tmp_path_factory.mktemp("roles") / "ws"
    ws = covalue.init(path)
    ws.ingest(exports)
    journey.analyze(ws)
    out = CliRunner().invoke(cli_app, ["health", "-w", str(path), "--json"])
    assert out.exit_code == 0, out.output
    cli = json.loads(out.output)
    period = cli[BEER]["period"]
    st = journey.stages(ws, community=BEER, period=period).to_pandas()
    member_id = str(st[st.answered_questions > 0].sort_values("member_id").member_id.iloc[0])
    mix = journey.stage_mix(ws, community=HDV).to_pandas().set_index("period")
    checks = {
        p: {
            r["measure"]: r["value"]
            for r in journey.checks(ws, community=HDV, period=p).to_pyarrow().to_pylist()
        }
        for p in ("2016-05", "2016-02")
    }
    ws.close()
    store = Store.open(path)
    with store.session() as db:
        for role, (cid, _) in ROLES.items():
            acc.add_user(
                db,
                f"{role}@example.org",
                role,
                community=cid,
                password=PASSWORD,
                member_id=member_id if role == "member" else None,
            )
    store.dispose()
    with live_server(create_app(path)) as base:
        yield {"base": base, "cli": cli, "mix": mix, "checks": checks}


def _sign_in(browser: Any, base: str, role: str) -> Any:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.set_default_timeout(120_000)  # the first page after an analysis reads the whole workspace once
    page.goto(base + "/login")
    page.fill("input[name=email]", f"{role}@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    return page


def _status(page: Any, url: str) -> int:
    return page.request.get(url, max_redirects=0).status


@pytest.mark.parametrize("role", list(ROLES))
def test_first_screen_shows_the_headline_of_what_the_role_may_see(
    browser: Any, site: dict[str, Any], role: str
) -> None:
    base, cli = site["base"], site["cli"]
    page = _sign_in(browser, base, role)
    try:
        assert page.url == base + ("/me" if role == "member" else "/")
        glance = page.locator("#glance article.glance")
        shown = {glance.nth(i).get_attribute("data-community"): glance.nth(i) for i in range(glance.count())}
        assert set(shown) == ROLES[role][1]
        for cid, art in shown.items():
            assert art.locator("p.headline").inner_text() == cli[cid]["headline"]["sentence"]
        first = glance.first.locator("p.headline").bounding_box()
        assert first is not None and first["y"] + first["height"] <= 900  # on the first screen
        allowed = sorted(ROLES[role][1])
        refused = sorted(ALL - ROLES[role][1])
        if role == "member":
            # a member reads their community's work, never the managers' pages
            assert _status(page, f"{base}/me/c/{BEER}") == 200
            for cid in ALL:
                assert _status(page, f"{base}/c/{cid}") == 403
            assert _status(page, f"{base}/report.html") == 404
            assert _status(page, f"{base}/data") in (403, 303)
            return
        for cid in refused:
            assert _status(page, f"{base}/c/{cid}") == 403
        cid = allowed[0]
        # the overview's figures are the CLI's, as it words them
        page.goto(f"{base}/c/{cid}")
        rows = page.locator("#figures tbody tr")
        on_page = {
            rows.nth(i).get_attribute("data-key"): rows.nth(i).locator("td.value").inner_text().strip()
            for i in range(rows.count())
        }
        for f in cli[cid]["headline"]["figures"]:
            assert on_page[f["key"]] == f["value_text"], (role, f["key"])
        people = _status(page, f"{base}/c/{cid}/people")
        assert people == (200 if role in ("admin", "manager", "champion") else 403), role
        unanswered = page.request.get(f"{base}/c/{cid}/tables/unanswered.csv").text()
        header = unanswered.splitlines()[0] if unanswered else ""
        assert ("excerpt" in header) == (role in ("admin", "manager", "champion")), (role, header)
        assert _status(page, f"{base}/admin") == (200 if role == "admin" else 403), role
        assert (_status(page, f"{base}/data") == 200) == (role in ("admin", "manager")), role
    finally:
        page.close()


def _mix_table(page: Any) -> dict[str, str]:
    rows = page.locator("figure.chart-box details.data tbody tr")
    return {
        rows.nth(i).locator("td").nth(0).text_content(): rows.nth(i).locator("td").nth(1).text_content()
        for i in range(rows.count())
    }


def test_a_period_change_moves_every_figure_on_the_overview(browser: Any, site: dict[str, Any]) -> None:
    base = site["base"]
    page = _sign_in(browser, base, "manager")
    try:
        page.goto(f"{base}/c/{HDV}")
        latest = page.locator("#checks-h").inner_text()
        before_mix = _mix_table(page)
        page.select_option("#pick-period", "2016-05")
        page.click("#pick-show")
        page.wait_for_url("**period=2016-05**")
        assert "Stage mix in 2016-05" in page.inner_text("#mix-h")
        assert "Stage checks in 2016-05" in page.inner_text("#checks-h") and latest != page.inner_text(
            "#checks-h"
        )
        # the stage mix drawn for the month picked, as the workspace counts it
        mix = site["mix"]
        shown = _mix_table(page)
        assert shown != before_mix
        assert sum(int(v.replace(",", "")) for v in shown.values()) == int(mix.active["2016-05"])
        assert re.search(r"\bObserver\b|\bConnect\b", " ".join(shown))
        # every stage check with its value then and three months before, and the change
        items = page.locator("#checks li[data-measure]")
        assert items.count() > 0
        now, before = site["checks"]["2016-05"], site["checks"]["2016-02"]
        for i in range(items.count()):
            li = items.nth(i)
            measure = li.get_attribute("data-measure")
            if now.get(measure) is None:
                continue
            value, prev = li.locator(".value").inner_text(), li.locator(".previous").inner_text()
            assert _same(value, now[measure]) and _same(prev, before[measure]), (measure, value, prev)
            delta = li.locator(".delta").inner_text()
            if now[measure] == before[measure]:
                assert delta == "no change"
            else:
                assert delta[0] in "+\u2212", delta
        # what still reads the latest month says so
        assert "the next steps, the verdict and the shape read the latest complete month" in page.inner_text(
            "#windows"
        )
    finally:
        page.close()


def _same(shown: str, value: float) -> bool:
    """A check's value as the page shows it (a share in %, a count) equals the workspace's."""
    t = shown.replace(",", "").replace("\u2212", "-").strip()
    if t.endswith("%"):
        return abs(float(t[:-1]) - 100 * float(value)) <= 0.5 + 1e-9
    return abs(float(t) - float(value)) <= 0.05 + 1e-9
