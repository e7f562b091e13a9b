"""The value headline: worded from planted figures; on the Beer + houstondatavis + NCAR Zulip workspace
its numbers equal the member stages, health and the CLI, and a space narrows them to what the
workspace tables hold for that space. The browser tests read the report's and the sponsor's first
screens, change the period, filter one channel and download the tables as CSV."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import covalue
from covalue import diagnosis, headline, journey
from covalue.cli import app as cli_app
from covalue.periods import month_start, period_index

EXPORTS = (
    "stackexchange/beer.stackexchange.com.7z",
    "slack/houstondatavis-slack-export.zip",
    "zulip/ncar-zulip-archive.tar.gz",
)
PASSWORD = "headline test password"


# -- wording, from planted figures -------------------------------------------------------------------
def test_the_sentence_and_the_trend_say_the_planted_figures_and_their_change() -> None:
    now = {"got_help": 41, "helpers": 30, "questions": 19, "answered": 16, "reply_median_h": 20.0, "ideas": 3}
    before = {
        "got_help": 38,
        "helpers": 30,
        "questions": 22,
        "answered": 12,
        "reply_median_h": 26.0,
        "ideas": 1,
    }
    h = headline.compose("c", "C", "2020-05", 90, {**now, "threads": 25}, {**before, "threads": 25})
    assert h.sentence == (
        "In the 90 days to 2020-05-31, 41 members got help and 30 colleagues answered questions; 16 of 19 "
        "questions were answered, and half of the threads that got a reply had it within 20.0 hours; "
        "3 ideas gathered support."
    )
    assert h.previous_window == "90 days to 2020-02-29"
    assert h.trend == (
        "Compared with the 90 days to 2020-02-29: got help +3, questions −3, answered +4, "
        "first reply 6.0 hours faster, supported ideas +2."
    )
    by = {f.key: f for f in h.figures}
    assert (
        by["answered"].delta == 4
        and by["helpers"].delta == 0
        and by["threads"].to_dict()["delta_text"] == "no change"
    )
    assert by["reply_median_h"].to_dict()["delta_text"] == "6.0 hours faster"


def test_an_export_without_ideas_says_so_and_an_empty_window_reads_as_nothing_answered() -> None:
    h = headline.compose("c", "C", "2021-01", 30, None, None, ideas_measurable=False)
    assert "ideas cannot be seen in this export" in h.sentence
    assert "no member's question was answered by a colleague" in h.sentence
    assert "no question was asked" in h.sentence
    assert "ideas" not in {f.key for f in h.figures}
    assert h.previous_period == "2020-12" and h.trend == "The same as in the 30 days to 2020-12-31."
    one = headline.compose(
        "c", "C", "2021-01", 30, {"got_help": 1, "helpers": 1, "questions": 1, "answered": 1}, None
    )
    assert (
        "1 member got help and 1 colleague answered questions; 1 of 1 question was answered" in one.sentence
    )


# -- the three real exports ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def three(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """Beer SE, houstondatavis Slack and NCAR Zulip ingested and analysed once (kept read-only: tests
    that serve it work on a copy)."""
    path = tmp_path_factory.mktemp("three") / "ws"
    exports = [shared_data / rel for rel in EXPORTS]
    missing = [str(e) for e in exports if not e.exists()]
    if missing:
        pytest.skip(f"missing: {', '.join(missing)}")
    ws = covalue.init(path, name="Three public communities")  # the name the screenshots show
    ws.ingest(exports)
    journey.analyze(ws)
    ws.close()
    return path


def _stage_counts(ws: covalue.Workspace, cid: str, period: str) -> dict[str, int]:
    t = journey.stages(ws, community=cid, period=period).to_pandas()
    return {"got_help": int((t.answered_questions > 0).sum()), "helpers": int((t.helped_items > 0).sum())}


def test_figures_equal_the_member_stages_health_and_the_cli(three: Path) -> None:
    ws = covalue.Workspace(three)
    heads = headline.for_workspace(ws)
    health = diagnosis.health(ws)
    assert set(heads) == {"beer-stackexchange-com", "houstondatavis", "ncar-zulip-archive"}
    for cid, h in heads.items():
        assert h.period == health[cid]["period"]
        counts = _stage_counts(ws, cid, h.period)
        assert h.value("got_help") == counts["got_help"] and h.value("helpers") == counts["helpers"]
        resp = health[cid]["responsiveness"]
        assert (h.value("questions"), h.value("answered")) == (resp["questions"], resp["answered"])
        assert h.value("reply_median_h") == pytest.approx(resp["ttfr_median_h"])
        # the previous window is the same rule three months earlier
        prev = headline.for_workspace(ws, community=cid, period=h.previous_period)[cid]
        assert [f.previous for f in h.figures] == [f.value for f in prev.figures]
    beer = heads["beer-stackexchange-com"]
    assert beer.period == "2020-05" and beer.sentence.startswith(
        f"In the 90 days to 2020-05-31, {beer.value('got_help'):.0f} members got help and "
        f"{beer.value('helpers'):.0f} colleagues answered questions; {beer.value('answered'):.0f} of {beer.value('questions'):.0f} "
        "questions were answered"
    )
    ws.close()
    out = CliRunner().invoke(cli_app, ["health", "-w", str(three), "--json"])
    assert out.exit_code == 0, out.output
    cli = json.loads(out.output)
    for cid, h in heads.items():
        assert cli[cid]["headline"]["sentence"] == h.sentence
        assert [f["value"] for f in cli[cid]["headline"]["figures"]] == [f.value for f in h.figures]


def _threads_in_space(ws: covalue.Workspace, space: str, period: str, days: int) -> int:
    """Threads opened by people in one space in the window, counted from the workspace tables: messages
    without a parent (items), by authors who are not bots (identities, members), less the chat
    messages the analysis read as quick replies to the message before (item_facts.parent_inferred)."""
    end = month_start(period_index(period) + 1)
    start = end - timedelta(days=days)
    raw = (
        ws.raw.execute(
            "SELECT list(i.item_id) FROM items i LEFT JOIN identities d ON d.identity_id = i.author_id "
            "LEFT JOIN members m ON m.member_id = d.member_id "
            "WHERE i.space_id = ? AND i.parent_id IS NULL AND i.created_at >= ? AND i.created_at < ? "
            "AND NOT coalesce(d.is_bot, false) AND NOT coalesce(m.is_bot, false)",
            [space, start, end],
        ).fetchone()[0]
        or []
    )
    f = journey.derived(ws, "item_facts")
    inferred = f.filter(f.item_id.isin(raw) & f.parent_inferred).count().to_pyarrow().as_py()
    return len(raw) - int(inferred)


def test_a_space_narrows_the_figures_to_what_its_items_hold(three: Path) -> None:
    ws = covalue.Workspace(three)
    whole = headline.for_workspace(ws, community="houstondatavis")["houstondatavis"]
    spaces = ws.raw.execute(
        "SELECT space_id, name FROM spaces WHERE community_id = 'houstondatavis' ORDER BY 1"
    ).fetchall()
    total = 0
    for sid, name in spaces:
        h = headline.for_workspace(ws, space=sid, period=whole.period)["houstondatavis"]
        assert h.space == sid and name in (h.space_name or "") and f" in channel {name}," in h.sentence
        assert h.value("threads") == _threads_in_space(ws, sid, whole.period, 90)
        assert h.value("questions") <= whole.value("questions")
        total += int(h.value("threads") or 0)
    assert total == whole.value("threads")  # the channels partition the community's threads
    with pytest.raises(LookupError, match="no space"):
        headline.for_workspace(ws, space="slack:nowhere")
    ws.close()


# -- in the browser -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(three: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The web app on a copy of the workspace, one sponsor of every community signed up."""
    from covalue.store import Store
    from covalue.store import accounts as acc
    from covalue.testing import live_server
    from covalue.web.app import create_app

    path = tmp_path_factory.mktemp("served") / "ws"
    shutil.copytree(three, path)
    store = Store.open(path)
    with store.session() as db:
        acc.add_user(db, "sponsor@example.org", "sponsor", password=PASSWORD)
    store.dispose()
    with live_server(create_app(path)) as base:
        yield base, path


