"""The value report without a browser: findings and coaching prompts on planted numbers, chart specs,
optional sections, the offline page, the synthetic organisation end to end, and the CLI."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import covalue
from covalue import models, synth
from covalue.report import Section, build, charts, coaching, render
from covalue.report.build import add_sections, plotly_js, prepare, register_section
from covalue.report.facts import gather

MODEL = models.load("coaching")


def community(cid: str = "c1", **over) -> dict:
    """Facts of one community shaped like ``gather`` makes them, healthy unless ``over`` says otherwise."""
    c = {
        "id": cid,
        "name": f"Community {cid}",
        "period": "2025-06",
        "window_days": 90,
        "mix": {
            "period": "2025-06",
            "active": 100,
            "observer": 10,
            "readers": 0,
            "regular": 70,
            "connect": 20,
            "share": 20,
            "solve": 50,
            "innovate": 10,
            "observer_share": 10 / 110,
            "connect_share": 0.2,
            "share_share": 0.2,
            "solve_share": 0.5,
            "innovate_share": 0.1,
        },
        "mix_history": [],
        "journey": {"start": "2025-03", "end": "2025-06", "flows": []},
        "checks": [
            {
                "stage": "connect",
                "question": "still a group?",
                "measure": "active members",
                "value": 100.0,
                "threshold": 6.0,
                "op": ">=",
                "passed": True,
            },
            {
                "stage": "solve",
                "question": "doing work?",
                "measure": "share of questions answered by another member",
                "value": 0.9,
                "threshold": 0.6,
                "op": ">=",
                "passed": True,
            },
        ],
        "health": {
            "community": f"Community {cid}",
            "period": "2025-06",
            "window_days": 90,
            "shape": {
                "shape": "community",
                "explanation": "Community: many people talk.",
                "top_author_share": 0.05,
                "reply_rate": 0.8,
            },
            "responsiveness": {
                "originals": 50,
                "responded": 48,
                "replied": 45,
                "response_rate": 0.96,
                "ttfr_median_h": 3.0,
                "ttfr_p90_h": 20.0,
                "questions": 20,
                "answered": 20,
                "unanswered": 0,
            },
            "concentration": {"absence_factor": 12, "elephant_factor": None},
            "unanswered": [],
        },
        "response_monthly": [],
        "dynamics": {
            "monthly": [],
            "growth": {"verdict": "holding", "change": 0.02, "explanation": "steady"},
            "spikes": [],
            "retention": [],
        },
        "champions": None,
        "network": None,
        "resonance": None,
    }
    for k, v in over.items():
        c[k] = v
    return c


def facts(*cs: dict) -> dict:
    return {
        "title": "planted",
        "generated": "2026-01-01 00:00 UTC",
        "period": None,
        "show_names": False,
        "min_group_size": 5,
        "communities": list(cs),
        "coverage": {"tables": {}, "sources": {}, "communities": {}, "rejects": [], "analysis": None},
        "errors": [],
        "models": {"maturity": models.load("maturity"), "health": models.load("health")},
    }


def keys(c: dict) -> list[str]:
    return [f["key"] for f in coaching.findings(c, MODEL)]


# -- findings and prompts -----------------------------------------------------------------------------
def test_a_healthy_community_is_celebrated():
    c = community()
    assert keys(c) == ["thriving"]
    (p,) = coaching.prompts(c, MODEL)
    assert p["finding"] == "thriving" and p["questions"] and p["actions"]


def test_many_at_connect_few_sharing_asks_for_sharing():
    mix = {"active": 50, "observer": 20, "connect": 40, "share": 5, "solve": 5, "innovate": 0}
    c = community(mix=mix)
    assert keys(c) == ["connect_heavy"]
    (p,) = coaching.prompts(c, MODEL)
    assert "80% of active members are at Connect; only 20% share" in p["saw"]


def test_unanswered_questions_bring_a_response_rota_with_the_champions():
    c = community(champions=[{"label": "Member aaa111"}, {"label": "Member bbb222"}])
    c["health"]["responsiveness"].update(questions=10, answered=6, unanswered=4)
    assert keys(c) == ["unanswered"]
    (p,) = coaching.prompts(c, MODEL)
    assert "4 questions in the window still wait" in p["saw"] and "60% of questions answered" in p["saw"]
    assert any("rota" in a and "Member aaa111, Member bbb222" in a for a in p["actions"])


def test_failed_checks_shape_spike_shrinking_and_concentration_are_all_found_in_bank_order():
    c = community()
    c["checks"][1].update(value=0.3, passed=False)
    c["health"]["shape"].update(shape="single voice", top_author_share=0.75)
    c["health"]["concentration"]["absence_factor"] = 1
    c["dynamics"]["growth"] = {"verdict": "shrinking", "change": -0.4, "explanation": "fewer people"}
    c["dynamics"]["spikes"] = [{"month": "2025-03", "newcomers": 80, "still_active": [0.4, 0.1, None]}]
    found = keys(c)
    assert found == ["shape_single_voice", "shrinking", "spike_faded", "concentrated", "check_solve"]
    ps = coaching.prompts(c, MODEL)
    assert len(ps) == MODEL["max_prompts"] == 4  # the most pressing first
    assert "75% of the threads" in ps[0]["saw"]
    assert "brought 80 newcomers; 10% were still active 2 months later" in ps[2]["saw"]
    by_key = {f["key"]: f for f in coaching.findings(c, MODEL)}
    assert (
        "share of questions answered by another member: 30% (needs at least 60%)"
        in by_key["check_solve"]["failed"]
    )


def test_a_workspace_can_change_the_thresholds():
    mix = {"active": 50, "observer": 20, "connect": 30, "share": 10, "solve": 10, "innovate": 0}
    c = community(mix=mix)
    assert "connect_heavy" not in keys(c)  # 60% at Connect, but 40% sharing
    looser = models.merge(MODEL, {"findings": {"connect_heavy_max_sharing": 0.5}})
    assert [f["key"] for f in coaching.findings(c, looser)] == ["connect_heavy"]


def test_proportions_are_shown_as_percentages_and_counts_as_counts():
    kept = {"measure": "members kept from last period", "value": 0.94, "threshold": 0.5, "op": ">="}
    active = {"measure": "active members", "value": 138.0, "threshold": 6.0, "op": ">="}
    assert coaching.check_text(kept) == "members kept from last period: 94% (needs at least 50%)"
    assert coaching.check_text(active) == "active members: 138 (needs at least 6)"
    c = community()
    c["checks"].append({**kept, "stage": "connect", "question": "still a group?", "passed": True})
    html = render(facts(c))
    assert '<td class="n">94%</td>' in html and '<td class="n nw">at least 50%</td>' in html


def test_the_verdict_says_it_in_plain_words():
    c = community()
    c["checks"][1].update(passed=False)
    text = coaching.verdict(c)
    assert text.startswith("In the 90 days to the end of 2025-06, Community c1 works as a real community")
    assert (
        "100 members did something the others could see, and 60 of them (60%) reached Solve or Innovate"
        in text
    )
    assert "70 (70%) took part at least every two weeks" in text
    assert "typical wait for a first response was 3.0 hours" in text
    assert "active membership is holding steady (+2%)" in text
    assert "passes 1 of 2 stage checks; the ones missed concern Solve" in text
    assert (coaching.hours(100), coaching.hours(0.5), coaching.hours(0)) == (
        "4.2 days",
        "30 minutes",
        "under a minute",
    )


# -- charts -------------------------------------------------------------------------------------------
def test_stage_charts_carry_counts_titles_axes_and_text_alternatives():
    ch = charts.mix_now(community())
    bar = ch["figure"]["data"][0]
    # observers did nothing others could see: they stand beside the journey, not on it
    assert bar["x"] == [20, 20, 50, 10] and bar["y"] == [
        "Connect",
        "Share",
        "Solve",
        "Innovate",
    ]
    lay = ch["figure"]["layout"]
    assert lay["title"]["text"] and lay["xaxis"]["title"]["text"] == "members (people)"
    assert "50 at Solve" in ch["summary"] and ch["rows"][2] == ["Solve", "50", "50%"]
    assert "10 observed only" in ch["summary"]
    assert set(bar["marker"]["color"]) <= {*charts.OKABE_ITO.values(), charts.GREY}


def test_journey_sankey_keeps_only_used_nodes_with_highest_stage_on_top():
    flows = [
        {"from": "observer", "to": "share", "members": 4},
        {"from": "share", "to": "share", "members": 6},
        {"from": None, "to": "connect", "members": 3},
        {"from": "connect", "to": None, "members": 2},
    ]
    c = community(journey={"start": "2025-03", "end": "2025-06", "flows": flows})
    ch = charts.journey(c)
    sk = ch["figure"]["data"][0]
    labels = sk["node"]["label"]
    assert len(labels) == len(sk["node"]["x"]) == len(sk["node"]["y"]) == 7  # 4 on the left, 3 on the right
    y = dict(zip(labels, sk["node"]["y"], strict=True))
    assert y["Share (2025-03)"] < y["Connect (2025-03)"] < y["Observer (2025-03)"] < y["not active (2025-03)"]
    assert y["Share (2025-06)"] < y["Connect (2025-06)"] < y["no longer active (2025-06)"]
    assert sum(sk["link"]["value"]) == 15
    assert (
        "4 members moved up a stage or more, 0 moved down, 3 became active and 2 were no longer active"
        in ch["summary"]
    )


def test_retention_leaves_out_small_cohorts_and_stops_the_average_when_few_remain():
    ret = []
    for cohort, size, months in (("2025-01", 10, 6), ("2025-04", 40, 3), ("2025-05", 3, 2)):
        for k in range(months):
            ret.append(
                {"cohort": cohort, "k": k, "size": size, "active": size // (k + 1), "share": 1 / (k + 1)}
            )
    c = community(dynamics={"monthly": [], "growth": {}, "spikes": [], "retention": ret})
    ch = charts.retention(c, min_size=5)
    names = [t["name"] for t in ch["figure"]["data"]]
    assert names == ["joined 2025-01 (10)", "joined 2025-04 (40)", "all cohorts"]
    avg = ch["figure"]["data"][-1]
    assert avg["x"] == [0, 1, 2]  # months 3..5 are seen only for the 10-person cohort
    assert avg["y"][1] == pytest.approx(100 * (5 + 20) / 50, abs=0.1)


# -- the page -----------------------------------------------------------------------------------------
def test_optional_sections_are_left_out_while_their_function_is_absent():
    html = render(facts(community("a"), community("b")))
    assert 'id="c-a-verdict"' in html and 'id="c-b-next"' in html
    for part in ("network", "champions", "resonance"):
        assert f'id="c-a-{part}"' not in html
    assert 'id="portfolio"' in html


def test_champions_network_and_resonance_render_from_their_shapes():
    nodes = [
        {
            "id": f"m{i}",
            "label": f"Member {i:06d}",
            "core_number": 3 if i < 4 else 1,
            "degree": 6 - i,
            "bridging": 0.1 * i,
            "is_champion": i < 2,
            "org_unit": "Sales",
        }
        for i in range(6)
    ]
    edges = [{"source": f"m{i}", "target": f"m{(i + 1) % 6}", "weight": 2} for i in range(6)]
    net = {
        "nodes": nodes,
        "edges": edges,
        "n_members": 40,
        "n_edges": 90,
        "core_k": 3,
        "core_size": 4,
        "bridges": ["Member 000001"],
        "reach": {"Sales": 4},
        "method": "exact betweenness.",
    }
    champs = [
        {
            "member_id": "m0",
            "label": "Member 000000",
            "rank": 1,
            "score": 3.0,
            "helped_people": 7,
            "answers": 9,
            "accepted_or_thanked": 4,
            "median_response_h": 2.5,
            "bridging": 0.2,
            "in_core": True,
            "org_unit": "Sales",
            "evidence": "answered 9 questions from 7 people",
        }
    ]
    res = {
        "top_viewed": [{"item_id": "i1", "title_or_excerpt": "How to <b>cool</b> beer", "n": 500}],
        "top_replied": [],
        "top_reacted": [],
        "question_themes": [{"label": "cooling", "terms": ["cool", "ice"], "n_questions": 8, "examples": []}],
        "unanswered_themes": [
            {
                "label": "cooling",
                "terms": ["cool"],
                "n_questions": 2,
                "examples": [{"item_id": "i9", "title_or_excerpt": "Fastest way to chill?"}],
            }
        ],
        "events": [],
    }
    c = community("x", champions=champs, network=net, resonance=res)
    html = render(facts(c))
    assert 'id="c-x-network"' in html and 'id="chart-x-network"' in html
    assert "The core reaches into these organisation units: Sales 4." in html
    assert "Method: exact betweenness. " in html
    assert "answered 9 questions from 7 people" in html and "2.5 hours" in html
    assert "How to &lt;b&gt;cool&lt;/b&gt; beer" in html  # member text is escaped
    assert "Fastest way to chill?" in html and 'id="chart-x-themes"' in html
    named = charts.network(c)["figure"]["data"]
    champ_trace = next(t for t in named if t.get("name") == "champions")
    assert champ_trace["text"] == ["Member 000000", "Member 000001"]


def test_an_existing_function_with_nothing_to_show_says_so_instead_of_an_empty_section():
    html = render(facts(community("x", champions=[], network={"nodes": []})))
    assert "Nobody helped enough different people in this period to count as a champion." in html
    assert "Too few members responded to each other in this period to draw a network." in html


def test_people_work_slots_in_before_the_coaching_and_failures_are_named():
    def stories(ws, c):
        if c["id"] != "a":
            return None
        return Section("stories", "Value stories", "<p>Ana's team saved two days a month.</p>")

    def broken(ws, c):
        raise RuntimeError("canvas store unreachable")

    f = prepare(facts(community("a"), community("b")))
    add_sections(None, f, extra=[stories, broken])
    html = render(f)
    assert html.index('id="c-a-stories"') < html.index('id="c-a-next"')
    assert 'id="c-b-stories"' not in html
    assert "section broken (Community a): RuntimeError: canvas store unreachable" in html
    assert register_section(stories) is stories


def test_the_page_is_offline_and_holds_plotly_once():
    html = render(facts(community("a"), community("b")))
    assert html.count("* plotly.js v") == 1
    assert "default-src 'none'" in html  # the browser refuses any request the page might try
    page = html.replace(plotly_js(), "")  # plotly.js itself only mentions links it never loads
    assert len(html) - len(page) > 3_000_000
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    data = re.search(r'<script type="application/json" id="covalue-charts">(.*?)</script>', html, re.S).group(
        1
    )
    assert "</" not in data


def test_an_empty_workspace_is_refused_with_a_clear_message(ws, tmp_path):
    with pytest.raises(LookupError, match="no community activity yet"):
        build(ws, tmp_path / "empty.html")
    assert not (tmp_path / "empty.html").exists()


# -- end to end on the synthetic organisation ------------------------------------------------------------
@pytest.fixture(scope="module")
def synth_ws(tmp_path_factory):
    ws = covalue.init(tmp_path_factory.mktemp("synth") / "ws")
    synth.generate(seed=7).write(ws)
    yield ws
    ws.close()


def test_the_synthetic_organisation_gets_the_prompts_its_planted_shapes_call_for(synth_ws, tmp_path):
    f = prepare(gather(synth_ws))
    got = {c["id"]: [p["finding"] for p in c["prompts"]] for c in f["communities"]}
    assert got["healthy"] == ["thriving"]
    assert got["single-voice"][0] == "shape_single_voice"
    assert got["broadcast"][0] == "shape_broadcast"
    assert got["workgroup"][0] == "shape_workgroup"
    assert got["dying"][0] == "shrinking"
    assert got["campaign"][0] == "spike_faded"
    camp = next(c for c in f["communities"] if c["id"] == "campaign")
    assert "The spike of 2025-06 brought 90 newcomers" in camp["prompts"][0]["saw"]
    result = build(synth_ws, tmp_path / "r.html")
    assert result.communities == 6 and result.bytes < 10_000_000
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    for cid in got:
        assert f'id="c-{cid}-verdict"' in html and f'id="c-{cid}-next"' in html
    assert 'id="portfolio"' in html and 'id="appendix"' in html


def test_one_community_and_one_month(synth_ws, tmp_path):
    result = build(synth_ws, tmp_path / "one.html", community="healthy", period="2025-06")
    html = (tmp_path / "one.html").read_text(encoding="utf-8")
    assert result.communities == 1 and 'id="portfolio"' not in html
    assert 'Analytics Guild <span class="sub">· 2025-06' in html
    assert "2025-07" not in re.search(r'id="chart-healthy-mix-time".*?</figure>', html, re.S).group(0)
    with pytest.raises(LookupError, match="no community 'nope'"):
        build(synth_ws, tmp_path / "x.html", community="nope")


def test_names_appear_only_where_the_workspace_allows(synth_ws):
    f = gather(synth_ws, community="healthy")
    c = f["communities"][0]
    if c["champions"] is None:
        pytest.skip("diagnosis.champions is not there yet")
    assert all(ch["label"].startswith("Member ") for ch in c["champions"])
    assert "pseudonym" in render(copy.deepcopy(f))


def test_cli_report_and_its_errors(synth_ws, tmp_path):
    from covalue.cli import app

    runner = CliRunner()
    out = tmp_path / "cli.html"
    r = runner.invoke(app, ["report", "-w", str(synth_ws.path), "-o", str(out), "-c", "workgroup"])
    assert r.exit_code == 0, r.output
    assert "Report for 1 community" in r.output and out.exists()
    r = runner.invoke(app, ["report", "-w", str(synth_ws.path), "--period", "2025-13"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["report", "-w", str(synth_ws.path), "-c", "nope", "-o", str(tmp_path / "n.html")])
    assert r.exit_code == 2 and not (tmp_path / "n.html").exists()
    assert Path(out).stat().st_size > 1_000_000


def test_the_page_inlines_the_rules_it_shares_with_the_web_app_before_its_own():
    html = render(facts(community("a")))
    common = (Path(covalue.__file__).parent / "report" / "templates" / "common.css").read_text()
    shared = html.index(".verdict { font-size: 16px;")
    assert html.count(".verdict { font-size: 16px;") == 1
    assert shared < html.index("header.top {")  # the report's own rules come after, so they win
    assert html.index(common.splitlines()[-1]) > shared
