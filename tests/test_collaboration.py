"""The Collaboration canvas and the coaching loop (issue 9): the question bank's coverage, the merge of
simultaneous edits and the history, experiments whose participants reach Innovate after the analysis
runs again, stories and their matrix, re-measure, the sponsor page and the report section — on the
synthetic organisation through FastAPI's TestClient, and on the store alone (SQLite; PostgreSQL when
``COVALUE_TEST_POSTGRES_URL`` is set)."""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator
from datetime import date, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import inspect

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import covalue
from covalue import analysis, synth
from covalue.canvas import coaching, stories
from covalue.canvas import collaboration as cc
from covalue.store import Base, Store
from covalue.store import accounts as acc
from covalue.store import collaboration as cs
from covalue.web.app import create_app

PASSWORD = "a long test password"
SHAPES = ("community", "single voice", "broadcast", "workgroup", "dormant")
ELEMENTS = ("alignment", "personal", "experiment", "learning", "discuss")


# -- the question bank ---------------------------------------------------------------------------------
def test_question_bank_covers_every_stage_shape_and_element() -> None:
    bank = coaching.bank()
    cov = coaching.coverage(bank)
    assert set(cov["stages"]) == set(coaching.STAGE_ORDER)
    assert set(cov["shapes"]) == set(SHAPES)
    assert set(cov["elements"]) == set(ELEMENTS)
    gaps = [f"{k}:{n}" for part in cov.values() for n, c in part.items() if c == 0 for k in [n]]
    assert not gaps, f"named by no question: {gaps}"
    sections = {s["key"] for s in cc.SECTIONS} | {"stories"}
    for q in bank["question"]:
        assert q["section"] in sections, q
        assert q["element"] in ELEMENTS, q
        assert set(q["stages"]) <= set(coaching.STAGE_ORDER), q
        assert set(q["shapes"]) <= set(SHAPES), q
    # every combination a community can be in gets questions in every canvas section
    for stage in coaching.STAGE_ORDER:
        for shape in SHAPES:
            got = coaching.questions_for(stage, shape, model=bank)
            for sec in sections:
                assert got.get(sec), f"no {sec} question for {stage} / {shape}"
                assert len(got[sec]) <= bank["max_per_section"]


def test_questions_prefer_the_specific_and_follow_the_shape() -> None:
    got = coaching.questions_for("observer", "dormant")
    texts = [q["text"] for q in got["goals"]]
    assert texts[0].startswith("Is there still a shared job"), texts  # the dormant-only question first
    assert not any("closed team" in t for t in texts)  # the workgroup question stays out
    assert coaching.community_stage({"observer": 3, "connect": 5, "share": 5}) == "connect"
    assert coaching.community_stage({}) == "observer"


# -- the merge -------------------------------------------------------------------------------------------
def test_merge3_keeps_both_sides() -> None:
    base = {"text": "a", "owner": "", "link": "", "items": ["x"]}
    theirs = {"text": "a", "owner": "Ana", "link": "", "items": ["x", "y"]}
    mine = {"text": "b", "owner": "", "link": "sv:1", "items": ["z"]}
    merged, conflicts = cc.merge3(base, theirs, mine)
    assert merged == {"text": "b", "owner": "Ana", "link": "sv:1", "items": ["y", "z"]}
    assert conflicts == ["items"]
    merged, conflicts = cc.merge3({"text": "a"}, {"text": "theirs"}, {"text": "mine"})
    assert merged["text"] == "theirs" + cc.MERGE_MARK + "mine" and conflicts == ["text"]


@given(
    base=st.text(max_size=8),
    theirs=st.text(max_size=8),
    mine=st.text(max_size=8),
)
def test_merge3_never_loses_a_text(base: str, theirs: str, mine: str) -> None:
    merged, _ = cc.merge3({"text": base}, {"text": theirs}, {"text": mine})
    # whatever either side changed survives in the merged text
    if theirs != base:
        assert theirs in merged["text"]
    if mine != base:
        assert mine in merged["text"]


# -- the store: versions, merge, history ---------------------------------------------------------------
def test_migration_matches_the_models(store: Store) -> None:
    with store.engine.connect() as con:
        diff = [
            d for d in compare_metadata(MigrationContext.configure(con), Base.metadata) if "cc_" in str(d)
        ]
        names = set(inspect(con).get_table_names())
    assert {"cc_entries", "cc_experiments", "cc_participants", "cc_stories", "cc_revisions"} <= names
    assert diff == [], diff


