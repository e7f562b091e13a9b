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
from covalue.canvas import coaching, stories
from covalue.canvas import collaboration as cc
from covalue.store import Base, Store
from covalue.store import collaboration as cs
from covalue.testing import sign_in, synthetic_site
from covalue.web.app import create_app

PASSWORD = "a long test password"
SPONSOR = ("sponsor@example.org", "sponsor", "healthy")
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
    assert {
        "cc_entries",
        "cc_experiments",
        "cc_participants",
        "cc_experiment_items",
        "cc_stories",
        "cc_revisions",
    } <= names
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


def test_participant_rows_carry_the_window_and_space_and_items_their_experiment() -> None:
    entered = datetime(2025, 11, 20, 15, 30)
    exps = [
        {
            "id": 1,
            "community_id": "c",
            "status": "completed",
            "starts_on": date(2025, 12, 1),
            "ends_on": date(2025, 12, 31),
            "created_at": entered,
            "completed_at": datetime(2026, 1, 10, 9),
            "space_id": "s:questions",
        },
        {
            "id": 2,
            "community_id": "c",
            "status": "completed",
            "starts_on": None,
            "ends_on": None,
            "created_at": entered,
            "completed_at": datetime(2025, 12, 5),
            "space_id": "",
        },
        {"id": 3, "community_id": "c", "status": "running", "created_at": entered, "completed_at": None},
    ]
    rows = cc.participant_rows(exps, {1: ["m1"], 2: ["m2"], 3: ["m3"]})
    assert [(r["member_id"], r["started_at"], r["space_id"]) for r in rows] == [
        ("m1", datetime(2025, 12, 1), "s:questions"),
        ("m2", entered, None),  # no start date: from when it was entered; no space
    ]
    items = cc.item_rows(exps, {1: ["i2", "i1", "i1"], 3: ["i9"]})
    assert items == [
        {"experiment_id": 1, "community_id": "c", "item_id": "i1"},
        {"experiment_id": 1, "community_id": "c", "item_id": "i2"},
    ]  # the running experiment's links wait until it is completed
    assert cc.window(exps[0]) == (datetime(2025, 12, 1), datetime(2025, 12, 31, 23, 59, 59))
    assert cc.window(exps[2], now=datetime(2026, 1, 1)) == (entered, datetime(2026, 1, 1))


def test_measures_to_watch_are_read_in_the_order_written() -> None:
    from covalue.canvas.remeasure import watched

    assert watched("Time to first response on newcomers' questions, then active members") == [
        "ttfr",
        "active",
    ]
    # "first answer" is the wait, not "questions answered"; a stage named counts too
    assert watched("more members at Solve; time to first answer; questions answered") == [
        "stage:solve",
        "ttfr",
        "answered",
    ]
    assert watched("response rate and how many reach Solve or beyond") == ["response_rate", "solve_plus"]
    assert (
        watched("we want people to share what they learn and connect teams") == []
    )  # ordinary words, not stages
    assert watched("how people feel about it") == [] and watched("") == []


def test_experiment_space_and_items_are_stored_and_written_to_the_workspace(
    store: Store, ws: covalue.Workspace
) -> None:
    with store.session() as db:
        exp = cs.create(
            db,
            "experiment",
            "a@x.org",
            community_id="c",
            title="Office hours in #questions",
            status="running",
            starts_on="2025-12-01",
            ends_on="2025-12-31",
            space_id="s:questions",
        )
        xid = exp.id  # type: ignore[attr-defined]
        for m in ("m2", "m1"):
            db.add(cs.CcParticipant(experiment_id=xid, member_id=m, added_by="a@x.org"))
        assert cs.link_items(db, xid, ["i2", "i1"], "a@x.org") == ["i1", "i2"]
        assert cs.link_items(db, xid, ["i1", "i3"], "b@x.org") == ["i3"]  # a link is kept once
    with store.session() as db:
        assert cs.participant_rows(db) == [] and cs.item_rows(db) == []  # not completed yet
        cs.save(db, "experiment", xid, 1, {"status": "completed"}, "a@x.org")
        db.get(cs.CcExperiment, xid).completed_at = datetime(2026, 1, 5, 8)
    with store.session() as db:
        assert cs.linked_items(db) == {xid: ["i1", "i2", "i3"]}
        assert db.get(cs.CcExperiment, xid).space_id == "s:questions"
        written = cs.sync(db, ws)
    assert written == {"participants_written": 2, "items_written": 3}
    parts = ws.raw.execute("SELECT * FROM experiment_participants ORDER BY member_id").fetch_arrow_table()
    assert parts.schema.names == [
        "member_id",
        "community_id",
        "completed_at",
        "experiment_id",
        "started_at",
        "space_id",
    ]
    assert parts.to_pylist()[0] == {
        "member_id": "m1",
        "community_id": "c",
        "completed_at": datetime(2025, 12, 31, 23, 59, 59),
        "experiment_id": xid,
        "started_at": datetime(2025, 12, 1),
        "space_id": "s:questions",
    }
    items = ws.raw.execute("SELECT * FROM experiment_items ORDER BY item_id").fetchall()
    assert items == [(xid, "c", "i1"), (xid, "c", "i2"), (xid, "c", "i3")]
    # an old caller writing participants only: the new columns are null, the linked items stay
    cs.write_participants(
        ws, [{"member_id": "m9", "community_id": "c", "completed_at": datetime(2026, 1, 1)}]
    )
    assert ws.raw.execute("SELECT started_at, space_id FROM experiment_participants").fetchall() == [
        (None, None)
    ]
    assert ws.raw.execute("SELECT count(*) FROM experiment_items").fetchone()[0] == 3