def _signed_in(browser: object, base: str) -> object:
    page = browser.new_page(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page.goto(base + "/login")
    page.fill("input[name=email]", "sponsor@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    return page


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d[\d,.]*", text)


def _page_figures(page: object) -> dict[str, tuple[str, str, str]]:
    rows = page.locator("#figures tbody tr")
    return {
        rows.nth(i).get_attribute("data-key"): tuple(
            rows.nth(i).locator(f"td.{k}").inner_text().strip() for k in ("value", "previous", "delta")
        )
        for i in range(rows.count())
    }


def _expected(h: headline.Headline) -> dict[str, tuple[str, str, str]]:
    return {
        f.key: (d["value_text"], d["previous_text"], d["delta_text"])
        for f in h.figures
        for d in [f.to_dict()]
    }


@pytest.mark.browser
def test_the_report_opens_on_every_communitys_headline(
    browser, three: Path, tmp_path: Path, shots: Path
) -> None:
    from covalue.report import build

    ws = covalue.Workspace(three)
    heads = headline.for_workspace(ws)
    out = build(ws, tmp_path / "report.html")
    ws.close()
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(out.path.as_uri(), wait_until="load")
    first = page.locator("#glance p.headline")
    assert first.count() == 3
    for i in range(3):
        cid = first.nth(i).get_attribute("data-community")
        assert first.nth(i).inner_text() == heads[cid].sentence
    # the first community's headline and its sponsor step sit on the first screen, unscrolled
    box = first.nth(0).bounding_box()
    assert box is not None and box["y"] + box["height"] < 900
    assert page.locator("#glance .sponsor-action").first.bounding_box()["y"] < 900
    # each community's page opens on its headline table; every other section is folded
    beer = page.locator("#c-beer-stackexchange-com")
    cells = beer.locator("table.headline-figures tbody tr td.value")
    assert [cells.nth(i).inner_text() for i in range(cells.count())] == [
        f.to_dict()["value_text"] for f in heads["beer-stackexchange-com"].figures
    ]
    folded = beer.locator("details.block")
    assert folded.count() >= 5 and all(
        not folded.nth(i).evaluate("d => d.open") for i in range(folded.count())
    )
    folded.first.locator("summary").click()
    assert folded.first.evaluate("d => d.open")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / "report-first-screen.png"))
    page.close()