def _entry(store: Store, text: str = "Share our playbooks with the field") -> int:
    with store.session() as db:
        e = cs.create(
            db,
            "entry",
            "a@x.org",
            community_id="c",
            period="2025-12",
            section="goals",
            kind="goal",
            text=text,
        )
        return e.id  # type: ignore[attr-defined]


def test_two_people_edit_the_same_line_at_once_and_nothing_is_lost(store: Store) -> None:
    eid = _entry(store)
    # both opened version 1; Ana saves first, then Ben, who never saw Ana's change
    with store.session() as a, store.session() as b:
        assert a.get(cs.CcEntry, eid).version == b.get(cs.CcEntry, eid).version == 1
        cs.save(a, "entry", eid, 1, {"text": "Share playbooks with field teams", "owner": "Ana"}, "ana@x.org")
        a.commit()
        _obj, conflicts = cs.save(
            b, "entry", eid, 1, {"text": "Share our playbooks monthly", "link": "sv:4"}, "ben@x.org"
        )
        b.commit()
    assert conflicts == ["text"]
    with store.session() as db:
        e = db.get(cs.CcEntry, eid)
        assert e.version == 3
        assert e.owner == "Ana" and e.link == "sv:4"  # the fields only one changed: each kept
        assert "Share playbooks with field teams" in e.text and "Share our playbooks monthly" in e.text
        hist = cs.history(db, "entry", eid)
    assert [h.version for h in hist] == [1, 2, 3]
    assert [h.by_email for h in hist] == ["a@x.org", "ana@x.org", "ben@x.org"]
    assert hist[0].data["text"] == "Share our playbooks with the field"
    assert hist[1].data["text"] == "Share playbooks with field teams" and hist[2].conflicts == ["text"]


def test_simultaneous_saves_from_threads_all_land(store: Store) -> None:
    eid = _entry(store, "")
    fields = ["text", "detail", "owner", "link"]
    start = threading.Barrier(len(fields))
    errors: list[BaseException] = []

    def edit(field: str) -> None:
        try:
            start.wait()
            with store.session() as db:
                cs.save(db, "entry", eid, 1, {field: f"by {field}"}, f"{field}@x.org")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=edit, args=(f,)) for f in fields]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    with store.session() as db:
        e = db.get(cs.CcEntry, eid)
        assert {f: getattr(e, f) for f in fields} == {f: f"by {f}" for f in fields}
        assert e.version == 1 + len(fields)
        assert len(cs.history(db, "entry", eid)) == 1 + len(fields)


def test_participant_rows_count_only_completed_experiments() -> None:
    done = datetime(2026, 1, 10, 9)
    exps = [
        {
            "id": 1,
            "community_id": "c",
            "status": "completed",
            "ends_on": date(2025, 12, 31),
            "completed_at": done,
        },
        {"id": 2, "community_id": "c", "status": "running", "ends_on": None, "completed_at": None},
        {"id": 3, "community_id": "d", "status": "completed", "ends_on": None, "completed_at": done},
    ]
    rows = cc.participant_rows(exps, {1: ["m2", "m1", "m1"], 2: ["m3"], 3: ["m4"]})
    assert [(r["member_id"], r["community_id"], r["experiment_id"]) for r in rows] == [
        ("m1", "c", 1),
        ("m2", "c", 1),
        ("m4", "d", 3),
    ]
    assert rows[0]["completed_at"] == datetime(2025, 12, 31, 23, 59, 59)  # credited to the window it ran in
    assert rows[2]["completed_at"] == done


def test_stories_matrix_and_cycles() -> None:
    s1 = {"id": 1, "title": "Faster onboarding", "immediate": "Q answered", "applied": "new checklist"}
    s2 = {"id": 2, "title": "Reframed", "reframing": "success is reuse"}
    assert stories.cycles_of(s1) == ["immediate", "applied"] and stories.furthest(s2) == "reframing"
    m = stories.matrix([s1, s2], {"mix": {"active": 10, "solve": 4}, "health": {}})
    per = {c["cycle"]: c for c in m["cycles"]}
    assert [per[k]["stories"] for k in stories.CYCLES] == [1, 0, 1, 0, 1]
    assert per["applied"]["indicators"] == ["4 members helped solve a problem"]
    one = stories.one_pager(None, goals=[], shared_value=[], stories=[s1, s2], experiments=[])
    assert [s["title"] for s in one["stories"]] == ["Reframed", "Faster onboarding"]  # furthest cycle first