def test_migration_0004_keeps_existing_experiments(store: Store) -> None:
    from alembic import command
    from sqlalchemy import text

    from covalue.store import alembic_config

    def to(rev: str, down: bool = False) -> None:
        cfg = alembic_config(store.engine)
        with store.engine.begin() as con:
            cfg.attributes["connection"] = con
            (command.downgrade if down else command.upgrade)(cfg, rev)

    to("0003_collaboration", down=True)
    with store.engine.begin() as con:
        assert "space_id" not in {c["name"] for c in inspect(con).get_columns("cc_experiments")}
        assert "cc_experiment_items" not in inspect(con).get_table_names()
        con.execute(
            text(
                "INSERT INTO cc_experiments (id, community_id, title, hypothesis, target, owner, measures, "
                "status, outcome, lesson, version, created_at, updated_at) VALUES (7, 'c', 'Old one', '', '', "
                "'', '', 'completed', '', '', 1, :t, :t)"
            ),
            {"t": datetime(2025, 6, 1)},
        )
    to("head")
    with store.session() as db:
        old = db.get(cs.CcExperiment, 7)
        assert old is not None and old.title == "Old one" and old.space_id is None
        assert cs.link_items(db, 7, ["i1"], None) == ["i1"]


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
    path = synthetic_site(
        tmp_path_factory.mktemp("collab") / "ws", "manager@example.org", PASSWORD, others=(SPONSOR,)
    )
    with TestClient(create_app(path)) as c:
        yield c


def _login(c: TestClient, email: str) -> str:
    return sign_in(c, email, PASSWORD)


def test_the_loop_counts_contributions_not_listings_and_the_story_reaches_the_report(
    client: TestClient,
) -> None:
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

    def stages_now() -> dict[str, str]:
        with client.app.state.site.lock:  # type: ignore[attr-defined]
            return dict(
                t.raw.execute(
                    "SELECT member_id, stage FROM member_stages WHERE community_id='healthy' "
                    f"AND period='2025-12' AND member_id IN ({','.join('?' * 3)})",
                    solvers,
                ).fetchall()
            )

    # being listed moves nobody: clicking in the canvas cannot raise the headline
    assert stages_now() == dict.fromkeys(solvers, "solve")
    # the first participant links a post of theirs from the experiment's month: only they contributed
    with client.app.state.site.lock:  # type: ignore[attr-defined]
        own = t.raw.execute(
            "SELECT min(item_id) FROM item_roles WHERE community_id='healthy' AND author_member=? "
            "AND created_at >= '2025-12-01'",
            [solvers[0]],
        ).fetchone()[0]
    assert own
    linked = client.post(f"/api/c/healthy/experiments/{exp['id']}/items", json={"items": [own]}, headers=h)
    assert linked.status_code == 200, linked.text
    client.post("/api/c/healthy/analyse", headers=h)
    assert stages_now() == {solvers[0]: "innovate", solvers[1]: "solve", solvers[2]: "solve"}
    page = client.get("/c/healthy/experiments").text
    assert page.count('now at <b class="stage-now">Innovate</b>') == 1

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
    sec = [s for s in facts["communities"][0]["sections"] if s["key"] == "collaboration"]
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


