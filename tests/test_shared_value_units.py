"""Shared Value in honest units: survey respondents and the distinct members who asked a theme are
two counts, kept apart from the store to the page, each person counted once through merges; and the
question themes of a real export become candidate needs counted in people."""

from __future__ import annotations

from pathlib import Path

import pytest

import covalue
from covalue.canvas import shared_value as sv
from covalue.canvas import shared_value_export as export
from covalue.canvas.shared_value_data import question_themes
from covalue.store import Store
from covalue.store import shared_value as svs

ASKERS = [f"m_{i:04x}" for i in range(40)]


def _plant(db) -> tuple[list[int], int, int]:
    """Three survey answers about onboarding, a data theme asked 113 times by 40 people, one goal."""
    survey = svs.create_survey(db, "alpha", "What do you need?", None)
    for i, text in enumerate(["A faster way in for newcomers", "Help getting started", "Onboarding buddies"]):
        svs.answer(db, survey, need=text, client=f"client-{i}")
    found = sv.needs_from_themes(
        [
            {
                "label": "access, account, login",
                "terms": ["access", "account", "login"],
                "n_questions": 113,
                "unanswered": 12,
                "askers": ASKERS * 3,  # people ask more than once: 40 people, not 120
                "typical": "How do I get access to the shared cluster as a new starter?",
            }
        ]
    )
    (n,) = found
    data = svs.add_need(db, "alpha", n["text"], "data", voices=n["askers"], evidence=n["evidence"]).id
    goal = svs.add_goal(
        db, "alpha", "New starters productive in their first month", "adoption", "velocity"
    ).id
    needs = [r.id for r in db.scalars(svs.select(svs.SvNeed).where(svs.SvNeed.origin != "data"))]
    return needs, data, goal


def test_three_respondents_and_forty_askers_never_forty_three(store: Store) -> None:
    with store.session() as db:
        survey_needs, data_need, goal = _plant(db)
        assert len(survey_needs) == 3
        svs.review_need(db, "alpha", data_need, "accept")
        for nid in [*survey_needs, data_need]:
            svs.review_match(db, "alpha", nid, goal, "confirmed")
    data = export.canvas_data(store, "alpha")
    cv = data["canvas"]
    assert cv["people"]["respondents"]["total"] == 3
    assert cv["people"]["askers"]["total"] == 40
    (spot,) = cv["sweet_spot"]
    assert (spot["respondents"], spot["askers"]) == (3, 40)
    html = export.render_section(data)
    assert "3 survey respondents" in html and "40 members who asked" in html
    assert "43" not in html
    assert "3 of 3 survey respondents (100%) and 40 of 40 members who asked (100%)" in cv["advice"]
    # no member id leaves the store with the export
    assert "m_0001" not in export.to_json(data).decode()

    # merging the three survey needs into the data theme keeps both counts, each person once
    with store.session() as db:
        for nid in survey_needs:
            svs.review_need(db, "alpha", nid, "merge", into_id=data_need)
        st = svs.state(db, "alpha")
    merged = {n["id"]: n for n in st["needs"]}[data_need]
    assert (merged["respondents"], merged["askers"]) == (3, 40)
    assert (merged["own_respondents"], merged["own_askers"]) == (0, 40)
    cv = sv.canvas(st["needs"], st["goals"], st["reviews"])
    assert (cv["people"]["respondents"]["total"], cv["people"]["askers"]["total"]) == (3, 40)
    # one need matched: a small overlap by the count of needs, stated per measure all the same
    assert cv["small_overlap"] and "3 of 3 survey respondents" in cv["advice"]


def test_small_overlap_is_decided_on_people_per_measure() -> None:
    needs = [
        {"id": 1, "text": "a", "status": "accepted", "people": {"respondents": ["r1"], "askers": []}},
        {"id": 2, "text": "b", "status": "accepted", "people": {"respondents": ["r2", "r3"], "askers": []}},
        {"id": 3, "text": "c", "status": "accepted", "people": {"respondents": [], "askers": ["x1", "x2"]}},
        # the same member asked about two themes: one person in the askers' total
        {"id": 4, "text": "d", "status": "accepted", "people": {"respondents": [], "askers": ["x2", "x3"]}},
    ]
    goals = [{"id": 9, "text": "g", "kind": "other", "driver": "growth"}]
    ok = [
        {"need_id": 2, "goal_id": 9, "verdict": "confirmed"},
        {"need_id": 4, "goal_id": 9, "verdict": "confirmed"},
    ]
    cv = sv.canvas(needs, goals, ok)
    assert cv["people"]["respondents"] == {"total": 3, "shared": 2, "share": pytest.approx(2 / 3)}
    assert cv["people"]["askers"] == {"total": 3, "shared": 2, "share": pytest.approx(2 / 3)}
    assert not cv["small_overlap"]
    few = [
        {"need_id": 1, "goal_id": 9, "verdict": "confirmed"},
        {"need_id": 4, "goal_id": 9, "verdict": "confirmed"},
    ]
    cv = sv.canvas(needs, goals, few)
    # 1 of 3 respondents (33%) and 2 of 3 askers: neither below the bar, so not small
    assert not cv["small_overlap"]
    low = [
        {"need_id": 1, "goal_id": 9, "verdict": "confirmed"},
        {"need_id": 3, "goal_id": 9, "verdict": "confirmed"},
    ]
    needs[2]["people"] = {"respondents": [], "askers": ["x1"]}
    needs.append(
        {
            "id": 5,
            "text": "e",
            "status": "accepted",
            "people": {"respondents": ["r4", "r5", "r6", "r7"], "askers": ["x4", "x5"]},
        }
    )
    cv = sv.canvas(needs, goals, low)
    assert cv["people"]["respondents"]["share"] == pytest.approx(1 / 7)
    assert cv["people"]["askers"]["share"] == pytest.approx(1 / 5)
    assert (
        cv["small_overlap"]
        and "1 of 7 survey respondents (14%) and 1 of 5 members who asked (20%)" in cv["advice"]
    )


def test_beer_question_themes_become_needs_counted_in_people(tmp_path: Path, shared_data: Path) -> None:
    ws = covalue.init(tmp_path / "ws")
    ws.ingest([shared_data / "stackexchange/beer.stackexchange.com.7z"])
    ws.analyze()
    try:
        themes = question_themes(ws, "beer-stackexchange-com")
        root_q = ws.raw.execute(
            "SELECT count(DISTINCT author_id) FROM items WHERE community_id = 'beer-stackexchange-com' "
            "AND kind = 'question'"
        ).fetchone()[0]
    finally:
        ws.close()
    assert themes
    found = sv.needs_from_themes(themes)
    assert found
    for t in themes:
        assert 0 < len(t["askers"]) <= t["n_questions"]
        assert len(t["askers"]) <= root_q
    titles = {t["typical"] for t in themes}
    for n in found:
        assert n["text"] in titles  # worded by a real question, not "Help with a, b, c"
        assert not n["text"].startswith(("Help with", "Answers about"))
        assert n["askers"] == len(set(n["evidence"]["askers"]))
    assert any(n["askers"] < n["evidence"]["n_questions"] for n in found)  # people, not questions