@pytest.mark.browser
def test_sponsor_landing_period_space_and_csv(
    browser, served: tuple[str, Path], three: Path, shots: Path
) -> None:
    base, _ = served
    page = _signed_in(browser, base)
    # the landing page: each community's headline, as Python words it (the snapshot was built on open)
    glance = page.locator("#glance article.glance")
    assert glance.count() == 3
    page.screenshot(path=str(shots / "sponsor-first-screen.png"))
    sentences = {
        glance.nth(i).get_attribute("data-community"): glance.nth(i).locator("p.headline").inner_text()
        for i in range(3)
    }
    assert page.locator("#report-download").is_visible()

    # a community's overview: the figures and their change, then another window
    page.goto(base + "/c/houstondatavis")
    shown = _page_figures(page)
    assert set(shown) >= {"got_help", "helpers", "questions", "answered", "threads", "active", "solving"}
    page.select_option("#pick-period", "2016-05")
    page.click("#pick-show")
    page.wait_for_url("**period=2016-05**")
    after = _page_figures(page)
    assert after != shown
    assert "In the 90 days to 2016-05-31" in page.inner_text("#headline")

    # a channel: the figures narrow to it
    general = page.evaluate(
        "[...document.querySelectorAll('#pick-space option')].find(o => o.text.startsWith('general (')).value"
    )
    page.select_option("#pick-space", general)
    page.click("#pick-show")
    page.wait_for_url("**space=**")
    in_general = _page_figures(page)
    assert "active" not in in_general  # stage figures are for the whole community, so they are left out
    assert "in channel general" in page.inner_text("#headline")

    # the CSV of the table shown opens in pandas with the page's numbers
    with page.expect_download() as dl:
        page.click("#figures a.csv")
    df = pd.read_csv(dl.value.path())
    assert list(df.figure)[: len(in_general)] == [
        page.locator(f"#figures tr[data-key={k}] th").inner_text() for k in in_general
    ]
    for (key, (value, previous, _)), row in zip(in_general.items(), df.itertuples(), strict=True):
        if key == "reply_median_h":
            continue  # shown in words ("4 minutes"); the CSV keeps hours
        assert float(value.replace(",", "")) == row.this_window
        assert float(previous.replace(",", "")) == row.previous
        assert row.change == row.this_window - row.previous

    page.close()
    # the same numbers as Python's, for every view the test opened (on the workspace the app copied)
    ws = covalue.Workspace(three)
    try:
        heads = headline.for_workspace(ws)
        for cid, h in heads.items():
            assert sentences[cid] == h.sentence
        exp = _expected(heads["houstondatavis"])
        assert {k: shown[k] for k in exp} == exp
        may = headline.for_workspace(ws, community="houstondatavis", period="2016-05")["houstondatavis"]
        exp = _expected(may)
        assert {k: after[k] for k in exp} == exp
        mix = journey.stage_mix(ws, community="houstondatavis").to_pandas().set_index("period")
        assert after["active"][:2] == (str(mix.active["2016-05"]), str(mix.active["2016-02"]))
        assert after["active"][2] == f"{mix.active['2016-05'] - mix.active['2016-02']:+,}".replace(
            "-", "\u2212"
        )
        sid = ws.raw.execute(
            "SELECT space_id FROM spaces WHERE community_id = 'houstondatavis' AND name = 'general'"
        ).fetchone()[0]
        general = headline.for_workspace(ws, space=sid, period="2016-05")["houstondatavis"]
        assert in_general == _expected(general)
        assert int(in_general["threads"][0]) == _threads_in_space(ws, sid, "2016-05", 90)
    finally:
        ws.close()


