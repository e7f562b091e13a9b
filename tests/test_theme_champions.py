"""Coaching names the members who answer a waiting question's theme, and fast: a planted theme expert is
named over a quicker champion of another theme, a slow expert and a one-off answerer; on the real
exports every member named answered questions of the waiting themes or their space."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from covalue import models
from covalue.report import coaching

MODEL = models.load("coaching")
TH = MODEL["findings"]

HOPS = {"label": "hops", "terms": ["hops", "ipa", "bitterness", "dry"]}
WINE = {"label": "wine", "terms": ["wine", "grape", "tannin", "red"]}


def _answers(member: str, text: str, hours: list[float], space: str = "site") -> list[dict[str, Any]]:
    return [
        {
            "member_id": member,
            "label": f"Member {member}",
            "question_id": f"q-{member}-{i}",
            "text": text,
            "space": space,
            "space_kind": "site",
            "hours": h,
        }
        for i, h in enumerate(hours)
    ]


def _community() -> dict[str, Any]:
    waiting = [
        {
            "item_id": f"w{i}",
            "title": t,
            "created_at": f"2020-0{i + 3}-10 12:00",
            "space": "site",
            "space_kind": "site",
        }
        for i, t in enumerate(
            ["How much dry hops for an IPA?", "Why is my IPA bitterness harsh?", "Dry hops in the keg?"]
        )
    ]
    answers = (
        _answers("expert", "Dry hopping an IPA: how long?", [1.0, 2.0, 3.0, 2.5])
        + _answers("quick", "Which red wine has soft tannin?", [0.2, 0.3, 0.4, 0.1, 0.2, 0.3])
        + _answers("slow", "Hops bitterness in a pale IPA", [90.0, 120.0, 200.0, 60.0, 80.0])
        + _answers("once", "Hops for a dry IPA", [0.1])
    )
    return {
        "id": "c",
        "name": "Brewers",
        "period": "2020-05",
        "window_days": 90,
        "mix": {"active": 40, "connect": 10, "share": 10, "solve": 15, "innovate": 5},
        "health": {
            "shape": {"shape": "community"},
            "responsiveness": {"questions": 12, "answered": 5, "unanswered": 7, "ttfr_median_h": 6.0},
            "concentration": {},
            "unanswered": waiting,
        },
        "dynamics": {},
        "checks": [],
        # by speed alone "quick" would lead: the theme must decide
        "champions": [
            {"member_id": "quick", "label": "Member quick", "median_response_h": 0.3},
            {"member_id": "expert", "label": "Member expert", "median_response_h": 2.2},
        ],
        "resonance": {"question_themes": [HOPS, WINE], "unanswered_themes": [HOPS]},
        "answers": answers,
    }


def test_the_planted_theme_expert_is_named_and_the_others_are_not() -> None:
    c = _community()
    themes = coaching.waiting_themes(c, TH)
    assert [t["label"] for t in themes] == ["hops"] and len(themes[0]["questions"]) == 3
    experts = coaching.theme_champions(c, themes, TH)
    assert [(e["member_id"], e["answers"]) for e in experts] == [("expert", 4)]
    assert experts[0]["median_h"] == pytest.approx(statistics.median([1.0, 2.0, 3.0, 2.5]))
    cards = coaching.next_steps(c, model=MODEL)
    card = next(p for p in cards if p["finding"] == "unanswered")
    actions = " ".join(card["actions"])
    assert "Member expert (4 answers, half within 2.2 hours)" in actions
    # the quick champion of another theme is not sent to these questions, nor is the fallback line shown
    assert "Member quick" not in actions.split("rota")[0] and "{" not in actions
    assert "Member slow" not in actions and "Member once" not in actions


def test_without_a_theme_expert_the_quick_champions_take_the_questions() -> None:
    c = _community()
    c["answers"] = [a for a in c["answers"] if a["member_id"] in ("quick", "once")]
    card = next(p for p in coaching.next_steps(c, model=MODEL) if p["finding"] == "unanswered")
    actions = " ".join(card["actions"])
    assert "answered questions like these" not in actions
    assert "Ask the champions who answer quickly (Member quick, Member expert)" in actions


def test_an_expert_by_space_in_a_chat_community() -> None:
    c = _community()
    for q in c["health"]["unanswered"]:
        q["space"], q["space_kind"] = "brewing", "channel"
    # answers with no theme words, but in the channel where the waiting questions are
    c["answers"] = _answers("regular", "anyone around tonight", [1.0, 4.0, 5.0])
    for a in c["answers"]:
        a["space"], a["space_kind"] = "brewing", "channel"
    c["answers"] += _answers("elsewhere", "anyone around tonight", [1.0, 1.0, 1.0])
    experts = coaching.theme_champions(c, coaching.waiting_themes(c, TH), TH)
    assert [e["member_id"] for e in experts] == ["regular"]


@pytest.fixture
def three(three_reports: dict[str, Any]) -> dict[str, Any]:
    return three_reports


def test_on_the_real_exports_named_members_answered_the_waiting_themes(three: dict[str, Any]) -> None:
    named = 0
    for name, c in three.items():
        assert c["answers"], f"{name}: no answers gathered"
        themes = coaching.waiting_themes(c, TH)
        experts = coaching.theme_champions(c, themes, TH)
        labels = {t["label"] for t in themes}
        spaces = {q.get("space") for t in themes for q in t["questions"] if q.get("space_kind") != "site"}
        every = c["resonance"]["question_themes"]
        for e in experts:
            mine = [a for a in c["answers"] if a["member_id"] == e["member_id"]]
            fit = [
                a
                for a in mine
                if a["space"] in spaces
                or coaching._best_theme(set(coaching._WORD.findall(a["text"].lower())), every) in labels
            ]
            assert len(fit) == e["answers"] >= 2, (name, e)
            assert statistics.median(a["hours"] for a in fit) == pytest.approx(e["median_h"])
            assert e["median_h"] <= TH["slow_response_hours"]
            card = next(p for p in coaching.next_steps(c) if p["waiting"])
            assert e["label"] in " ".join(card["actions"])
            named += 1
    assert named >= 1, "no member named for a waiting theme on any of the three exports"
