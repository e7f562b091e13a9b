"""The value report in headless Chromium (Debian's /usr/bin/chromium through Playwright): no console
errors, no network requests, every chart drawn, a verdict and coaching for every community, for the real
exports in ../shared/data and the synthetic organisation. Full-page screenshots go to
``$COVALUE_REPORT_SHOTS`` when set (to look at them), else to the test's temporary folder."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

import covalue
from covalue import synth
from covalue.report import build

pytestmark = pytest.mark.browser


def open_report(browser, path: Path) -> dict:
    """Load the report, scroll every chart into view (charts draw lazily) and collect what happened."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.on("request", lambda r: requests.append(r.url))
    t0 = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    page.evaluate("window.covalueVisibleDrawn()")
    first = time.perf_counter() - t0
    # details fold away below the first screen: open every one, as a reader clicking through would
    page.evaluate("document.querySelectorAll('details.block').forEach(d => { d.open = true; })")
    for el in page.query_selector_all(".chart"):
        # the page's own scroll, not Playwright's, which first waits for the element to hold still: a
        # chart above it still drawing moves it, and on a loaded machine that wait ran past 30 s
        el.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.evaluate("(id) => document.getElementById(id)._covalueDone", el.get_attribute("id"))
    page.evaluate("window.covalueDrawAll()")
    info = page.evaluate(
        """() => {
        const charts = [...document.querySelectorAll('.chart')];
        return {
          charts: charts.length,
          drawn: charts.filter(c => c.dataset.rendered === '1' && c.querySelector('svg.main-svg')
                                     && c.getBoundingClientRect().height > 100).map(c => c.id),
          labelled: charts.filter(c => (c.getAttribute('aria-label') || '').length > 20).length,
          tables: charts.filter(c => c.closest('figure').querySelector('details.data table tbody tr')).length,
          communities: [...document.querySelectorAll('section.community')].map(s => s.id),
          verdicts: [...document.querySelectorAll('section.community .verdict-block p.verdict')].map(p => p.textContent.trim()),
          coaching: [...document.querySelectorAll('section.community')].map(
              s => s.querySelectorAll('.coaching article.prompt').length),
        };
    }"""
    )
    shots = Path(os.environ.get("COVALUE_REPORT_SHOTS") or path.parent)
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{path.stem}.png"), full_page=True)
    page.close()
    return {**info, "errors": errors, "requests": requests, "first_seconds": first}


def check(result: dict, path: Path, n_communities: int) -> None:
    assert result["errors"] == []
    # the only request is the report file itself
    assert result["requests"] == [path.as_uri()]
    assert result["charts"] > 0 and len(result["drawn"]) == result["charts"]
    assert result["labelled"] == result["charts"] and result["tables"] == result["charts"]
    assert len(result["communities"]) == n_communities
    assert len(result["verdicts"]) == n_communities and all(len(v) > 80 for v in result["verdicts"])
    assert all(n >= 1 for n in result["coaching"])


def make(tmp_path_factory, name: str, exports: list[Path] | None = None) -> tuple[Path, covalue.Workspace]:
    base = tmp_path_factory.mktemp(name)
    ws = covalue.init(base / "ws")
    if exports is None:
        synth.generate(seed=7).write(ws)
    else:
        for r in ws.ingest(exports):
            assert r.status == "ok", r.messages
    path = base / f"report-{name}.html"
    build(ws, path)
    return path, ws


def test_synthetic_organisation_report(browser, tmp_path_factory):
    path, ws = make(tmp_path_factory, "synthetic")
    ws.close()
    result = open_report(browser, path)
    check(result, path, 6)
    html = path.read_text(encoding="utf-8")
    assert 'id="portfolio"' in html and "chart-portfolio-mix" in result["drawn"]
    assert result["first_seconds"] < 5


