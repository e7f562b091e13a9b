"""Coaching that reads the data and the canvas: on the three real exports the prompts name the themes
and questions still waiting (with a link where the export has one), cite nothing older than a year,
never put a slow champion on a response rota, and move on once the canvas holds goals, experiments or
stories."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from covalue import models
from covalue.canvas.coaching import canvas_state
from covalue.item_links import item_link
from covalue.report import coaching

MODEL = models.load("coaching")


@pytest.fixture
def three(three_reports: dict[str, Any]) -> dict[str, Any]:
    return three_reports


def _cut(period: str) -> str:
    y, m = (int(x) for x in period.split("-"))
    idx = y * 12 + m - 12  # the first month of the twelve up to the end of the period
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


def test_prompts_name_waiting_questions_and_themes_per_community(three: dict[str, Any]) -> None:
    assert set(three) == {"beer.stackexchange.com", "houstondatavis", "ncar-zulip-archive"}
    texts = {}
    for name, c in three.items():
        cards = coaching.next_steps(c)
        about = [p for p in cards if p["waiting"]]
        assert about, f"{name}: no prompt names a waiting question"
        p = about[0]
        text = " ".join([p["saw"], *p["questions"], *p["actions"]])
        # a theme of the unanswered questions, as the resonance section names it
        labels = [t["label"] for t in c["resonance"]["unanswered_themes"]]
        assert any(f"“{lb}”" in text for lb in labels), f"{name}: no theme named in {text!r}"
        # two or three of the questions actually waiting, by their own titles
        waiting_ids = {q["item_id"] for q in c["health"]["unanswered"]}
        assert 2 <= len(p["waiting"]) <= 3
        for q in p["waiting"]:
            assert q["item_id"] in waiting_ids
            assert f"“{q['title']}”" in text
            # nothing older than twelve months before the end of the period
            assert q["date"][:7] >= _cut(c["period"]), (name, q)
        texts[name] = text
    assert len(set(texts.values())) == 3  # the prompts differ between communities
    # where the waiting questions are: the channel or stream where most of those still waiting were
    # asked (the line is left out when they spread evenly)
    named = 0
    for name, kind in (("houstondatavis", "channel"), ("ncar-zulip-archive", "stream")):
        p = next(p for p in coaching.next_steps(three[name]) if p["waiting"])
        asked = " ".join(p["questions"])
        m = re.search(rf"Most of them wait in the {kind} “([^”]+)”", asked)
        if m:
            spaces = [q.get("space") for q in three[name]["health"]["unanswered"]]
            # the space named holds at least two of the unanswered questions
            assert spaces.count(m.group(1)) >= 2, (name, m.group(1))
            named += 1
    assert named >= 1  # at least one of the two exports has a channel or stream where most wait


def test_links_where_the_export_has_them(three: dict[str, Any]) -> None:
    beer = next(p for p in coaching.next_steps(three["beer.stackexchange.com"]) if p["waiting"])
    for q in beer["waiting"]:
        tail = q["item_id"].rsplit(":", 1)[1]
        assert q["link"] == f"https://beer.stackexchange.com/q/{tail}"
    # the Zulip archive's messages link to their realm's streams: its waiting questions link there
    ncar = next(p for p in coaching.next_steps(three["ncar-zulip-archive"]) if p["waiting"])
    assert all(q["link"].startswith("https://zulip2.cloud.ucar.edu/#narrow/stream/") for q in ncar["waiting"])
    assert item_link("stackexchange:beer-stackexchange-com:c12", "beer.stackexchange.com") == (
        "https://beer.stackexchange.com/posts/comments/12"
    )
    assert item_link("slack:hdv:C1:123.4", "hdv") is None


def test_slow_champion_never_on_a_response_rota(three: dict[str, Any]) -> None:
    c = copy.deepcopy(three["beer.stackexchange.com"])
    slow = [ch for ch in c["champions"] if (ch["median_response_h"] or 0) > 24]
    assert slow, "the Beer export has a champion slow to answer (median over a day)"
    actions = " ".join(a for p in coaching.next_steps(c) for a in p["actions"])
    assert "rota" in actions
    for ch in slow:
        assert ch["label"] not in actions
    # nobody quick: the rota is not proposed at all rather than proposed to the slow
    for ch in c["champions"]:
        ch["median_response_h"] = 100.0
    actions = " ".join(a for p in coaching.next_steps(c) for a in p["actions"])
    assert "rota" not in actions and "{fast_champions}" not in actions


def test_old_spike_is_history_not_a_prompt(three: dict[str, Any]) -> None:
    c = copy.deepcopy(three["houstondatavis"])  # period 2016-07
    spike = {"month": "2014-03", "newcomers": 40, "still_active": [0.5, 0.1, 0.05]}
    c["dynamics"]["spikes"] = [spike]
    assert "spike_faded" not in [f["key"] for f in coaching.findings(c, MODEL)]
    c["dynamics"]["spikes"] = [{**spike, "month": "2016-03"}]
    assert "spike_faded" in [f["key"] for f in coaching.findings(c, MODEL)]


def test_prompts_move_on_with_the_canvas(three: dict[str, Any]) -> None:
    c = three["ncar-zulip-archive"]

    def step(canvas: dict[str, Any]) -> dict[str, Any]:
        return next(p for p in coaching.next_steps(c, canvas) if p["finding"].startswith("canvas_"))

    assert step({})["finding"] == "canvas_empty"
    goals = {"goals": ["Faster onboarding of new HPC users"]}
    with_goal = step(goals)
    assert any("Who will lead the first experiment" in q for q in with_goal["questions"])
    running = {**goals, "experiments": [{"title": "Office hours on Fridays", "status": "running"}]}
    later = [step(running), step({**running, "stories": ["A student ran CESM in a week"]})]
    for p in later:
        text = " ".join([p["title"], p["saw"], *p["questions"], *p["actions"]])
        assert "first experiment" not in text
    assert "Office hours on Fridays" in later[0]["saw"]
    assert "A student ran CESM in a week" in later[1]["saw"]
    # without a canvas there is no canvas card, and no prompt asks for a first experiment either
    plain = coaching.next_steps(c)
    assert not [p for p in plain if p["finding"].startswith("canvas_")]


def test_canvas_state_reads_the_store(store) -> None:
    from covalue.store import collaboration as cs

    with store.session() as db:
        assert canvas_state(db, "c1") == {"goals": [], "experiments": [], "stories": []}
        cs.create(db, "experiment", "manager", community_id="c1", title="Pair newcomers", status="running")
        db.commit()
        got = canvas_state(db, "c1")
    assert got["experiments"] == [{"title": "Pair newcomers", "status": "running"}]
