"""The rights in the web app, on the synthetic organisation: a member sees and downloads what is held
about them through their personal link; only an administrator forgets, with the CSRF token and a typed
confirmation, after which the member, their account and their link are gone."""

from __future__ import annotations

import re
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import covalue
from covalue import journey
from covalue.rights import FORMER_MEMBER
from covalue.rights.people import PersonNotFound, resolve
from covalue.rights.subject_access import subject_access
from covalue.store import Store
from covalue.store import accounts as acc
from covalue.web.app import create_app

PASSWORD = "Amber-falcon-Ridge-61"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """The analysed synthetic organisation with an admin, a manager, and a member with a personal link."""
    path = tmp_path_factory.mktemp("rights-web") / "ws"
    ws = covalue.init(path)
    member = _plant(ws)
    journey.analyze(ws)
    ws.close()
    store = Store.open(path)
    with store.session() as db:
        acc.add_user(db, "admin@example.org", "admin", password=PASSWORD)
        acc.add_user(db, "manager@example.org", "manager", community="healthy", password=PASSWORD)
        user = acc.add_user(db, "member@example.org", "member", password=PASSWORD, member_id=member)
        db.flush()
        token = acc.new_journey_link(db, user)
    store.dispose()
    return path, member, token


def _plant(ws: covalue.Workspace) -> str:
    """A small forum: eight people over three months, each posting and answering the next one, with
    reactions; returns the member id of the first (7 posts, 3 replies, 4 reactions given)."""
    people = [f"m_person{i:02d}" for i in range(8)]
    ws.append("communities", [{"community_id": "garden", "name": "Garden"}])
    ws.append(
        "spaces",
        [{"space_id": "f:s", "source": "f", "name": "general", "kind": "channel", "community_id": "garden"}],
    )
    ws.append("members", [{"member_id": m, "source": "f", "is_bot": False} for m in people])
    ws.append(
        "identities",
        [
            {
                "identity_id": m,
                "member_id": m,
                "source": "f",
                "native_id": f"u{i}",
                "display_name": f"Person {i}",
                "is_bot": False,
            }
            for i, m in enumerate(people)
        ],
    )
    items, actions = [], []
    for month in (1, 2, 3):
        for i, m in enumerate(people):
            for k in range(2 if i == 0 else 1):
                pid = f"f:p{month}-{i}-{k}"
                at = datetime(2025, month, 1 + i + 10 * k)
                items.append(
                    {
                        "item_id": pid,
                        "source": "f",
                        "space_id": "f:s",
                        "community_id": "garden",
                        "author_id": m,
                        "created_at": at,
                        "kind": "question",
                        "text": f"how do I grow {i} {k}?",
                    }
                )
                nxt = people[(i + 1) % len(people)]
                items.append(
                    {
                        "item_id": pid + "r",
                        "source": "f",
                        "space_id": "f:s",
                        "community_id": "garden",
                        "thread_id": pid,
                        "parent_id": pid,
                        "author_id": nxt,
                        "created_at": at + timedelta(hours=3),
                        "kind": "answer",
                        "text": "like this",
                    }
                )
                actions.append(
                    {
                        "action_id": pid + "a",
                        "source": "f",
                        "space_id": "f:s",
                        "community_id": "garden",
                        "ts": at + timedelta(hours=4),
                        "actor_id": m,
                        "verb": "react",
                        "item_id": pid + "r",
                        "target_id": nxt,
                    }
                )
    items.append(
        {
            "item_id": "f:extra",
            "source": "f",
            "space_id": "f:s",
            "community_id": "garden",
            "author_id": people[0],
            "created_at": datetime(2025, 3, 28),
            "kind": "post",
            "text": "a note",
        }
    )
    ws.append("items", items)
    ws.append("actions", actions)
    return people[0]


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def _sign_in(app: object, email: str) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    r = c.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": _csrf(c.get("/login").text)}
    )
    assert r.status_code == 303, r.text
    return c