@pytest.mark.browser
def test_csv_of_every_table_and_the_report_download(browser, served: tuple[str, Path]) -> None:
    base, _ = served
    page = _signed_in(browser, base)
    for name, col in (
        ("checks", "measure"),
        ("stage-mix", "active"),
        ("responses", "threads"),
        ("unanswered", "title"),
    ):
        r = page.request.get(f"{base}/c/beer-stackexchange-com/tables/{name}.csv")
        assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
        df = pd.read_csv(io.StringIO(r.text()))
        assert col in df.columns and len(df) > 0
    checks = pd.read_csv(
        io.StringIO(page.request.get(f"{base}/c/beer-stackexchange-com/tables/checks.csv").text())
    )
    page.goto(base + "/c/beer-stackexchange-com/journey")
    assert page.locator("table.wide tbody tr").count() == len(checks)
    assert page.request.get(f"{base}/c/beer-stackexchange-com/tables/nothing.csv").status == 404
    assert page.request.get(f"{base}/c/houstondatavis?period=1999-01").status == 400
    assert page.request.get(f"{base}/c/houstondatavis?space=elsewhere").status == 400
    api = page.request.get(f"{base}/api/communities/houstondatavis/headline?period=2016-05").json()
    assert api["period"] == "2016-05" and api["sentence"].startswith("In the 90 days to 2016-05-31")
    r = page.request.get(base + "/report.html")
    assert r.status == 200 and "attachment" in r.headers["content-disposition"]
    html = r.text()
    assert html.count('class="headline"') >= 3 and "Value at a glance" in html
    page.close()