def test_chart_boxes_keep_their_height_while_charts_are_drawn(browser, tmp_path_factory):
    """Every chart's box has its figure's height before it is drawn, the drawn plot fills it exactly, so
    the page does not move as charts appear; the page's <base> leaves links pointing into the page."""
    path, ws = make(tmp_path_factory, "boxes")
    ws.close()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(path.as_uri(), wait_until="load")
    page.evaluate("window.covalueVisibleDrawn()")
    measure = """() => [...document.querySelectorAll('.chart')].map(c => {
        const svg = c.querySelector('svg.main-svg');
        return {id: c.id, box: c.getBoundingClientRect().height, width: c.getBoundingClientRect().width,
                plot: svg ? svg.getBoundingClientRect().height : null,
                plotWidth: svg ? svg.getBoundingClientRect().width : null};
    })"""
    # open every folded section and measure in the same turn, before any of their charts is drawn
    before = page.evaluate(
        "(measure) => { document.querySelectorAll('details.block').forEach(d => { d.open = true; });"
        " return {undrawn: document.querySelectorAll('.chart:not([data-drawn])').length,"
        " height: document.documentElement.scrollHeight, charts: eval(measure)()}; }",
        measure,
    )
    # charts drawn after their sections opened already fit: none is refitted when the sections' toggle
    # events follow (424 needless relayouts on the 54-community report before)
    page.evaluate(
        "() => { window.refits = 0; const resize = Plotly.Plots.resize;"
        " Plotly.Plots.resize = function () { window.refits++; return resize.apply(this, arguments); }; }"
    )
    page.evaluate("window.covalueDrawAll()")
    page.wait_for_timeout(300)
    assert page.evaluate("window.refits") == 0
    after = page.evaluate(measure)
    height_after = page.evaluate("document.documentElement.scrollHeight")
    figures = page.evaluate(
        "Object.fromEntries(Object.entries(JSON.parse(document.getElementById('covalue-charts').textContent))"
        ".map(([k, v]) => [k, v.layout.height]))"
    )
    base = page.evaluate("[document.baseURI, location.href]")
    page.close()
    assert before["undrawn"] > 10  # most charts were measured before being drawn
    assert len(after) == len(figures) > 10
    for b, a in zip(before["charts"], after, strict=True):
        want = max(figures[a["id"]], 300)  # the box's least height is 300 px
        assert b["box"] == a["box"] == want, a["id"]
        assert a["plot"] == figures[a["id"]] and a["plotWidth"] == a["width"], a["id"]
    assert height_after == before["height"]
    assert base[0] == base[1]


def test_beer_stack_exchange_report(browser, tmp_path_factory, shared_data):
    path, ws = make(tmp_path_factory, "beer", [shared_data / "stackexchange" / "beer.stackexchange.com.7z"])
    ws.close()
    result = open_report(browser, path)
    check(result, path, 1)
    html = path.read_text(encoding="utf-8")
    # the appendix states the coverage: 3,471 posts + 3,509 comments; 18,564 votes, accepts and follows
    # plus 2,027 question-tag links; nothing rejected
    row = re.search(r"<td>beer\.stackexchange\.com</td>.*?</tr>", html, re.S).group(0)
    assert "<td>2014-01-21</td>" in row and "6,980" in row and "20,591" in row
    assert "no rejects" in html
    assert "beer.stackexchange.com works as a real community" in result["verdicts"][0]


def test_houstondatavis_slack_report(browser, tmp_path_factory, shared_data):
    path, ws = make(tmp_path_factory, "slack", [shared_data / "slack" / "houstondatavis-slack-export.zip"])
    ws.close()
    result = open_report(browser, path)
    check(result, path, 1)
    html = path.read_text(encoding="utf-8")
    row = re.search(r"<td>houstondatavis</td>.*?</tr>", html, re.S).group(0)
    assert "<td>2015-06-06</td>" in row and "<td>2016-07-27</td>" in row
    assert '<td class="n">16</td>' in row  # 16 channels