def test_experiments_are_evidence_listed_or_contributed_and_remeasure_splits_the_groups(
    client: TestClient,
) -> None:
    """Three members listed in a completed experiment: one posted in its space within its dates, one
    wrote an item linked to it, one only appears on the list. The workspace gets the window, space and
    links; the page says who contributed; re-measure shows participants beside everyone else, the
    experiment's own measure first."""
    h = {"X-CSRF-Token": _login(client, "manager@example.org")}
    site = client.app.state.site  # type: ignore[attr-defined]
    t = site.ws
    period = client.get("/api/c/healthy/canvas").json()["period"]
    first = date.fromisoformat(period + "-01")
    last = date(first.year + first.month // 12, first.month % 12 + 1, 1).toordinal() - 1
    space = "synth:healthy:questions"
    authored = (
        "SELECT coalesce(i.member_id, it.author_id) AS m, it.item_id, it.space_id, it.created_at "
        "FROM items it LEFT JOIN identities i ON i.identity_id = it.author_id "
        "WHERE it.community_id = 'healthy'"
    )
    with site.lock:
        known = {
            r[0]
            for r in t.raw.execute(
                "SELECT member_id FROM member_stages WHERE community_id = 'healthy' AND period = ?", [period]
            ).fetchall()
        }
        in_space = {
            r[0]
            for r in t.raw.execute(
                f"SELECT m FROM ({authored}) WHERE space_id = ? AND created_at >= ? AND created_at < ?",
                [space, first, date.fromordinal(last + 1)],
            ).fetchall()
        }
        poster = sorted(in_space & known)[0]
        linker, item = next(
            (m, i)
            for m, i in t.raw.execute(
                f"SELECT m, item_id FROM ({authored}) WHERE space_id <> ? ORDER BY item_id", [space]
            ).fetchall()
            if m in known and m not in in_space
        )
        authors = {
            r[0]
            for r in t.raw.execute(
                f"SELECT DISTINCT m FROM ({authored}) WHERE item_id = ?", [item]
            ).fetchall()
        }
        listed_only = sorted(known - in_space - authors - {linker})[0]
    spaces = client.get("/c/healthy/experiments").text
    assert f'<option value="{space}">' in spaces
    assert f'name="starts_on" type="date" value="{date.today().isoformat()}"' in spaces  # today on

    body = {
        "title": "Office hours in the questions forum",
        "hypothesis": "an hour a week of experts on call shortens the wait for an answer",
        "target": "solve",
        "starts_on": first.isoformat(),
        "ends_on": date.fromordinal(last).isoformat(),
        "measures": "Time to first response on questions; active members",
        "participants": [poster, linker, listed_only],
        "space_id": space,
        "items": [item],
    }
    for bad, word in (
        ({"items": [item, "synth:healthy:nope"]}, "synth:healthy:nope"),
        ({"space_id": "x"}, "x"),
    ):
        r = client.post("/api/c/healthy/experiments", json={**body, **bad}, headers=h)
        assert r.status_code == 400 and word in r.json()["detail"]
    exp = client.post("/api/c/healthy/experiments", json=body, headers=h).json()
    assert exp["space_id"] == space and exp["items"] == [item]
    undated = client.post("/api/c/healthy/experiments", json={"title": "Later"}, headers=h).json()
    assert undated["starts_on"] == date.today().isoformat()
    client.post(f"/api/c/healthy/experiments/{undated['id']}", json={"action": "drop"}, headers=h)

    done = client.post(f"/api/c/healthy/experiments/{exp['id']}", json={"action": "complete"}, headers=h)
    assert done.json()["status"] == "completed"
    with site.lock:
        rows = t.raw.execute(
            "SELECT member_id, started_at, completed_at, space_id FROM experiment_participants "
            "WHERE experiment_id = ? ORDER BY member_id",
            [exp["id"]],
        ).fetchall()
        links = t.raw.execute(
            "SELECT experiment_id, community_id, item_id FROM experiment_items WHERE experiment_id = ?",
            [exp["id"]],
        ).fetchall()
    assert rows == [
        (
            m,
            datetime.combine(first, datetime.min.time()),
            datetime.combine(date.fromordinal(last), datetime.max.time()).replace(microsecond=0),
            space,
        )
        for m in sorted([poster, linker, listed_only])
    ]
    assert links == [(exp["id"], "healthy", item)]

    page = client.get("/c/healthy/experiments").text
    card = page[page.index(f'id="exp-{exp["id"]}"') :]
    card = card[: card.index("</article>")]
    took = dict(re.findall(r'data-member="([^"]+)" data-took-part="(\w+)"', card))
    assert took == {poster: "contributed", linker: "contributed", listed_only: "listed"}
    assert "2 contributed, 1 listed only" in card and "questions" in card

    # linking one more item later is checked the same way, and written at once for a completed one
    more = client.post(
        f"/api/c/healthy/experiments/{exp['id']}/items", json={"items": ["synth:healthy:nope"]}, headers=h
    )
    assert more.status_code == 400 and "synth:healthy:nope" in more.json()["detail"]

    re_rows = {r["experiment"]["id"]: r for r in client.get("/api/c/healthy/remeasure").json()["experiments"]}
    r = re_rows[exp["id"]]
    assert r["watched"] == ["ttfr", "active"]
    assert [m["key"] for m in r["measures"][:2]] == ["ttfr", "active"] and r["measures"][0]["watched"]
    by_key = {m["key"]: m for m in r["measures"]}
    assert {"solve_plus", "response_rate", "answered", "stage:innovate"} <= set(by_key)
    active = by_key["active"]
    assert active["participants"]["after"]["value"] <= 3 < active["others"]["after"]["value"]
    assert active["participants"]["after"]["text"].endswith("of 3 listed")
    html = client.get("/c/healthy/remeasure").text
    assert "Participants and everyone else" in html and "not what it caused" in html
    assert 'data-measure="ttfr" class="watched"' in html

    # a sponsor sees the community figures, not those of three people
    _login(client, "sponsor@example.org")
    r = {x["experiment"]["id"]: x for x in client.get("/api/c/healthy/remeasure").json()["experiments"]}
    assert r[exp["id"]]["measures"] == [] and "Fewer than" in r[exp["id"]]["group_note"]
    assert r[exp["id"]]["experiment"]["participants"] == 3

    # the page's "contributed" is the measure's: after the analysis runs again, exactly the two who
    # contributed carry an experiment contribution in the experiment's month
    h = {"X-CSRF-Token": _login(client, "manager@example.org")}
    assert client.post("/api/c/healthy/analyse", headers=h).status_code == 200
    with site.lock:
        credited = dict(
            t.raw.execute(
                "SELECT member_id, experiment_contributions FROM member_stages "
                "WHERE community_id = 'healthy' AND period = ? AND member_id IN (?, ?, ?)",
                [period, poster, linker, listed_only],
            ).fetchall()
        )
    assert {m for m, n in credited.items() if n} == {poster, linker} and credited[listed_only] == 0


def test_cli_links_items_to_an_experiment_and_writes_both_tables(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from covalue.cli import app

    path = tmp_path / "ws"
    ws = covalue.init(path)
    ws.raw.execute(
        "INSERT INTO items (item_id, community_id, space_id, created_at) VALUES "
        "('i1', 'c', 's1', TIMESTAMP '2025-12-03 10:00'), ('i2', 'other', 's9', TIMESTAMP '2025-12-03 10:00')"
    )
    ws.close()
    store = Store.open(path)
    with store.session() as db:
        exp = cs.create(
            db, "experiment", None, community_id="c", title="T", status="completed", space_id="s1"
        )
        exp.completed_at = datetime(2025, 12, 20)  # type: ignore[attr-defined]
        db.add(cs.CcParticipant(experiment_id=exp.id, member_id="m1"))  # type: ignore[attr-defined]
        xid = exp.id  # type: ignore[attr-defined]
    store.dispose()
    run = CliRunner().invoke
    bad = run(app, ["experiments", "-w", str(path), "--link", str(xid), "--item", "i1", "--item", "i2"])
    assert bad.exit_code == 2 and "i2" in bad.output  # an item of another community is refused
    ok = run(app, ["experiments", "-w", str(path), "--link", str(xid), "--item", "i1"])
    assert ok.exit_code == 0, ok.output
    assert "1 participant row and 1 linked item written" in " ".join(ok.output.split())
    out = json.loads(run(app, ["experiments", "-w", str(path), "--json", "--sync"]).output)
    assert out["experiments"][0]["items"] == ["i1"] and out["experiments"][0]["space_id"] == "s1"
    assert out["items_written"] == 1
    ws = covalue.open(path)
    try:
        assert ws.raw.execute("SELECT * FROM experiment_items").fetchall() == [(xid, "c", "i1")]
        assert ws.raw.execute("SELECT space_id FROM experiment_participants").fetchall() == [("s1",)]
    finally:
        ws.close()