# -- the loop through the web app ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("collab") / "ws"
    ws = covalue.init(path)
    synth.generate().write(ws)
    analysis.analyze(ws)
    ws.close()
    store = Store.open(path)
    with store.session() as db:
        acc.add_user(db, "manager@example.org", "manager", community="healthy", password=PASSWORD)
        acc.add_user(db, "sponsor@example.org", "sponsor", community="healthy", password=PASSWORD)
    store.dispose()
    with TestClient(create_app(path)) as c:
        yield c


def _login(c: TestClient, email: str) -> str:
    c.cookies.clear()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    return c.get("/api/me").json()["csrf_token"]


def test_the_loop_moves_participants_to_innovate_and_the_story_reaches_the_report(client: TestClient) -> None:
    h = {"X-CSRF-Token": _login(client, "manager@example.org")}
    canvas = client.get("/api/c/healthy/canvas").json()
    assert [s["key"] for s in canvas["sections"]] == ["goals", "opportunities", "capability", "roles"]
    assert all(s["questions"] and s["evidence"] for s in canvas["sections"])
    assert canvas["role_suggestions"] and canvas["role_suggestions"][0]["kind"] == "leader"
    strat = client.post(
        "/api/c/healthy/canvas/entries",
        json={"kind": "strategic", "text": "Cut time to competence"},
        headers=h,
    )
    assert strat.status_code == 201
    goal = client.post(
        "/api/c/healthy/canvas/entries",
        json={"kind": "goal", "text": "Newcomers productive in a month", "link": f"cc:{strat.json()['id']}"},
        headers=h,
    ).json()
    assert goal["section"] == "goals" and goal["period"] == "2025-12"

    t = client.app.state.site.ws  # type: ignore[attr-defined]
    with client.app.state.site.lock:  # type: ignore[attr-defined]
        solvers = [
            r[0]
            for r in t.raw.execute(
                "SELECT member_id FROM member_stages WHERE community_id='healthy' AND period='2025-12' "
                "AND stage='solve' ORDER BY member_id LIMIT 3"
            ).fetchall()
        ]
    assert len(solvers) == 3
    bad = client.post(
        "/api/c/healthy/experiments", json={"title": "x", "participants": ["m_nobody"]}, headers=h
    )
    assert bad.status_code == 400 and "m_nobody" in bad.json()["detail"]
    exp = client.post(
        "/api/c/healthy/experiments",
        json={
            "title": "Pair newcomers with a buddy",
            "hypothesis": "a buddy gets newcomers to their first answer sooner",
            "target": "solve",
            "starts_on": "2025-12-01",
            "ends_on": "2025-12-31",
            "participants": solvers,
        },
        headers=h,
    ).json()
    assert exp["participants"] == sorted(solvers) and exp["status"] == "running"
    done = client.post(
        f"/api/c/healthy/experiments/{exp['id']}",
        json={"action": "complete", "outcome": "4 of 5 answered"},
        headers=h,
    ).json()
    assert done["status"] == "completed" and done["outcome"] == "4 of 5 answered"
    with client.app.state.site.lock:  # type: ignore[attr-defined]
        written = t.raw.execute(
            "SELECT member_id, completed_at FROM experiment_participants ORDER BY 1"
        ).fetchall()
    assert [w[0] for w in written] == sorted(solvers)
    assert all(w[1] == datetime(2025, 12, 31, 23, 59, 59) for w in written)

    with client.app.state.site.lock:  # type: ignore[attr-defined]
        item = t.raw.execute("SELECT min(item_id) FROM items WHERE community_id='healthy'").fetchone()[0]
    body = {
        "title": "Buddies cut the wait",
        "immediate": "newcomers got answers",
        "applied": "teams adopted the buddy checklist",
        "experiment_id": exp["id"],
        "goal_link": f"cc:{goal['id']}",
        "items": [item, "no-such-item"],
        "members": solvers[:1],
    }
    bad = client.post("/api/c/healthy/stories", json=body, headers=h)
    assert bad.status_code == 400 and "no-such-item" in bad.json()["detail"]
    story = client.post("/api/c/healthy/stories", json={**body, "items": [item]}, headers=h).json()
    assert story["cycles"] == ["immediate", "applied"]
    assert story["items"] == [item] and story["members"] == solvers[:1]

    res = client.post("/api/c/healthy/analyse", headers=h).json()
    assert res["participants_written"] == 3
    with client.app.state.site.lock:  # type: ignore[attr-defined]
        after = dict(
            t.raw.execute(
                "SELECT member_id, stage FROM member_stages WHERE community_id='healthy' AND period='2025-12' "
                f"AND member_id IN ({','.join('?' * 3)})",
                solvers,
            ).fetchall()
        )
    assert after == dict.fromkeys(solvers, "innovate")
    page = client.get("/c/healthy/experiments").text
    assert page.count('now at <b class="stage-now">Innovate</b>') == 3

    re_rows = client.get("/api/c/healthy/remeasure").json()["experiments"]
    assert re_rows[0]["before"]["period"] == "2025-11" and re_rows[0]["after"]["period"] == "2025-12"
    assert re_rows[0]["after"]["mix"]["innovate"] >= re_rows[0]["before"]["mix"]["innovate"]
    assert "not what it caused" in client.get("/c/healthy/remeasure").text

    sponsor = client.get("/api/c/healthy/sponsor").json()
    assert [s["title"] for s in sponsor["stories"]] == ["Buddies cut the wait"]
    assert sponsor["experiments"][0]["participants"] == 3
    assert {g["text"] for g in sponsor["goals"]} >= {
        "Cut time to competence",
        "Newcomers productive in a month",
    }

    from covalue.report.build import add_sections, gather

    with client.app.state.site.lock:  # type: ignore[attr-defined]
        facts = gather(t, community="healthy")
        add_sections(t, facts)
    sec = [s for s in facts["communities"][0]["extra_sections"] if s["key"] == "collaboration"]
    assert (
        sec and "Buddies cut the wait" in sec[0]["html"] and "Pair newcomers with a buddy" in sec[0]["html"]
    )


