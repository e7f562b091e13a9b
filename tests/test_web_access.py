"""Access to the web app, through FastAPI's TestClient on a synthetic organisation: who sees which
community and which person-level data, CSRF on every state-changing request, escaping of hostile
names and posts, uploads refused for unsafe archives and sizes, first-run set-up, audit log."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import time
import warnings
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx2 is not ours to fix
    from fastapi.testclient import TestClient
from sqlalchemy import select

import covalue
from covalue import journey, synth
from covalue.store import AuditEvent, LoginAttempt, Store, User
from covalue.store import accounts as acc
from covalue.web.app import create_app
from covalue.web.site import Limits

PASSWORD = "a long test password"
HOSTILE_NAME = '<script>alert("name")</script>'
# entities survive the tag stripping of excerpts and come out as a live tag: the worst case for a page
HOSTILE_TEXT = "&lt;script&gt;alert('post')&lt;/script&gt; look at this"


@pytest.fixture(scope="module")
def template_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic organisation, analysed once, with names shown and hostile text planted in
    ``healthy``: the display name of its most active member and the text of its most replied post."""
    path = tmp_path_factory.mktemp("web") / "ws"
    ws = covalue.init(path)
    synth.generate().write(ws)
    toml = path / "covalue.toml"
    toml.write_text(toml.read_text().replace("show_names = false", "show_names = true"))
    raw = ws.raw
    top = raw.execute(
        "SELECT author_id, count(*) n FROM items WHERE community_id = 'healthy' GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    ).fetchone()[0]
    raw.execute(
        "UPDATE identities SET display_name = ? WHERE identity_id = ? OR member_id = ?",
        [HOSTILE_NAME, top, top],
    )
    raw.execute(
        "UPDATE items SET text = ?, title = NULL WHERE item_id = (SELECT parent_id FROM items WHERE community_id = "
        "'healthy' AND parent_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)",
        [HOSTILE_TEXT],
    )
    journey.analyze(ws)
    ws.close()
    store = Store.open(path)
    with store.session() as db:
        acc.add_user(db, "admin@example.org", "admin", password=PASSWORD)
        acc.add_user(db, "manager@example.org", "manager", community="healthy", password=PASSWORD)
        acc.add_user(db, "sponsor@example.org", "sponsor", community="healthy", password=PASSWORD)
        acc.add_user(db, "champion@example.org", "champion", community="healthy", password=PASSWORD)
    store.dispose()
    return path


def _copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    for p in dest.glob("store.sqlite-*"):  # WAL leftovers belong to the closed original
        p.unlink()
    return dest


@pytest.fixture(scope="module")
def app(template_ws: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    a = create_app(_copy(template_ws, tmp_path_factory.mktemp("app") / "ws"))
    yield a
    a.state.site.close()


def client(app: object) -> TestClient:
    return TestClient(app, follow_redirects=False)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "the page has no CSRF field"
    return m.group(1)


def sign_in(app: object, email: str) -> TestClient:
    c = client(app)
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"})
    assert r.status_code == 303, r.text
    return c


def api_csrf(c: TestClient) -> str:
    return c.get("/api/me").json()["csrf_token"]


# -- signing in ----------------------------------------------------------------------------------------
def test_anonymous_requests_go_to_sign_in(app: object) -> None:
    c = client(app)
    r = c.get("/c/healthy")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fc%2Fhealthy"
    assert c.get("/api/communities").status_code == 401
    assert c.get("/api/communities/healthy/people").status_code == 401


def test_cookies_are_httponly_lax_and_secure_over_https(app: object) -> None:
    c = client(app)
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"email": "manager@example.org", "password": PASSWORD, "csrf_token": token})
    cookie = r.headers["set-cookie"]
    assert "covalue_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie
    s = TestClient(app, base_url="https://testserver", follow_redirects=False)
    token = csrf_of(s.get("/login").text)
    r = s.post("/login", data={"email": "manager@example.org", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def test_wrong_password_then_a_short_wait_said_in_seconds(app: object) -> None:
    with app.state.site.store.session() as db:
        acc.add_user(db, "forgetful@example.org", "sponsor", community="healthy", password=PASSWORD)
    c = client(app)
    token = csrf_of(c.get("/login").text)
    for _ in range(acc.FREE_FAILURES_EMAIL):
        r = c.post(
            "/login", data={"email": "forgetful@example.org", "password": "wrong", "csrf_token": token}
        )
        assert r.status_code == 401 and "do not match" in r.text
    r = c.post("/login", data={"email": "forgetful@example.org", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429 and "try again in 1 second." in r.text and r.headers["retry-after"] == "1"
    assert "covalue_session" not in r.headers.get("set-cookie", "")
    with app.state.site.store.session() as db:  # the wait is over (instead of sleeping)
        for a in db.scalars(select(LoginAttempt).where(LoginAttempt.email == "forgetful@example.org")):
            a.at = a.at - timedelta(seconds=2)
    r = c.post("/login", data={"email": "forgetful@example.org", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(app: object) -> None:
    site = app.state.site
    seen: list[str] = []
    real = acc.authenticate

    def spy(db, email, password, ip):  # type: ignore[no-untyped-def]
        seen.append(ip)
        return real(db, email, password, ip)

    c = client(app)
    token = csrf_of(c.get("/login").text)
    form = {"email": "nobody@example.org", "password": "wrong", "csrf_token": token}
    acc.authenticate = spy
    try:
        c.post("/login", data=form, headers={"X-Forwarded-For": "203.0.113.5"})
        site.ws.settings.web.trusted_proxies = ["testclient", "127.0.0.0/8"]  # not an address: ignored
        c.post("/login", data=form, headers={"X-Forwarded-For": "203.0.113.5"})
        site.ws.settings.web.trusted_proxies = []
    finally:
        acc.authenticate = real
    # the test client's peer is "testclient", never trusted; the header changes nothing
    assert seen == ["testclient", "testclient"]
    from starlette.requests import Request

    from covalue.web.security import client_ip

    def request(peer: str, forwarded: str) -> Request:
        return Request(
            {
                "type": "http",
                "client": (peer, 1234),
                "headers": [(b"x-forwarded-for", forwarded.encode())],
            }
        )

    assert client_ip(site, request("127.0.0.1", "203.0.113.5")) == "127.0.0.1"  # not trusted by default
    site.ws.settings.web.trusted_proxies = ["10.0.0.0/8"]
    try:
        assert client_ip(site, request("10.1.2.3", "6.6.6.6, 203.0.113.5")) == "203.0.113.5"
        assert client_ip(site, request("10.1.2.3", "203.0.113.5, 10.0.0.9")) == "203.0.113.5"
        assert client_ip(site, request("192.0.2.7", "203.0.113.5")) == "192.0.2.7"
    finally:
        site.ws.settings.web.trusted_proxies = []


def test_sign_out_ends_the_session_on_the_server(app: object) -> None:
    c = sign_in(app, "admin@example.org")
    stolen = c.cookies.get("covalue_session")
    token = csrf_of(c.get("/").text)
    assert c.post("/logout", data={"csrf_token": token}).headers["location"] == "/login"
    replay = client(app)
    replay.cookies.set("covalue_session", stolen)
    assert replay.get("/api/me").status_code == 401


# -- who sees what -------------------------------------------------------------------------------------
def test_manager_of_one_community_cannot_see_another(app: object) -> None:
    c = sign_in(app, "manager@example.org")
    assert [x["id"] for x in c.get("/api/communities").json()] == ["healthy"]
    for page in ("", "/journey", "/health", "/people", "/content"):
        assert c.get(f"/c/healthy{page}").status_code == 200, page
        r = c.get(f"/c/dying{page}")
        assert r.status_code == 403 and "no access" in r.text, page
    assert c.get("/api/communities/healthy").status_code == 200
    assert c.get("/api/communities/dying").status_code == 403
    assert c.get("/api/communities/dying/people").status_code == 403
    people = c.get("/api/communities/healthy/people").json()
    assert people and all(p["member_id"].startswith("m_") for p in people)
    someone = people[0]["member_id"]
    assert c.get(f"/api/communities/dying/members/{someone}").status_code == 403
    assert c.get(f"/c/dying/people/{someone}").status_code == 403
    assert c.get("/c/no-such-community").status_code == 404
    assert c.get("/admin").status_code == 403
    portfolio = c.get("/").text
    assert "/c/healthy" in portfolio and "/c/dying" not in portfolio


def test_sponsor_sees_no_person_level_data(app: object) -> None:
    c = sign_in(app, "sponsor@example.org")
    member_ids = {
        p["member_id"]
        for p in sign_in(app, "admin@example.org").get("/api/communities/healthy/people").json()
    }
    shown = ""
    for page in ("", "/journey", "/health", "/content"):
        r = c.get(f"/c/healthy{page}")
        assert r.status_code == 200, page
        shown += r.text
    assert "/people" not in shown  # no People tab
    assert "Member " not in shown and not any(m in shown for m in member_ids)
    assert HOSTILE_NAME not in shown and "alert(&#34;name&#34;)" not in shown
    assert "look at this" not in shown  # post excerpts are for managers and champions
    assert c.get("/c/healthy/people").status_code == 403
    assert c.get("/api/communities/healthy/people").status_code == 403
    assert c.get(f"/api/communities/healthy/members/{next(iter(member_ids))}").status_code == 403
    assert c.get("/data").status_code == 403
    api = c.get("/api/communities/healthy").text
    assert not any(m in api for m in member_ids)


def test_champion_sees_people_but_pseudonyms_only(app: object) -> None:
    c = sign_in(app, "champion@example.org")
    r = c.get("/c/healthy/people")
    assert r.status_code == 200 and "Member " in r.text
    assert "&lt;script&gt;" not in r.text  # names need a role allowed to see them


def test_people_views_are_audited(app: object) -> None:
    c = sign_in(app, "manager@example.org")
    c.get("/c/healthy/people")
    mid = c.get("/api/communities/healthy/people").json()[0]["member_id"]
    assert c.get(f"/c/healthy/people/{mid}").status_code == 200
    with app.state.site.store.session() as db:
        events = [(e.email, e.action, e.community_id, e.subject) for e in db.scalars(select(AuditEvent))]
    assert ("manager@example.org", "viewed member journey", "healthy", mid) in events
    assert any(e[:3] == ("manager@example.org", "viewed people", "healthy") for e in events)
    assert any(e[:3] == ("manager@example.org", "viewed people (api)", "healthy") for e in events)
    admin = sign_in(app, "admin@example.org").get("/admin").text
    assert "viewed member journey" in admin and mid in admin


def test_hostile_names_and_posts_are_escaped(app: object) -> None:
    c = sign_in(app, "manager@example.org")
    people = c.get("/c/healthy/people").text
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in people
    assert HOSTILE_NAME not in people
    content = c.get("/c/healthy/content").text
    assert "&lt;script&gt;alert(&#39;post&#39;)&lt;/script&gt; look at this" in content
    assert "<script>alert(" not in content
    api = c.get("/api/communities/healthy/people").json()
    assert HOSTILE_NAME in {p["label"] for p in api}  # JSON carries the text as data, unchanged
    r = c.get("/c/healthy")
    assert "script-src 'self'" in r.headers["content-security-policy"]


# -- CSRF ----------------------------------------------------------------------------------------------
def test_posts_without_the_csrf_token_are_rejected(app: object) -> None:
    anon = client(app)
    anon.get("/login")
    r = anon.post("/login", data={"email": "admin@example.org", "password": PASSWORD})
    assert r.status_code == 403 and "security token" in r.text
    c = sign_in(app, "admin@example.org")
    other = csrf_of(sign_in(app, "manager@example.org").get("/").text)  # another session's token
    r = c.post("/admin/users", data={"email": "new@example.org", "role": "sponsor", "password": PASSWORD})
    assert r.status_code == 403
    r = c.post("/admin/users", data={"email": "new@example.org", "role": "sponsor", "csrf_token": other})
    assert r.status_code == 403
    r = c.post("/logout", data={})
    assert r.status_code == 403 and c.get("/api/me").status_code == 200  # still signed in
    before = set(app.state.site.upload_dir().iterdir())
    r = c.post("/data/upload", files={"file": ("x.zip", b"PK\x03\x04 not much", "application/zip")})
    assert r.status_code == 403
    r = c.post(
        "/api/uploads", files={"file": ("x.zip", b"data", "application/zip")}, headers={"X-CSRF-Token": other}
    )
    assert r.status_code == 403
    assert set(app.state.site.upload_dir().iterdir()) == before  # nothing was written
    with app.state.site.store.session() as db:
        assert db.scalar(select(User).where(User.email == "new@example.org")) is None
    r = c.post(
        "/admin/users",
        data={
            "email": "new@example.org",
            "role": "sponsor",
            "community": "dying",
            "password": PASSWORD,
            "csrf_token": csrf_of(c.get("/admin").text),
        },
    )
    assert r.status_code == 200 and "new@example.org is sponsor of dying" in r.text


def _routes(app: object) -> Iterator[object]:
    """Every route of the app with its full path (FastAPI may keep included routers whole)."""
    for r in app.routes:
        if hasattr(r, "effective_route_contexts"):
            for x in r.effective_route_contexts():
                route = x.original_route
                yield type("Route", (), {"path": x.path, "methods": getattr(route, "methods", None)})()
        else:
            yield r


def test_every_state_changing_route_is_guarded_by_the_one_csrf_check(app: object) -> None:
    """Every POST, PUT, PATCH and DELETE route of the app, found from the app itself (so a route added
    later is covered without a line here), refuses an admin's request without the token and with another
    session's token, with the one CSRF refusal, before its handler runs (nothing is audited)."""
    from covalue.web.csrf import MESSAGE

    c = sign_in(app, "admin@example.org")
    other = api_csrf(sign_in(app, "manager@example.org"))
    with app.state.site.store.session() as db:
        audited = len(db.scalars(select(AuditEvent)).all())
    checked = []
    for route in _routes(app):
        for method in sorted(set(getattr(route, "methods", None) or ()) & {"POST", "PUT", "PATCH", "DELETE"}):
            url = re.sub(r"\{(\w+)\}", lambda m: "healthy" if m.group(1) == "cid" else "1", route.path)
            for headers in ({}, {"X-CSRF-Token": other}):
                if url.startswith("/api"):
                    r = c.request(
                        method, url, json={"title": "t", "kind": "goal", "text": "x"}, headers=headers
                    )
                    said = r.json()["detail"]
                else:
                    r = c.request(method, url, data={"title": "t", "text": "x"}, headers=headers)
                    said = r.text
                assert r.status_code == 403 and MESSAGE in said.replace("&#39;", "'"), (
                    method,
                    url,
                    r.text[:200],
                )
            checked.append(f"{method} {route.path}")
    assert (
        len(checked) >= 30
        and "POST /login" in checked
        and "PATCH /api/c/{cid}/canvas/entries/{eid}" in checked
    )
    with app.state.site.store.session() as db:
        assert len(db.scalars(select(AuditEvent)).all()) == audited


# -- members -------------------------------------------------------------------------------------------
def test_member_sees_own_journey_only(app: object) -> None:
    site = app.state.site
    mid = next(p["member_id"] for p in site.people("healthy", names=False) if p["stage"] == "share")
    with site.store.session() as db:
        u = acc.add_user(
            db, "member@example.org", "member", community="healthy", password=PASSWORD, member_id=mid
        )
        token = acc.new_journey_link(db, u)
    c = sign_in(app, "member@example.org")
    assert c.get("/").headers["location"] == "/me"
    page = c.get("/me").text
    assert "My value journey" in page and "What the next stage looks like" in page and "The evidence" in page
    assert "Answer another member&#39;s question" in page  # the way from Share to Solve
    assert '<li class="here">Share <span class="sr">(current stage)</span></li>' in page
    assert c.get("/c/healthy").status_code == 403
    assert c.get("/c/healthy/people").status_code == 403
    mine = c.get("/api/journey").json()
    assert mine["member_id"] == mid and mine["communities"][0]["next_step"]
    link = client(app).get(f"/j/{token}")
    assert link.status_code == 200 and "My value journey" in link.text
    assert client(app).get(f"/j/{token}x").status_code == 404


# -- uploads -------------------------------------------------------------------------------------------
def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _wait(c: TestClient, job_id: str, seconds: float = 60) -> dict:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        j = c.get(f"/api/jobs/{job_id}").json()
        if j["state"] in ("done", "failed", "refused"):
            return j
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {j}")


@pytest.fixture(scope="module")
def upload_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A workspace that starts empty (so each upload's analysis is quick), a 2 MB upload limit, an
    admin and the manager of a community it does not hold yet."""
    path = tmp_path_factory.mktemp("uploads") / "ws"
    covalue.init(path).close()
    store = Store.open(path)
    with store.session() as db:
        acc.add_user(db, "admin@example.org", "admin", password=PASSWORD)
        acc.add_user(db, "manager@example.org", "manager", community="healthy", password=PASSWORD)
    store.dispose()
    a = create_app(path, limits=Limits(max_upload_bytes=2_000_000))
    yield a
    a.state.site.close()


def test_unsafe_archives_are_refused_with_a_clear_message(upload_app: object) -> None:
    c = sign_in(upload_app, "admin@example.org")
    token = api_csrf(c)
    channels = b'[{"id": "C1", "name": "general"}]'
    traversal = _zip({"channels.json": channels, "users.json": b"[]", "../../etc/evil.json": b"[]"})
    bomb = _zip(
        {"channels.json": channels, "users.json": b"[]", "general/2020-01-01.json": b" " * 30_000_000}
    )
    assert len(bomb) < 2_000_000
    before = upload_app.state.site.status()["tables"]["items"]
    for data, words in ((traversal, "path traversal"), (bomb, "zip bomb")):
        r = c.post(
            "/api/uploads",
            files={"file": ("export.zip", data, "application/zip")},
            headers={"X-CSRF-Token": token},
        )
        assert r.status_code == 202, r.text
        job = _wait(c, r.json()["id"])
        assert job["state"] == "refused" and words in job["error"] and "nothing was read" in job["error"]
        page = c.get(f"/data/jobs/{job['id']}").text
        assert "refused" in page and words in page
    assert upload_app.state.site.status()["tables"]["items"] == before
    assert not any(upload_app.state.site.upload_dir().iterdir())  # refused files are not kept


def test_a_file_no_reader_takes_is_refused_for_what_it_is(upload_app: object) -> None:
    """A picture or random bytes are not unsafe archives: the refusal names what the file is, and
    speaks of archives only when the archive was the reason."""
    import random

    c = sign_in(upload_app, "admin@example.org")
    token = api_csrf(c)
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    noise = random.Random(3).randbytes(300_000)
    for name, data, words in (
        ("export.zip", png, "it looks like a PNG image"),
        ("export.dat", noise, "it holds binary data"),
    ):
        r = c.post(
            "/api/uploads",
            files={"file": (name, data, "application/octet-stream")},
            headers={"X-CSRF-Token": token},
        )
        assert r.status_code == 202, r.text
        job = _wait(c, r.json()["id"])
        assert job["state"] == "refused", job
        first, reason = job["error"].split("\n")
        assert first == "The upload was refused; nothing was read."
        assert reason.startswith("This file is not an export covalue can read: ") and words in reason
        assert "archive is not safe" not in job["error"] and "bomb" not in job["error"]
    assert not any(upload_app.state.site.upload_dir().iterdir())


def test_an_analysis_that_fails_is_not_blamed_on_the_file(
    upload_app: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export is read and kept; the analysis after it fails with an engine error: the job says so
    in plain words, without the engine's text, and does not call the file unreadable."""
    import duckdb

    from covalue.web import uploads

    def broken(*_a: object, **_k: object) -> None:
        raise duckdb.ConversionException("Conversion Error: Could not convert string 'x' to INT64")

    monkeypatch.setattr(uploads.journey, "analyze", broken)
    c = sign_in(upload_app, "admin@example.org")
    path = Path(__file__).parent / "data" / "mini" / "mbox" / "makers-list.mbox"
    r = c.post(
        "/api/uploads",
        files={"file": (path.name, path.read_bytes(), "application/mbox")},
        headers={"X-CSRF-Token": api_csrf(c)},
    )
    job = _wait(c, r.json()["id"])
    assert job["state"] == "failed" and job["step"] == "read, not analysed"
    assert job["error"].startswith("The export was read and kept, but analysing it failed: an internal error")
    assert "Conversion" not in job["error"] and "could not be read" not in job["error"]
    assert upload_app.state.site.status()["tables"]["items"] > 0  # what was read stays


def test_a_bomb_of_many_small_entries_is_refused_as_a_whole(upload_app: object) -> None:
    """Each entry is below the per-entry check (1 MB); together they unpack 300 times the archive."""
    from covalue.settings import IngestSettings
    from covalue.web.uploads import preflight

    c = sign_in(upload_app, "admin@example.org")
    entries = {f"general/2020-01-{i:04d}.json": b" " * 1_000_000 for i in range(300)}
    data = _zip({"channels.json": b'[{"id": "C1", "name": "general"}]', "users.json": b"[]", **entries})
    ratio = 300_000_000 / len(data)
    assert ratio > IngestSettings().max_ratio
    r = c.post(
        "/api/uploads",
        files={"file": ("export.zip", data, "application/zip")},
        headers={"X-CSRF-Token": api_csrf(c)},
    )
    job = _wait(c, r.json()["id"])
    assert job["state"] == "refused" and "refused as a zip bomb" in job["error"]
    assert "the archive declares 300,0" in job["error"]
    assert not any(upload_app.state.site.upload_dir().iterdir())
    ok = upload_app.state.site.ws_path / "fine.zip"
    ok.write_bytes(_zip({"a.json": b"[]", "b.json": b" " * 100_000}))
    assert preflight(ok, IngestSettings()) == []  # a small archive is not judged by its ratio


def test_uploads_over_the_size_limit_are_refused(upload_app: object) -> None:
    c = sign_in(upload_app, "admin@example.org")
    token = csrf_of(c.get("/data").text)
    r = c.post(
        "/data/upload",
        data={"csrf_token": token},
        files={"file": ("big.zip", b"x" * 2_100_000, "application/zip")},
    )
    assert r.status_code == 413 and "the limit is 2 MB" in r.text
    assert not any(upload_app.state.site.upload_dir().iterdir())


def test_manager_uploads_only_into_their_community(upload_app: object) -> None:
    c = sign_in(upload_app, "manager@example.org")
    token = api_csrf(c)
    data = _zip({"x.csv": b"a,b\n"})
    r = c.post(
        "/api/uploads",
        data={"community": "dying"},
        files={"file": ("x.zip", data)},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 403 and "your communities" in r.json()["detail"]
    admin = sign_in(upload_app, "admin@example.org")
    r = admin.post("/api/uploads", files={"file": ("x.zip", data)}, headers={"X-CSRF-Token": api_csrf(admin)})
    job = r.json()["id"]
    assert c.get(f"/api/jobs/{job}").status_code == 404  # the admin's upload is not the manager's business
    _wait(admin, job)


def test_upload_real_slack_export_reports_counts(upload_app: object, shared_data: Path) -> None:
    c = sign_in(upload_app, "admin@example.org")
    token = csrf_of(c.get("/data").text)
    path = shared_data / "slack" / "houstondatavis-slack-export.zip"
    with path.open("rb") as fh:
        r = c.post(
            "/data/upload",
            data={"csrf_token": token, "community": ""},
            files={"file": (path.name, fh, "application/zip")},
        )
    assert r.status_code == 303
    job = _wait(c, r.headers["location"].rsplit("/", 1)[1])
    assert job["state"] == "done", job
    s = job["summary"]
    assert s["communities"] == ["houstondatavis"]
    assert s["ingest"]["reader"] == "slack" and s["ingest"]["read"]["spaces"] == 16
    assert s["ingest"]["read"]["members"] == 71 and s["ingest"]["rejects"] == 0
    page = c.get(r.headers["location"]).text
    assert "houstondatavis" in page and 'class="verdict"' in page and "chart-houstondatavis-mix-now" in page
    assert [x["id"] for x in c.get("/api/communities").json()].count("houstondatavis") == 1


# -- first run -----------------------------------------------------------------------------------------
def test_first_run_setup_needs_the_printed_token(tmp_path: Path) -> None:
    ws = covalue.init(tmp_path / "ws")
    ws.close()
    a = create_app(tmp_path / "ws")
    try:
        c = client(a)
        assert "No account yet" in c.get("/login").text
        assert c.get("/setup").status_code == 403
        token = a.state.site.setup_token
        form = c.get(f"/setup?token={token}").text
        r = c.post(
            "/setup",
            data={
                "csrf_token": csrf_of(form),
                "token": "wrong",
                "email": "a@example.org",
                "password": PASSWORD,
                "password2": PASSWORD,
            },
        )
        assert r.status_code == 403
        r = c.post(
            "/setup",
            data={
                "csrf_token": csrf_of(form),
                "token": token,
                "email": "a@example.org",
                "password": "short",
                "password2": "short",
            },
        )
        assert r.status_code == 400 and "at least 10 characters" in r.text
        r = c.post(
            "/setup",
            data={
                "csrf_token": csrf_of(form),
                "token": token,
                "email": "a@example.org",
                "password": PASSWORD,
                "password2": PASSWORD,
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/data"
        assert c.get("/api/me").json()["roles"] == [["admin", None]]
        assert "no community data yet" in c.get("/").text
        assert client(a).get(f"/setup?token={token}").headers["location"] == "/login"  # only once
    finally:
        a.state.site.close()


def test_openapi_schema_lists_the_api(app: object) -> None:
    paths = client(app).get("/api/openapi.json").json()["paths"]
    assert {
        "/api/communities",
        "/api/communities/{cid}",
        "/api/communities/{cid}/people",
        "/api/uploads",
        "/api/jobs/{job_id}",
        "/api/journey",
        "/api/me",
    } <= set(paths)
    assert not any(p.startswith("/c/") for p in paths)


def test_cli_user_add_and_link(template_ws: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from covalue.cli import app as cli

    ws = _copy(template_ws, tmp_path / "ws")
    run = CliRunner().invoke
    r = run(
        cli,
        [
            "user",
            "add",
            "ana@example.org",
            "--role",
            "champion",
            "-c",
            "healthy",
            "--generate",
            "-w",
            str(ws),
        ],
    )
    assert r.exit_code == 0 and "ana@example.org is champion of healthy; password:" in r.output
    password = r.output.rsplit("password:", 1)[1].strip()
    r = run(
        cli,
        ["user", "add", "x@example.org", "--role", "manager", "-c", "nowhere", "--generate", "-w", str(ws)],
    )
    assert r.exit_code == 2 and "no community 'nowhere'" in r.output
    r = run(cli, ["user", "add", "x@example.org", "--role", "owner", "--generate", "-w", str(ws)])
    assert r.exit_code == 2 and "unknown role" in r.output
    r = run(cli, ["user", "link", "ana@example.org", "-w", str(ws)])
    assert r.exit_code == 2 and "not an account linked to a member" in r.output
    r = run(cli, ["user", "add", "kim@example.org", "--member", "m_1", "-w", str(ws)])
    assert r.exit_code == 0
    r = run(cli, ["user", "link", "kim@example.org", "--base-url", "https://cv.example.org/", "-w", str(ws)])
    assert r.exit_code == 0 and re.fullmatch(r"https://cv\.example\.org/j/[\w-]{20,}\n", r.output)
    store = Store.open(ws)
    with store.session() as db:
        assert acc.authenticate(db, "ana@example.org", password, "cli") is not None
        assert acc.user_by_journey_token(db, r.output.strip().rsplit("/", 1)[1]).email == "kim@example.org"
    store.dispose()


def test_sign_in_never_redirects_off_site(app: object) -> None:
    for nxt, where in (
        ("/c/healthy/journey", "/c/healthy/journey"),
        ("//evil.example/x", "/"),
        ("/\t/evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
    ):
        c = client(app)
        token = csrf_of(c.get("/login").text)
        r = c.post(
            "/login",
            data={"email": "admin@example.org", "password": PASSWORD, "csrf_token": token, "next": nxt},
        )
        assert r.status_code == 303 and r.headers["location"] == where, nxt


def test_manager_cannot_reach_members_of_other_communities_through_their_own(app: object) -> None:
    admin = sign_in(app, "admin@example.org")
    ours = {p["member_id"] for p in admin.get("/api/communities/healthy/people").json()}
    theirs = [
        p["member_id"]
        for p in admin.get("/api/communities/dying/people").json()
        if p["member_id"] not in ours
    ]
    assert theirs
    c = sign_in(app, "manager@example.org")
    assert c.get(f"/c/healthy/people/{theirs[0]}").status_code == 404
    assert c.get(f"/api/communities/healthy/members/{theirs[0]}").status_code == 404
    assert c.get(f"/c/healthy/people/{theirs[0][:8]}").status_code == 404  # nor by a prefix of the id
    assert c.get(f"/c/healthy/people/{next(iter(ours))}").status_code == 200


# -- taking access back --------------------------------------------------------------------------------
def _covalue(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command line in its own process (the app in this one holds the workspace)."""
    return subprocess.run(
        [sys.executable, "-m", "covalue.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_role_remove_while_serving_refuses_the_old_session(app: object) -> None:
    ws = app.state.site.ws_path
    with app.state.site.store.session() as db:
        acc.add_user(db, "leaving@example.org", "manager", community="healthy", password=PASSWORD)
    c = sign_in(app, "leaving@example.org")
    assert c.get("/api/communities/healthy/people").status_code == 200
    r = _covalue(
        "user", "role-remove", "leaving@example.org", "--role", "manager", "-c", "healthy", "-w", str(ws)
    )
    assert r.returncode == 0, r.stderr
    assert "leaving@example.org is no longer manager of healthy" in r.stdout
    assert c.get("/api/communities/healthy/people").status_code == 401  # the old session is gone
    assert c.get("/c/healthy").status_code == 303
    r = _covalue("user", "disable", "leaving@example.org", "-w", str(ws))
    assert r.returncode == 0 and "disabled" in r.stdout
    c2 = client(app)
    token = csrf_of(c2.get("/login").text)
    r2 = c2.post("/login", data={"email": "leaving@example.org", "password": PASSWORD, "csrf_token": token})
    assert r2.status_code == 401
    for cmd in ("enable", "sessions-end", "remove"):
        assert _covalue("user", cmd, "leaving@example.org", "-w", str(ws)).returncode == 0
    r = _covalue("user", "remove", "leaving@example.org", "-w", str(ws))
    assert r.returncode == 2 and "no account" in r.stderr and "Traceback" not in r.stderr
    # a command that needs the workspace's database says who holds it, in one line
    r = _covalue("status", "-w", str(ws))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "holds this workspace: use the web app, or stop it" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    with app.state.site.store.session() as db:
        actions = [
            e.action for e in db.scalars(select(AuditEvent).where(AuditEvent.subject.like("leaving@%")))
        ]
    assert {"account role removed (cli)", "account disabled (cli)", "account removed (cli)"} <= set(actions)


def test_revocation_on_the_accounts_page(app: object) -> None:
    with app.state.site.store.session() as db:
        acc.add_user(db, "temp@example.org", "champion", community="healthy", password=PASSWORD)
    victim = sign_in(app, "temp@example.org")
    assert victim.get("/c/healthy/people").status_code == 200
    admin = sign_in(app, "admin@example.org")
    page = admin.get("/admin").text
    assert 'name="action" value="role-remove"' in page
    token = csrf_of(page)
    r = admin.post(
        "/admin/users/revoke",
        data={
            "email": "temp@example.org",
            "action": "role-remove",
            "role": "champion",
            "community": "healthy",
            "csrf_token": token,
        },
    )
    assert r.status_code == 200 and "no longer champion of healthy" in r.text
    assert victim.get("/c/healthy/people").status_code == 303  # signed out
    r = admin.post(
        "/admin/users/revoke", data={"email": "temp@example.org", "action": "disable", "csrf_token": token}
    )
    assert r.status_code == 200 and "(disabled)" in r.text
    r = admin.post(
        "/admin/users/revoke", data={"email": "admin@example.org", "action": "remove", "csrf_token": token}
    )
    assert r.status_code == 400 and "cannot disable or remove your own account" in r.text
    r = admin.post(
        "/admin/users/revoke", data={"email": "temp@example.org", "action": "remove", "csrf_token": "x"}
    )
    assert r.status_code == 403
    with app.state.site.store.session() as db:
        events = db.scalars(select(AuditEvent).where(AuditEvent.subject.like("temp@%"))).all()
        assert {(e.email, e.action) for e in events} >= {
            ("admin@example.org", "account role removed"),
            ("admin@example.org", "account disabled"),
        }


def test_password_change_from_the_web_ends_the_other_sessions(app: object) -> None:
    with app.state.site.store.session() as db:
        acc.add_user(db, "changer@example.org", "sponsor", community="healthy", password=PASSWORD)
    laptop = sign_in(app, "changer@example.org")
    phone = sign_in(app, "changer@example.org")
    token = csrf_of(laptop.get("/account").text)
    new = "another long passphrase 42"
    r = laptop.post(
        "/account/password",
        data={"current": "not it", "password": new, "password2": new, "csrf_token": token},
    )
    assert r.status_code == 400 and "current password is not right" in r.text
    r = laptop.post(
        "/account/password",
        data={"current": PASSWORD, "password": new, "password2": new, "csrf_token": token},
    )
    assert r.status_code == 200 and "1 other session ended" in r.text
    assert phone.get("/c/healthy").status_code == 303  # the old session's next request is refused
    assert laptop.get("/c/healthy").status_code == 200  # the one making the change stays


# -- malformed requests and error pages ------------------------------------------------------------------
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options")


def test_malformed_input_is_a_400_with_headers_never_a_500(app: object) -> None:
    c = sign_in(app, "admin@example.org")
    h = {"X-CSRF-Token": api_csrf(c)}
    cases = [
        c.post(
            "/api/c/healthy/canvas/entries",
            content=b"{not json",
            headers={**h, "content-type": "application/json"},
        ),
        c.post(
            "/api/c/healthy/canvas/entries",
            content=b"\xff\xfe",
            headers={**h, "content-type": "application/json"},
        ),
        c.get(f"/api/c/healthy/canvas/entries/{2**63 + 5}/history"),
        c.get(f"/api/c/healthy/canvas/entries/{2**70}/history"),
        c.get("/api/communities/healthy/members/m%00x"),
    ]
    token = csrf_of(client(app).get("/login").text)
    anon = client(app)
    anon.get("/login")
    cases.append(
        anon.post(
            "/login",
            data={
                "email": "a\x00@example.org",
                "password": "x",
                "csrf_token": csrf_of(anon.get("/login").text),
            },
        )
    )
    for r in cases:
        assert r.status_code in (400, 401, 404, 422), (r.request.url, r.status_code, r.text[:200])
        assert all(k in r.headers for k in SECURITY_HEADERS), r.request.url
        assert "Traceback" not in r.text and "/work/" not in r.text and "sqlalchemy" not in r.text.lower()
    assert token


def test_error_pages_for_browsers_json_for_the_api_and_head(app: object) -> None:
    c = client(app)
    page = c.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text
    api = c.get("/api/no-such-thing", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json()["detail"]
    wrong = c.put("/login", headers={"Accept": "text/html"})
    assert wrong.status_code == 405 and wrong.headers["content-type"].startswith("text/html")
    assert c.put("/api/me").status_code == 405 and c.put("/api/me").json()["detail"]
    head = c.head("/login")
    assert head.status_code == 200 and head.content == b"" and "x-frame-options" in head.headers
    assert c.head("/static/style.css").status_code == 200


def test_failed_upload_leaves_no_community_and_says_why_plainly(upload_app: object) -> None:
    site = upload_app.state.site
    c = sign_in(upload_app, "admin@example.org")
    before = set(site.snapshot().names)
    broken = _zip(
        {
            "channels.json": b'[{"id": "C1", "name": "general"}]',
            "users.json": b"[",
            "general/2020-01-01.json": b"{oops",
        }
    )
    r = c.post(
        "/api/uploads",
        files={"file": ("broken.zip", broken, "application/zip")},
        headers={"X-CSRF-Token": api_csrf(c)},
    )
    job = _wait(c, r.json()["id"])
    assert job["state"] in ("failed", "done"), job
    error = job["error"] or ""
    assert str(site.ws_path) not in error and "uploads/" not in error and "Error: " not in error
    with site.lock:
        names = {cid for (cid,) in site.ws.raw.execute("SELECT community_id FROM communities").fetchall()}
        filled = {
            cid
            for (cid,) in site.ws.raw.execute(
                "SELECT DISTINCT community_id FROM spaces UNION SELECT DISTINCT community_id FROM items"
            ).fetchall()
        }
    assert names - before <= filled  # nothing new without content


def test_plain_job_errors_and_private_files(upload_app: object) -> None:
    from covalue.web.uploads import plain_error

    site = upload_app.state.site
    raw = (
        f"Conversion Error: Could not convert string 'x' to INT64 in {site.upload_dir()}/abc/export.zip\n"
        f"{site.ws_path}/scratch/a.json: 3 lines without a sender\n"
        "Out of Memory Error: failed to allocate data of size 2.0 GiB"
    )
    said = plain_error(raw, site, "abc")
    assert str(site.ws_path) not in said and "Conversion Error" not in said and "INT64" not in said
    assert "scratch/a.json: 3 lines without a sender" in said and "more memory" in said
    for name in ("covalue.duckdb", "store.sqlite"):
        path = site.ws_path / name
        if path.exists():
            assert path.stat().st_mode & 0o777 == 0o600, name
    assert site.upload_dir().stat().st_mode & 0o077 == 0


def test_canvas_role_entries_take_only_members_of_the_same_community(app: object) -> None:
    admin = sign_in(app, "admin@example.org")
    ours = {p["member_id"] for p in admin.get("/api/communities/healthy/people").json()}
    theirs = next(
        p["member_id"]
        for p in admin.get("/api/communities/dying/people").json()
        if p["member_id"] not in ours
    )
    h = {"X-CSRF-Token": api_csrf(admin)}
    r = admin.post("/api/c/healthy/canvas/entries", json={"kind": "champion", "member_id": theirs}, headers=h)
    assert r.status_code == 400 and "not members of this community" in r.json()["detail"]
    r = admin.post(
        "/api/c/healthy/canvas/entries", json={"kind": "champion", "member_id": next(iter(ours))}, headers=h
    )
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    r = admin.patch(
        f"/api/c/healthy/canvas/entries/{eid}",
        json={"version": r.json()["version"], "changes": {"member_id": theirs}},
        headers=h,
    )
    assert r.status_code == 400 and "not members of this community" in r.json()["detail"]


def _items_csv(months: range, per_month: int = 40) -> bytes:
    """Items in the tabular CSV contract, ``per_month`` in each month of 2025 listed: a question opens a
    thread every fourth row and someone else answers it."""
    rows = ["item_id,space_id,author_id,created_at,kind,title,text,parent_id,thread_id"]
    for m in months:
        for k in range(per_month):
            n, at = m * 1000 + k, f"2025-{m:02d}-{1 + k % 27:02d}T10:{k % 60:02d}:00+00:00"
            if k % 4 == 0:
                rows.append(f"{n},help,p{k % 7},{at},question,How do I set up the {k} tool?,Any advice?,,{n}")
            else:
                root = m * 1000 + k - k % 4
                rows.append(
                    f"{n},help,p{(k + 3) % 7},{at},answer,,Install it with the setup guide.,{root},{root}"
                )
    return ("\n".join(rows) + "\n").encode()


def test_an_upload_into_a_workspace_that_updates_is_analysed_in_one_go(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A workspace large enough for updates (here: any size) analyses the second upload incrementally,
    inside the transaction in which the web app analyses every upload."""
    path = tmp_path_factory.mktemp("updating") / "ws"
    covalue.init(path).close()
    toml = path / "covalue.toml"
    toml.write_text(re.sub(r"(?m)^update_from_actions = \d+", "update_from_actions = 0", toml.read_text()))
    store = Store.open(path)
    with store.session() as db:
        acc.add_user(db, "admin@example.org", "admin", password=PASSWORD)
    store.dispose()
    app = create_app(path, limits=Limits(max_upload_bytes=2_000_000))
    try:
        c = sign_in(app, "admin@example.org")
        modes = []
        for name, months in (("first.csv", range(1, 11)), ("second.csv", range(11, 13))):
            r = c.post(
                "/api/uploads",
                data={"community": "helpdesk"},
                files={"file": (name, _items_csv(months), "text/csv")},
                headers={"X-CSRF-Token": api_csrf(c)},
            )
            assert r.status_code == 202, r.text
            job = _wait(c, r.json()["id"], seconds=120)
            assert job["state"] == "done", job
            modes.append(job["summary"]["analysis"]["mode"])
        assert modes[0].startswith("full") and modes[1].startswith("incremental"), modes
    finally:
        app.state.site.close()