def test_own_data_through_the_personal_link_and_forgetting_by_an_admin(site: tuple[Path, str, str]) -> None:
    path, member, token = site
    ws = covalue.open(path)
    store = Store.open(path)
    expected = subject_access(ws, resolve(ws, member, store=store), store=store)["counts"]
    ws.close()
    store.dispose()
    app = create_app(path)
    with TestClient(app, follow_redirects=False) as anon:
        page = anon.get(f"/j/{token}/data")
        assert page.status_code == 200 and "Everything held about you" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        got = anon.get(f"/j/{token}/data.json").json()
        assert got["layout"] == "covalue.subject-access/1"
        # the same rows as the library gives, plus the audit row of the page just viewed
        assert got["counts"] == {**expected, "store.audit_about_them": 1}
        assert got["counts"]["workspace.items"] == 10
        assert got["store_rows"]["accounts"][0]["email"] == "member@example.org"
        assert "password_hash" not in got["store_rows"]["accounts"][0]
        assert anon.get("/j/not-a-token/data").status_code == 404
        assert anon.get("/admin/forget").status_code in (303, 401)  # sign in first

        manager = _sign_in(app, "manager@example.org")
        form = {"person": member, "confirm": "forget", "csrf_token": _csrf(manager.get("/").text)}
        assert manager.post("/admin/forget", data=form).status_code == 403
        assert manager.get("/admin/forget").status_code == 403

        admin = _sign_in(app, "admin@example.org")
        preview = admin.get("/admin/forget", params={"person": member})
        assert preview.status_code == 200 and "workspace.items" in preview.text
        token_admin = _csrf(preview.text)
        # no token, a wrong token, no confirmation: nothing happens
        assert admin.post("/admin/forget", data={"person": member, "confirm": "forget"}).status_code == 403
        bad = {"person": member, "confirm": "forget", "csrf_token": "x" * 40}
        assert admin.post("/admin/forget", data=bad).status_code == 403
        unconfirmed = admin.post(
            "/admin/forget", data={"person": member, "confirm": "", "csrf_token": token_admin}
        )
        assert unconfirmed.status_code == 400
        assert anon.get(f"/j/{token}/data").status_code == 200

        done = admin.post(
            "/admin/forget", data={"person": member, "confirm": "forget", "csrf_token": token_admin}
        )
        assert done.status_code == 200 and "Forgotten" in done.text and "re-run" in done.text
        done_id = re.search(r"request ([0-9a-f]{16})", done.text).group(1)
        assert anon.get(f"/j/{token}/data").status_code == 404  # their account, and so their link, is gone
        assert admin.get("/admin/forget", params={"person": member}).status_code == 404
    ws = covalue.open(path)
    with pytest.raises(PersonNotFound):
        resolve(ws, member)
    # their six questions were answered by someone else: they stay, without author, title or text,
    # and the answers still hang under them; their three answers and their note are gone
    q = ws.raw.execute
    kept = q("SELECT item_id, kind, title, text FROM items WHERE author_id IS NULL ORDER BY 1").fetchall()
    assert len(kept) == 6 and {(k, t, x) for _i, k, t, x in kept} == {("question", None, None)}
    assert (
        q(
            "SELECT count(*) FROM items WHERE parent_id IN (SELECT item_id FROM items WHERE author_id IS NULL)"
        ).fetchone()[0]
        == 6
    )
    assert q("SELECT count(*) FROM items").fetchone()[0] == 3 * 18 + 1 - 4  # 18 a month and the note
    assert (
        ws.raw.execute("SELECT count(*) FROM member_stages WHERE member_id = ?", [member]).fetchone()[0] == 0
    )
    ws.close()
    store = Store.open(path)
    with store.session() as db:
        events = [
            (e.action, e.email, e.subject) for e in db.query(acc.AuditEvent).order_by(acc.AuditEvent.id)
        ]
    store.dispose()
    assert ("person forgotten", "admin@example.org", f"forget request {done_id}") in events
    # the views of their data stay in the log, but no longer name them
    assert ("subject access by the person", None, FORMER_MEMBER) in events
    assert not [e for e in events if member in str(e)]
