"""The communities-and-spaces page: an administrator moves a space into a community of its own, the
workspace is analysed again and every page then shows it; nobody else may, and the form needs CSRF."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from covalue.testing import sign_in, synthetic_site
from covalue.web.app import create_app

PASSWORD = "a long test password"
ADMIN, MANAGER = "admin@example.org", "manager@example.org"


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "the page has no CSRF field"
    return m.group(1)


def test_an_administrator_sets_a_space_apart_as_a_community(tmp_path: Path) -> None:
    ws = synthetic_site(
        tmp_path / "ws", ADMIN, PASSWORD, role="admin", others=((MANAGER, "manager", "healthy"),)
    )
    app = create_app(ws)
    try:
        admin, manager = TestClient(app), TestClient(app)
        sign_in(admin, ADMIN, PASSWORD)
        sign_in(manager, MANAGER, PASSWORD)
        assert manager.get("/admin/communities").status_code == 403
        page = admin.get("/admin/communities")
        assert page.status_code == 200 and 'value="synth:healthy:ideas"' in page.text
        assert 'href="/admin/communities"' in admin.get("/admin").text
        form = {"space": ["synth:healthy:ideas"], "to": "ideas-lab", "name": "Ideas Lab"}
        assert admin.post("/admin/communities/move", data=form).status_code == 403  # no CSRF token
        assert (
            manager.post(
                "/admin/communities/move", data={**form, "csrf_token": _csrf(manager.get("/").text)}
            ).status_code
            == 403
        )
        done = admin.post("/admin/communities/move", data={**form, "csrf_token": _csrf(page.text)})
        assert done.status_code == 200, done.text[:500]
        assert "1 space moved to Ideas Lab" in done.text and "analysed again" in done.text
        # the new community has its own results on every page, the space is no longer healthy's
        site = app.state.site
        assert site.snapshot().names.get("ideas-lab") == "Ideas Lab"
        assert "ideas-lab" in site.snapshot().communities
        with site.reader() as w:
            assert w.raw.execute(
                "SELECT DISTINCT community_id FROM items WHERE space_id = 'synth:healthy:ideas'"
            ).fetchall() == [("ideas-lab",)]
            assert w.raw.execute(
                "SELECT count(*) FROM stage_mix WHERE community_id = 'ideas-lab'"
            ).fetchone()[0]
        assert admin.get("/c/ideas-lab").status_code == 200
        bad = admin.post(
            "/admin/communities/move", data={"space": ["nowhere"], "to": "x", "csrf_token": _csrf(page.text)}
        )
        assert bad.status_code == 400 and "no space is called" in bad.text
    finally:
        app.state.site.close()
