"""Members in the loop, through the web app on the synthetic organisation: a member signs in, reads
their community's canvas, experiments and stories, suggests an opportunity, asks to join an experiment
and sees the items their stage rests on; the manager sees the suggestion and the request. And people
one can thank: a manager reveals one name (audited), a sponsor and a member are refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from sqlalchemy import select

import covalue
from covalue import journey, privacy, synth
from covalue.store import Store
from covalue.store import accounts as acc
from covalue.store.models import AuditEvent
from covalue.testing import sign_in
from covalue.web.app import create_app

PASSWORD = "a long test password"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    path = tmp_path_factory.mktemp("loop") / "ws"
    ws = covalue.init(path)
    synth.generate().write(ws)
    journey.analyze(ws)
    ms = journey.derived(ws, "member_stages")
    row = (
        ms.filter((ms.community_id == "healthy") & ms.stage.isin(["solve", "innovate"]))
        .order_by("member_id")
        .select("member_id")
        .limit(1)
        .to_pyarrow()
        .to_pylist()
    )
    member_id = row[0]["member_id"]
    name = privacy.labels(ws, [member_id], allow_names=True)[member_id]
    ws.close()
    store = Store.open(path)
    with store.session() as db:
        acc.add_user(db, "manager@example.org", "manager", community="healthy", password=PASSWORD)
        acc.add_user(db, "sponsor@example.org", "sponsor", community="healthy", password=PASSWORD)
        acc.add_user(db, "champion@example.org", "champion", community="healthy", password=PASSWORD)
        acc.add_user(
            db, "member@example.org", "member", community="healthy", password=PASSWORD, member_id=member_id
        )
    store.dispose()
    with TestClient(create_app(path)) as c:
        yield {"client": c, "member_id": member_id, "name": name, "path": path}


def _login(c: TestClient, email: str) -> str:
    return sign_in(c, email, PASSWORD)


def test_member_reads_suggests_joins_and_the_manager_sees_it(app: dict[str, Any]) -> None:
    c: TestClient = app["client"]
    h = {"X-CSRF-Token": _login(c, "manager@example.org")}
    goal = c.post(
        "/api/c/healthy/canvas/entries",
        json={"kind": "goal", "text": "Newcomers answered within a day"},
        headers=h,
    )
    assert goal.status_code == 201
    exp = c.post(
        "/api/c/healthy/experiments",
        json={"title": "Friday office hours", "hypothesis": "We believe that office hours shorten waits"},
        headers=h,
    ).json()
    story = {"title": "A newcomer's first answer", "immediate": "Asked on Monday, answered by noon"}
    assert c.post("/api/c/healthy/stories", json=story, headers=h).status_code == 201

    token = _login(c, "member@example.org")
    me = c.get("/me")
    assert me.status_code == 200 and "/me/c/healthy" in me.text
    # the card lists the items the stage rests on, with their dates
    journey = c.get("/api/journey").json()
    items = journey["items"]["healthy"]
    assert items and all(it["excerpt"] and re.match(r"\d{4}-\d{2}-\d{2}$", it["date"]) for it in items)
    assert 'class="evidence-items"' in me.text and items[0]["excerpt"][:40] in me.text.replace("&#39;", "'")
    work = c.get("/me/c/healthy")
    assert work.status_code == 200
    assert "Newcomers answered within a day" in work.text
    assert "Friday office hours" in work.text and "A newcomer&#39;s first answer" in work.text
    r = c.post(
        "/me/c/healthy/suggest",
        data={"csrf_token": token, "text": "A monthly show-and-tell of dashboards"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = c.post(
        f"/me/c/healthy/experiments/{exp['id']}/join", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    again = c.get("/me/c/healthy").text
    assert "You asked to join" in again and "A monthly show-and-tell of dashboards" in again
    # a member does not reach the team's pages, nor another community's work
    assert c.get("/c/healthy/canvas").status_code == 403
    assert c.get("/me/c/broadcast").status_code == 403

    _login(c, "manager@example.org")
    canvas = c.get("/c/healthy/canvas").text
    assert 'id="member-suggestions"' in canvas and "A monthly show-and-tell of dashboards" in canvas
    exps = c.get("/c/healthy/experiments").text
    assert "Asked to join:" in exps and f'data-member="{app["member_id"]}"' in exps
    assert 'id="x-people-search"' in exps  # participants are picked by search
    found = c.get("/api/communities/healthy/people/search", params={"q": app["member_id"][2:8]}).json()
    assert app["member_id"] in {p["member_id"] for p in found["people"]}


def test_reveal_is_audited_and_refused_for_sponsor_and_member(app: dict[str, Any]) -> None:
    c: TestClient = app["client"]
    mid = app["member_id"]
    for who in ("sponsor@example.org", "member@example.org"):
        h = {"X-CSRF-Token": _login(c, who)}
        assert c.post(f"/api/communities/healthy/members/{mid}/reveal", headers=h).status_code == 403
    # a champion may not either, unless the workspace allows it (it does not by default)
    h = {"X-CSRF-Token": _login(c, "champion@example.org")}
    assert c.post(f"/api/communities/healthy/members/{mid}/reveal", headers=h).status_code == 403

    token = _login(c, "manager@example.org")
    card = c.get(f"/c/healthy/people/{mid}").text
    assert "Show this person" in card and app["name"] not in card  # pseudonym until revealed
    page = c.post(f"/c/healthy/people/{mid}/reveal", data={"csrf_token": token})
    assert page.status_code == 200 and app["name"] in page.text
    got = c.post(f"/api/communities/healthy/members/{mid}/reveal", headers={"X-CSRF-Token": token}).json()
    assert got == {"member_id": mid, "name": app["name"]}
    store = Store.open(app["path"])
    try:
        with store.session() as db:
            rows = db.scalars(select(AuditEvent).where(AuditEvent.action == "revealed name")).all()
            who = {(r.subject, r.community_id) for r in rows}
    finally:
        store.dispose()
    assert who == {(mid, "healthy")} and len(rows) == 2  # each reveal, and only the allowed ones


def test_champions_reveal_only_where_the_workspace_allows() -> None:
    from types import SimpleNamespace

    from covalue.store.accounts import PERMISSIONS, Access
    from covalue.web.views.people import may_reveal

    def ctx(role: str, allow: bool) -> Any:
        access = Access(
            user_id=1,
            email="x@example.org",
            member_id=None,
            everywhere=frozenset(),
            per_community={"healthy": PERMISSIONS[role]},
            roles=((role, "healthy"),),
        )
        privacy_ = SimpleNamespace(reveal_by_champions=allow)
        site = SimpleNamespace(ws=SimpleNamespace(settings=SimpleNamespace(privacy=privacy_)))
        return SimpleNamespace(access=access, site=site)

    assert may_reveal(ctx("manager", False), "healthy")
    assert not may_reveal(ctx("champion", False), "healthy")
    assert may_reveal(ctx("champion", True), "healthy")
    assert not may_reveal(ctx("champion", True), "broadcast")  # a champion of another community
    for role in ("sponsor", "member"):
        assert not may_reveal(ctx(role, True), "healthy")


def test_a_members_evidence_names_nobody_when_names_are_off(ws: covalue.Workspace) -> None:
    """The items behind a member's stage are quoted on their page; the people those items name are taken
    out where the workspace shows no names, as on every other page."""
    from contextlib import contextmanager
    from datetime import datetime

    from covalue.web.views.member import evidence_items

    text = "@jane.doe thanks, that fixed it; mail me at jane@example.org"
    ws.append(
        "items",
        [
            {
                "item_id": "t:1",
                "source": "t",
                "community_id": "c",
                "created_at": datetime(2025, 3, 1),
                "text": text,
            }
        ],
    )

    class Site:
        @contextmanager
        def reader(self):
            yield ws

    ex = {"communities": [{"community_id": "c", "evidence": {"share": [{"item_id": "t:1"}]}}]}
    assert ws.settings.privacy.show_names is False
    (item,) = evidence_items(Site(), ex)["c"]
    assert item["excerpt"] == "@someone thanks, that fixed it; mail me at (e-mail)"
    ws.settings.privacy.show_names = True
    (item,) = evidence_items(Site(), ex)["c"]
    assert item["excerpt"] == text