def test_sponsor_reads_but_cannot_edit(client: TestClient) -> None:
    h = {"X-CSRF-Token": _login(client, "sponsor@example.org")}
    assert client.get("/c/healthy/canvas").status_code == 200
    assert client.get("/c/healthy/sponsor").status_code == 200
    r = client.post("/api/c/healthy/canvas/entries", json={"kind": "goal", "text": "x"}, headers=h)
    assert r.status_code == 403
    exps = client.get("/api/c/healthy/experiments").json()
    assert all(isinstance(e["participants"], int) for e in exps)  # no member ids for a sponsor
    assert client.get("/c/broadcast/canvas").status_code == 403


def test_web_edits_on_a_stale_version_are_merged(client: TestClient) -> None:
    h = {"X-CSRF-Token": _login(client, "manager@example.org")}
    e = client.post(
        "/api/c/healthy/canvas/entries", json={"kind": "barrier", "text": "No time"}, headers=h
    ).json()
    one = client.patch(
        f"/api/c/healthy/canvas/entries/{e['id']}",
        json={"version": 1, "changes": {"owner": "Sponsor"}},
        headers=h,
    )
    two = client.patch(
        f"/api/c/healthy/canvas/entries/{e['id']}",
        json={"version": 1, "changes": {"text": "No time given"}},
        headers=h,
    )
    assert one.status_code == two.status_code == 200
    assert two.json()["owner"] == "Sponsor" and two.json()["text"] == "No time given"
    assert two.json()["version"] == 3 and two.json()["merged_conflicts"] == []
    hist = client.get(f"/api/c/healthy/canvas/entries/{e['id']}/history").json()
    assert [r["data"]["text"] for r in hist] == ["No time", "No time", "No time given"]
    bad = client.patch(
        f"/api/c/healthy/canvas/entries/{e['id']}",
        json={"version": 3, "changes": {"section": "x"}},
        headers=h,
    )
    assert bad.status_code == 400
    no_csrf = client.patch(
        f"/api/c/healthy/canvas/entries/{e['id']}", json={"version": 3, "changes": {"text": "y"}}
    )
    assert no_csrf.status_code == 403


def test_organisation_goals_come_from_the_shared_value_canvas(client: TestClient) -> None:
    from covalue.store.shared_value import SvGoal

    site = client.app.state.site  # type: ignore[attr-defined]
    with site.store.session() as db:
        db.add(
            SvGoal(
                community_id="healthy", text="Reduce repeat incidents", kind="adoption", driver="protection"
            )
        )
        db.add(
            SvGoal(community_id="broadcast", text="Not this community's goal", kind="other", driver="growth")
        )
    _login(client, "manager@example.org")
    goals = client.get("/api/c/healthy/canvas").json()["strategic_goals"]
    sv = [g for g in goals if g["origin"] == "Shared Value canvas"]
    assert [(g["text"], g["driver"]) for g in sv] == [("Reduce repeat incidents", "protection")]
    page = client.get("/c/healthy/canvas").text
    assert "Organisation goals from the Shared Value canvas" in page and "Reduce repeat incidents" in page
    assert "Not this community" not in page
